-- Credentials: OAuth connect states (single-use, expiring), the vault's key registry, and the
-- bookkeeping of token refreshes. Released migrations are never edited; add a new file instead.

-- One row per started connect. The state itself is never stored, only its SHA-256; the PKCE
-- verifier is stored encrypted (bound to the state's hash).
CREATE TABLE mcp.oauth_states (
    state_hash       bytea PRIMARY KEY,
    integration_id   uuid NOT NULL REFERENCES core.integrations (id) ON DELETE CASCADE,
    workspace_id     uuid NOT NULL,
    platform         text NOT NULL,
    redirect_uri     text NOT NULL,
    pkce_verifier_ct bytea,
    key_id           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    used_at          timestamptz
);
CREATE INDEX oauth_states_expires ON mcp.oauth_states (expires_at);
ALTER TABLE mcp.oauth_states ENABLE ROW LEVEL SECURITY;
CREATE POLICY workspace_isolation ON mcp.oauth_states TO mcp_workspace_member
    USING (workspace_id = core.current_workspace_id());

-- The keys the vault has seen, so that key age (the 90-day rotation policy) is known to every
-- daemon and to SQL users. Key material never enters the database.
CREATE TABLE mcp.vault_keys (
    key_id        text PRIMARY KEY,
    first_seen_at timestamptz NOT NULL DEFAULT now()
);

-- Which key encrypted each stored secret is already recorded per row (key_id); webhooks too.
CREATE INDEX oauth_tokens_key ON mcp.oauth_tokens (key_id);
CREATE INDEX webhooks_key ON mcp.webhooks (key_id) WHERE secret_ct IS NOT NULL;

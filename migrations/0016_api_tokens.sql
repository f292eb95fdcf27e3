-- Workspace API tokens: bearer tokens of the management API (the admin listener) that act in one
-- workspace only, beside the gateway's `[http] api_token`, which acts for every workspace.
-- Released migrations are never edited; add a new numbered file.
--
-- Only a token's SHA-256 is kept: the token itself (`mcpw_` and 43 base64url characters, from
-- 32 random bytes) is printed once by `mcp-worker tokens create` and never stored, logged or
-- shown again. A revoked token is refused (401) from the next request on; its row stays, so
-- `tokens list` can say when it was revoked. Deleting a workspace deletes its tokens.

CREATE TABLE mcp.api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES core.workspaces (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(btrim(name)) > 0),
    token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);
CREATE INDEX api_tokens_workspace ON mcp.api_tokens (workspace_id);

COMMENT ON TABLE mcp.api_tokens IS
    'Bearer tokens of the management API scoped to one workspace; only their SHA-256 is stored.';

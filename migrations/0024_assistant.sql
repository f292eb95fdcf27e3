-- The assistant's server (MCP, docs/MCP.md): the role its tools run as, under row-level
-- security for one workspace, and its tokens. Released migrations are never edited; add a new
-- numbered file.

-- mcp_assistant: the role the daemon's MCP tools SET LOCAL ROLE to, in a transaction that names
-- its workspace in the setting mcp.workspace_id. It has a member's rights (it is a member of
-- mcp_workspace_member, so the workspace_isolation policies apply to it) and no login. Nobody is
-- made a member of it but the role that runs this migration (the daemon's): a member's login
-- role cannot SET ROLE to it, so the setting, which any session may change, decides a
-- workspace only for the daemon's own tool transactions (docs/ARCHITECTURE.md, "Who gets a SQL
-- session").
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mcp_assistant') THEN
        CREATE ROLE mcp_assistant NOLOGIN;
    END IF;
    IF NOT pg_has_role(current_user, 'mcp_assistant', 'MEMBER') THEN
        EXECUTE format('GRANT mcp_assistant TO %I', current_user);
    END IF;
END $$;
GRANT mcp_workspace_member TO mcp_assistant;

-- A member's workspace is its role's mapping (0014); the assistant's is the one its
-- transaction names. Checked by role name, not membership: a role that merely holds
-- mcp_assistant's rights (the daemon's, or a superuser) is not acting as it.
CREATE OR REPLACE FUNCTION core.current_workspace_id() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN current_user = 'mcp_assistant'
                THEN NULLIF(current_setting('mcp.workspace_id', true), '')::uuid
                ELSE (SELECT CASE WHEN count(DISTINCT w.workspace_id) = 1
                                  THEN (array_agg(w.workspace_id))[1] END
                      FROM core.my_workspaces w) END
$$;

-- Tokens of the MCP server: one workspace each. Only the SHA-256 is kept; the token (`mcpt_`
-- and 43 base64url characters, 32 random bytes) is printed once by `mcp-worker mcp token
-- create`. `scopes`: `read` (the reading tools) and `sync` (request_sync). A token past
-- `expires_at` or revoked is refused (401). `last_used_at` is written at most once a minute.
CREATE TABLE mcp.mcp_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES core.workspaces (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(btrim(name)) > 0),
    token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    scopes       text[] NOT NULL DEFAULT '{read,sync}'
                 CHECK (scopes <@ '{read,sync}' AND cardinality(scopes) > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    CHECK (expires_at IS NULL OR expires_at > created_at),
    CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);
CREATE INDEX mcp_tokens_workspace ON mcp.mcp_tokens (workspace_id);

COMMENT ON TABLE mcp.mcp_tokens IS
    'Bearer tokens of the MCP server (POST /mcp), one workspace each; only their SHA-256 is stored.';

-- What list_integrations shows: each integration of the workspace with its health, breaker,
-- last sync, token expiry and its last error. security_invoker: row-level security applies.
CREATE VIEW mcp.assistant_integrations WITH (security_invoker = true) AS
SELECT i.id AS integration_id, i.platform, i.external_account_id AS account, i.display_name,
       i.state, i.state_reason, i.health_status, i.last_health_check,
       i.circuit_breaker_state, i.consecutive_failures, i.last_synced_at,
       t.expires_at AS token_expires_at,
       e.error_type AS last_error_type, e.message AS last_error_message,
       e.http_status AS last_error_http_status, e.occurred_at AS last_error_at
FROM core.integrations i
LEFT JOIN mcp.oauth_tokens t ON t.integration_id = i.id
LEFT JOIN LATERAL (
    SELECT x.error_type, x.message, x.http_status, x.occurred_at
    FROM mcp.integration_errors x
    WHERE x.integration_id = i.id
    ORDER BY x.occurred_at DESC
    LIMIT 1
) e ON true
WHERE i.state <> 'DELETED';
GRANT SELECT ON mcp.assistant_integrations TO mcp_workspace_member;

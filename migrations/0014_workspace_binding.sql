-- Who a member's SQL session acts for, bound to something the session cannot forge; what a
-- member may change; and the browser that started a connect. Released migrations are never
-- edited; add a new file instead.

-- A role's workspace. Until now row-level security keyed on the session setting
-- mcp.workspace_id, which any session may SET to another workspace's id. A member's workspace is
-- now the one its role is mapped to here: a row only the tables' owner (or a superuser) writes.
-- Members have no privilege on this table at all.
CREATE TABLE core.workspace_roles (
    role_name    name PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES core.workspaces (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workspace_roles_workspace ON core.workspace_roles (workspace_id);

-- The workspaces whose mapped role the current role holds the privileges of (itself, or a role
-- it inherits from). A view runs with its owner's rights on the table, while current_user inside
-- it is still the caller, so a member reads its own mapping and nothing else. A mapped role that
-- was dropped or renamed maps nothing (the join on pg_roles).
CREATE VIEW core.my_workspaces AS
SELECT r.workspace_id
FROM core.workspace_roles r
JOIN pg_catalog.pg_roles g ON g.rolname = r.role_name
WHERE pg_catalog.pg_has_role(g.oid, 'USAGE');

-- Every workspace_isolation policy calls this; the setting is no longer read. A role that holds
-- the mappings of two workspaces is ambiguous and sees nothing until it SETs ROLE to one of them.
CREATE OR REPLACE FUNCTION core.current_workspace_id() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN count(DISTINCT w.workspace_id) = 1
                THEN (array_agg(w.workspace_id))[1] END
    FROM core.my_workspaces w
$$;

GRANT SELECT ON core.my_workspaces TO mcp_workspace_member;

-- Each policy asks once per statement, not once per row: the call is wrapped in a sub-select,
-- which the planner runs once (an init plan).
DO $$
DECLARE
    p record;
    col text;
BEGIN
    FOR p IN SELECT schemaname, tablename, with_check IS NOT NULL AS checks
             FROM pg_policies WHERE policyname = 'workspace_isolation'
    LOOP
        col := CASE WHEN p.tablename = 'workspaces' THEN 'id' ELSE 'workspace_id' END;
        EXECUTE format('ALTER POLICY workspace_isolation ON %I.%I USING (%I = (SELECT core.current_workspace_id()))',
                       p.schemaname, p.tablename, col);
        IF p.checks THEN
            EXECUTE format('ALTER POLICY workspace_isolation ON %I.%I WITH CHECK (%I = (SELECT core.current_workspace_id()))',
                           p.schemaname, p.tablename, col);
        END IF;
    END LOOP;
END $$;

-- Members change only what is theirs to say: a name, the sync settings, and the state (through
-- mcp.transition_integration_state; the state machine's trigger still checks every move). The
-- account id, health, breaker, scopes, cursor and webhook link are the daemon's: an account id
-- squatted by hand would refuse another customer's connect or take their events.
REVOKE INSERT, UPDATE ON core.integrations FROM mcp_workspace_member;
GRANT INSERT (workspace_id, platform, display_name, settings) ON core.integrations
      TO mcp_workspace_member;
GRANT UPDATE (display_name, settings, state, state_reason) ON core.integrations
      TO mcp_workspace_member;

-- The browser that started a connect: the SHA-256 of a random value set as a cookie on the
-- redirect (or of a binding value the application in front passed); the callback must present it.
ALTER TABLE mcp.oauth_states ADD COLUMN binding_hash bytea;

-- An integration of an app-level platform (Slack, Zoom, Discord, Notion, Gmail: mcp_platforms::
-- accounts::APP_LEVEL, which tests/it/webhooks/app_level.rs holds equal to the list below) is
-- routed events from `/webhooks/{platform}` by its `external_account_id`. The daemon makes its
-- route when it stores the account at connect; an account set any other way (an import by SQL)
-- made none, so that account's events were answered `{"routed": false}` and dropped. The route
-- is now made wherever the account is set. Released migrations are never edited; add a new
-- numbered file.
CREATE FUNCTION mcp.app_route_for_account() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO mcp.webhooks (integration_id, workspace_id, platform, delivery, created_by)
    VALUES (NEW.id, NEW.workspace_id, NEW.platform, 'app', 'daemon')
    ON CONFLICT (integration_id) WHERE delivery = 'app' DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER integrations_app_route
    AFTER INSERT OR UPDATE OF external_account_id ON core.integrations
    FOR EACH ROW
    WHEN (NEW.external_account_id IS NOT NULL
          AND NEW.platform IN ('slack', 'zoom', 'discord', 'notion', 'gmail'))
    EXECUTE FUNCTION mcp.app_route_for_account();

-- The integrations imported before this one.
INSERT INTO mcp.webhooks (integration_id, workspace_id, platform, delivery, created_by)
SELECT i.id, i.workspace_id, i.platform, 'app', 'daemon'
FROM core.integrations i
WHERE i.external_account_id IS NOT NULL
  AND i.platform IN ('slack', 'zoom', 'discord', 'notion', 'gmail')
  AND NOT EXISTS (SELECT 1 FROM mcp.webhooks w
                  WHERE w.integration_id = i.id AND w.delivery = 'app');

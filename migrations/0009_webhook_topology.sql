-- Webhooks as the platforms deliver them. Released migrations are never edited; add a new
-- numbered file.
--
-- 1. The account each integration is connected to (`core.integrations.external_account_id`,
--    written at connect: a Slack team, a Zoom account, a Gmail address, …) is unique per
--    platform among the integrations that hold a grant (`core.state_revocable`): the app-level
--    intake routes an event to exactly one integration by the account it names.
-- 2. `mcp.webhooks.delivery`: 'endpoint' is a URL of its own, /webhooks/{platform}/{id}, with
--    its own secret; 'app' is an integration's route from the app-level URL /webhooks/{platform},
--    verified with the app's secret from the config and found by the account in the event.
-- 3. `mcp.webhooks.created_by`: 'daemon' for a subscription the daemon made at the platform at
--    connect (Gmail watch, Graph subscription, Monday board webhook) and removes at disconnect;
--    'operator' for one registered by a person (CLI, HTTP). `settings` says what the subscription
--    watches (the Monday board, the Graph resource) without any secret.

CREATE UNIQUE INDEX integrations_live_account
    ON core.integrations (platform, external_account_id)
    WHERE external_account_id IS NOT NULL AND core.state_revocable(state);

ALTER TABLE mcp.webhooks
    ADD COLUMN delivery   text NOT NULL DEFAULT 'endpoint' CHECK (delivery IN ('endpoint', 'app')),
    ADD COLUMN created_by text NOT NULL DEFAULT 'operator' CHECK (created_by IN ('operator', 'daemon')),
    ADD COLUMN settings   jsonb NOT NULL DEFAULT '{}'::jsonb;

-- One app route per integration.
CREATE UNIQUE INDEX webhooks_app_route ON mcp.webhooks (integration_id) WHERE delivery = 'app';

-- What an operator reads: every webhook with its integration's account and state, no secret.
CREATE VIEW mcp.webhook_overview WITH (security_invoker = true) AS
SELECT w.id, w.integration_id, w.workspace_id, w.platform, w.delivery, w.created_by, w.status,
       w.external_id, w.expires_at, w.last_event_at, w.created_at, w.settings,
       (w.secret_ct IS NOT NULL) AS has_secret,
       i.external_account_id, i.state AS integration_state
FROM mcp.webhooks w JOIN core.integrations i ON i.id = w.integration_id;
GRANT SELECT ON mcp.webhook_overview TO mcp_workspace_member;

-- Webhook verification gaps. Released migrations are never edited; add a new numbered file.
--
-- 1. Dedup keys kept longer than events. The platforms whose deliveries carry no signed time
--    (Outlook, Notion, Fireflies, Otter, Loom, Granola, ZeroVoice: `mcp_platforms::webhooks::
--    UNTIMED`) sign the body or the URL alone, so a captured delivery verifies forever: once its
--    event row was pruned (`retention.webhook_events`), a replay would be taken as new. The
--    intake records the SHA-256 of each such event's dedup key here, in the statement that
--    stores the event, and stores an event only when its key was not seen before; `prune`
--    deletes these rows after `retention.webhook_dedup` (400 days by default), far longer than
--    the events. No foreign key: a webhook row is deleted only when its subscription was never
--    made, and a key naming a gone webhook only waits for its prune.
-- 2. `mcp.webhooks.secret_in_url`: the webhook's sealed secret is the last segment of its URL,
--    /webhooks/{platform}/{id}/{secret}, and the platform's signature is checked with the app's
--    secret. Monday signs board webhooks with the app's signing secret, the same for every
--    customer, and `create_webhook` takes no secret of its own
--    (https://developer.monday.com/apps/docs/integration-authorization,
--    https://developer.monday.com/api-reference/reference/webhooks): the daemon gives each
--    board webhook it makes an unguessable URL secret instead, so that the app's secret alone
--    cannot forge a customer's events. Monday board webhooks made before this migration have
--    none: their deliveries are refused until `webhook_subscribe` replaces them, which the end
--    of this migration enqueues for every Monday integration that has one.

CREATE TABLE mcp.webhook_dedup (
    webhook_id uuid        NOT NULL,
    key_sha256 bytea       NOT NULL,
    platform   text        NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (webhook_id, key_sha256)
);
CREATE INDEX webhook_dedup_first_seen ON mcp.webhook_dedup (first_seen);

-- The events stored until now keep their keys after they are pruned.
INSERT INTO mcp.webhook_dedup (webhook_id, key_sha256, platform, first_seen)
SELECT webhook_id, sha256(convert_to(dedup_key, 'UTF8')), platform, received_at
FROM mcp.webhook_events
WHERE platform IN ('outlook', 'notion', 'fireflies', 'otter', 'loom', 'granola', 'zerovoice')
ON CONFLICT DO NOTHING;

ALTER TABLE mcp.webhooks ADD COLUMN secret_in_url boolean NOT NULL DEFAULT false;

-- The overview shows which webhooks carry their secret in their URL (appended: a view's
-- columns keep their order).
CREATE OR REPLACE VIEW mcp.webhook_overview WITH (security_invoker = true) AS
SELECT w.id, w.integration_id, w.workspace_id, w.platform, w.delivery, w.created_by, w.status,
       w.external_id, w.expires_at, w.last_event_at, w.created_at, w.settings,
       (w.secret_ct IS NOT NULL) AS has_secret,
       i.external_account_id, i.state AS integration_state,
       w.secret_in_url
FROM mcp.webhooks w JOIN core.integrations i ON i.id = w.integration_id;

-- The Monday board webhooks made before: their integrations' subscriptions are made again (new
-- webhooks with URL secrets; the old ones deleted at Monday), by any daemon, once.
SELECT mcp.enqueue_job('webhook_subscribe', jsonb_build_object('integration_id', i.id),
                       unique_key => 'webhook_subscribe:' || i.id, integration_id => i.id)
FROM core.integrations i
WHERE i.platform = 'monday' AND core.state_subscribed(i.state)
  AND EXISTS (SELECT 1 FROM mcp.webhooks w
              WHERE w.integration_id = i.id AND w.created_by = 'daemon' AND w.status <> 'disabled'
                AND NOT w.secret_in_url);

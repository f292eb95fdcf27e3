-- Webhook intake: what `POST /webhooks/{platform}/{webhook_id}` needs beyond 0002.
-- Released migrations are never edited; add a new numbered file instead.

-- Discord signs deliveries with the application's Ed25519 key: the verifier needs the public
-- key (hex, 32 bytes). It is not a secret, so it is stored in clear. (Outlook's clientState is
-- a shared secret and is sealed in secret_ct like every other webhook secret.)
ALTER TABLE mcp.webhooks ADD COLUMN public_key text
    CHECK (public_key IS NULL OR public_key ~ '^[0-9a-f]{64}$');

-- The SHA-256 of the raw body as received, for audits and for the deliveries deduplicated by it.
ALTER TABLE mcp.webhook_events ADD COLUMN body_sha256 bytea;

-- Unprocessed events of one webhook, for the processing jobs and the dashboards.
CREATE INDEX webhook_events_webhook_unprocessed ON mcp.webhook_events (webhook_id, received_at)
    WHERE processed_at IS NULL;

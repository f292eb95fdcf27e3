-- Remove at the platform the subscriptions of integrations revoked while some remained, and
-- delete their tokens (a takeover enqueues this itself; a live integration's job is discarded).
SELECT mcp.enqueue_job('webhook_unsubscribe', jsonb_build_object('integration_id', i.id),
                       unique_key => 'webhook_unsubscribe:' || i.id)
FROM core.integrations i
WHERE i.state = 'REVOKED'
  AND EXISTS (SELECT 1 FROM mcp.webhooks w WHERE w.integration_id = i.id
              AND w.created_by = 'daemon' AND w.status <> 'disabled');

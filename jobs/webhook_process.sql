-- Process again every Slack event received in the last hour that is still unprocessed (the
-- intake enqueues one job per stored event; this is for events whose job was cancelled).
SELECT mcp.enqueue_job('webhook_process',
                       jsonb_build_object('event_id', e.id),
                       unique_key => 'webhook_process:' || e.id)
FROM mcp.webhook_events e
WHERE e.platform = 'slack' AND e.processed_at IS NULL
  AND e.received_at > now() - interval '1 hour';

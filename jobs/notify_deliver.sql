-- Deliver the newest notification again to every enabled endpoint that wanted it (a receiver
-- dedupes by webhook-id, which is the notification's id); a discarded delivery is replayed with
-- mcp.retry_job(id).
SELECT mcp.enqueue_job('notify_deliver',
                       jsonb_build_object('notification_id', n.id, 'endpoint_id', e.id))
FROM (SELECT id, workspace_id FROM mcp.notifications ORDER BY created_at DESC LIMIT 1) n
JOIN mcp.notification_endpoints e
  ON e.enabled AND (e.workspace_id IS NULL OR e.workspace_id = n.workspace_id);

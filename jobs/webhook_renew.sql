-- Renew every Gmail and Outlook subscription that expires within two days, now.
SELECT mcp.enqueue_job('webhook_renew', jsonb_build_object('webhook_id', w.id),
                       unique_key => 'webhook_renew:' || w.id)
FROM mcp.webhooks w
WHERE w.platform IN ('gmail', 'outlook') AND w.expires_at < now() + interval '2 days';

-- Make the subscriptions again for every live Gmail, Outlook and Monday integration (after
-- setting webhooks.gmail_topic or webhooks.public_base, or adding boards): existing ones are kept.
SELECT mcp.enqueue_job('webhook_subscribe', jsonb_build_object('integration_id', i.id),
                       unique_key => 'webhook_subscribe:' || i.id)
FROM core.integrations i
WHERE i.platform IN ('gmail', 'outlook', 'monday') AND core.state_subscribed(i.state);

-- Look for subscriptions expiring within a day and renew them now.
SELECT mcp.enqueue_job('webhook_renew_sweep', '{"ahead_s": 86400}');

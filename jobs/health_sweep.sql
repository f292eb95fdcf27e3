-- Sweep now, all checks due at once (the cron schedule does this every 6 hours).
SELECT mcp.enqueue_job('health_sweep', '{"spread_s": 0}');

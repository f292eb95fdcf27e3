-- Sweep now, all due syncs at once (the cron schedule does this every 5 minutes).
SELECT mcp.enqueue_job('sync_sweep', '{"spread_s": 0}');

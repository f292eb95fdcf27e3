-- Sweep now, all due reconciles at once (the cron schedule does this every hour).
SELECT mcp.enqueue_job('reconcile_sweep', '{"spread_s": 0}');

-- Prune now with the configured retention ages.
SELECT mcp.enqueue_job('prune');

-- Prune completed jobs older than one hour, at most one prune waiting at a time.
SELECT mcp.enqueue_job('prune', '{"completed_older_than_s": 3600}', unique_key => 'manual-prune');

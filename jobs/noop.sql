-- Enqueue a noop that sleeps 50 ms and fails its first attempt.
SELECT mcp.enqueue_job('noop', '{"sleep_ms": 50, "fail_times": 1}');

-- The same with a plain INSERT (every other column has a default).
INSERT INTO mcp.sync_jobs (kind, payload) VALUES ('noop', '{"sleep_ms": 50}');

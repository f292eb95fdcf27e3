-- Sweep now for tokens that expire within 24 hours.
SELECT mcp.enqueue_job('token_refresh_sweep', '{"ahead_s": 86400}');

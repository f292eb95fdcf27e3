-- Check one integration now (the sweep does this for every integration in service).
SELECT mcp.enqueue_job('health_check',
                       jsonb_build_object('integration_id', i.id),
                       unique_key => 'health_check:' || i.id)
FROM core.integrations i
WHERE i.platform = 'slack' AND core.state_in_service(i.state);

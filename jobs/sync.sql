-- Sync one integration now (the sweep does this for every integration due).
SELECT mcp.enqueue_job('sync',
                       jsonb_build_object('integration_id', i.id),
                       unique_key => 'sync:' || i.id)
FROM core.integrations i
WHERE i.platform = 'notion' AND core.state_synced(i.state);

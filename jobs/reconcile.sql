-- Reconcile one integration now (the sweep does this weekly for every integration).
SELECT mcp.enqueue_job('reconcile',
                       jsonb_build_object('integration_id', i.id),
                       unique_key => 'reconcile:' || i.id)
FROM core.integrations i
WHERE i.platform = 'notion' AND core.state_synced(i.state);

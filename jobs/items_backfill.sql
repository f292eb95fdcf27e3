-- Model every stored item again (after changing [items.<platform>] text, say); one live pass.
SELECT mcp.enqueue_job('items_backfill', '{"all": true}', unique_key => 'items_backfill');

-- Where the pass is.
SELECT version, all_rows, modelled, started_at, finished_at FROM mcp.items_backfill;

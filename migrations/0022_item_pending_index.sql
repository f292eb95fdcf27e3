-- no-transaction
-- The items whose content is still to fetch, per integration (the sync's content step reads
-- them after every page). Small: an item leaves it once fetched. Built without blocking writes
-- (see 0019 for a failed build). Released migrations are never edited; add a new numbered file.
CREATE INDEX CONCURRENTLY IF NOT EXISTS synced_items_pending
    ON mcp.synced_items (integration_id, external_id)
    WHERE content_state = 'pending' AND deleted_at IS NULL;

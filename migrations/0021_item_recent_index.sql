-- no-transaction
-- A workspace's items newest first (mcp.search_items without words), in the search's own order
-- so that a page is read off the index. Built without blocking writes (see 0019 for a failed
-- build). Released migrations are never edited; add a new numbered file.
CREATE INDEX CONCURRENTLY IF NOT EXISTS synced_items_recent
    ON mcp.synced_items (workspace_id, occurred_at DESC NULLS LAST, integration_id DESC,
                         external_id DESC)
    WHERE deleted_at IS NULL;

-- no-transaction
-- A thread's items in order (mcp.thread_items). Built without blocking writes (see 0019 for a
-- failed build). Released migrations are never edited; add a new numbered file.
CREATE INDEX CONCURRENTLY IF NOT EXISTS synced_items_thread
    ON mcp.synced_items (integration_id, thread, occurred_at) WHERE thread IS NOT NULL;

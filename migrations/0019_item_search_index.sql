-- no-transaction
-- The search index of mcp.search_items (0018): the workspace and the words in one GIN index
-- (btree_gin, migration 0017), so that a workspace's matches are found inside the index rather
-- than among every workspace's. Built without blocking writes; one statement, since a
-- concurrent build cannot share a transaction with anything (sqlx runs this file outside one).
-- A build that fails leaves an INVALID index of this name: drop it (DROP INDEX CONCURRENTLY)
-- and delete this version's row from _sqlx_migrations before starting again. Released
-- migrations are never edited; add a new numbered file.
CREATE INDEX CONCURRENTLY IF NOT EXISTS synced_items_search
    ON mcp.synced_items USING gin (workspace_id, search) WHERE deleted_at IS NULL;

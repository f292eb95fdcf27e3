-- no-transaction
-- The check of content_state added NOT VALID by 0017, validated for the rows older than it:
-- a scan under SHARE UPDATE EXCLUSIVE, which lets reads and writes go on (0017 could not do it:
-- its ADD COLUMN holds the table's ACCESS EXCLUSIVE lock until it commits). Released
-- migrations are never edited; add a new numbered file.
ALTER TABLE mcp.synced_items VALIDATE CONSTRAINT synced_items_content_state_is_known;

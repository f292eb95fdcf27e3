-- The change feed reads one item's changes in the order they were made. The feed sorts by the
-- writer's transaction id (see 0012), and transaction ids are taken when a transaction first
-- writes, not when it commits: a transaction that took its id first, then waited for a younger
-- one holding the same item (a tombstone), then brought the item back, sorted before the
-- tombstone, so that a reader applying the changes in order ended with the item deleted. Released
-- migrations are never edited; add a new numbered file.
--
-- Each item now keeps the feed position of its last change (`change_txid`), and a change of it
-- is placed at the greater of its writer's transaction id and that position. A later change of
-- an item waits for the earlier one's row lock, so it reads the position the earlier one
-- committed and sorts after it. The feed's guarantees hold for any position not below the
-- writer's own id: a change is shown once every transaction with an id up to its position has
-- ended. (An item removed with a plain DELETE keeps no position: one stored again by a
-- transaction older than the DELETE's may be read before it. Tombstones keep the order.)

ALTER TABLE mcp.synced_items ADD COLUMN change_txid xid8;
COMMENT ON COLUMN mcp.synced_items.change_txid IS
    'The change feed position of the item''s last change (mcp.changes sorts by it).';

-- Every writer but the daemon (whose statements set the column themselves).
CREATE FUNCTION mcp.item_change_position() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.change_txid := greatest(OLD.change_txid, pg_current_xact_id());
    ELSE
        NEW.change_txid := pg_current_xact_id();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER synced_items_change_position
    BEFORE INSERT OR UPDATE ON mcp.synced_items
    FOR EACH ROW
    WHEN (current_setting('mcp.item_changes', true) IS DISTINCT FROM 'written')
    EXECUTE FUNCTION mcp.item_change_position();

-- One change row of one item, at its feed position; returns the item's workspace.
CREATE FUNCTION mcp.record_item_change(p_workspace_id uuid, p_integration_id uuid, p_op "char",
                                       p_external_id text, p_position xid8)
RETURNS uuid LANGUAGE sql AS $$
    INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids, txid)
    VALUES (p_workspace_id, p_integration_id, p_op, ARRAY[p_external_id], p_position)
    RETURNING workspace_id
$$;

-- The capture trigger of 0017, each change placed at its item's position: what the old row
-- was (removed, or moved to another key) and what the new one is (added, tombstoned, changed).
CREATE OR REPLACE FUNCTION mcp.capture_item_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_ws  uuid;  -- the workspace of a change written, if any
    moved boolean := TG_OP = 'UPDATE'
        AND (OLD.integration_id, OLD.external_id) IS DISTINCT FROM (NEW.integration_id, NEW.external_id);
BEGIN
    IF (TG_OP = 'DELETE' OR moved) AND OLD.deleted_at IS NULL THEN
        v_ws := mcp.record_item_change(OLD.workspace_id, OLD.integration_id, 'D', OLD.external_id,
                                       greatest(OLD.change_txid, pg_current_xact_id()));
    END IF;
    IF TG_OP = 'INSERT' OR moved THEN
        IF NEW.deleted_at IS NULL THEN
            v_ws := mcp.record_item_change(NEW.workspace_id, NEW.integration_id, 'A',
                                           NEW.external_id, NEW.change_txid);
        END IF;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.deleted_at IS NOT NULL THEN
            IF OLD.deleted_at IS NULL THEN
                v_ws := mcp.record_item_change(NEW.workspace_id, NEW.integration_id, 'D',
                                               NEW.external_id, NEW.change_txid);
            END IF;
        ELSIF OLD.deleted_at IS NOT NULL OR
              (OLD.kind, OLD.occurred_at, OLD.raw, OLD.title, OLD.text, OLD.author,
               OLD.participants, OLD.url, OLD.thread)
              IS DISTINCT FROM
              (NEW.kind, NEW.occurred_at, NEW.raw, NEW.title, NEW.text, NEW.author,
               NEW.participants, NEW.url, NEW.thread) THEN
            v_ws := mcp.record_item_change(NEW.workspace_id, NEW.integration_id, 'U',
                                           NEW.external_id, NEW.change_txid);
        END IF;
    END IF;
    IF v_ws IS NOT NULL THEN
        PERFORM pg_notify('mcp_item_changes', v_ws::text);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION mcp.erase_integration_items() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_prev text := current_setting('mcp.item_changes', true);
    v_n    bigint;
BEGIN
    -- The change rows are written here, one per 1,000 items: the row trigger stays out.
    PERFORM set_config('mcp.item_changes', 'written', true);
    WITH gone AS (DELETE FROM mcp.synced_items WHERE integration_id = NEW.id
                  RETURNING external_id, deleted_at, change_txid),
    n AS (SELECT external_id, change_txid, (row_number() OVER () - 1) / 1000 AS chunk
          FROM gone WHERE deleted_at IS NULL),
    ch AS (INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids, txid)
           SELECT NEW.workspace_id, NEW.id, 'D', array_agg(external_id),
                  greatest(max(change_txid), pg_current_xact_id())
           FROM n GROUP BY chunk
           RETURNING 1)
    SELECT count(*) INTO v_n FROM ch;
    PERFORM set_config('mcp.item_changes', coalesce(v_prev, ''), true);
    IF v_n > 0 THEN
        PERFORM pg_notify('mcp_item_changes', NEW.workspace_id::text);
    END IF;
    RETURN NULL;
END $$;

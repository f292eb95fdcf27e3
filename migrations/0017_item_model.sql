-- The item model: beside each platform's own `raw`, the fields every reader needs, the same for
-- all platforms (docs/ITEMS.md), the content fetched where a listing lacks it, full-text search
-- over title and text (its function is 0018's), threads, the model in the change feed, and the
-- erasure of a deleted integration's items. Released migrations are never edited; add a new numbered file.
--
-- Locks. This transaction takes mcp.synced_items' ACCESS EXCLUSIVE lock (ADD COLUMN) and keeps
-- it to its commit, so nothing here may read or write the table's rows: every column is added
-- without a default or with a constant one (catalog-only changes, no rewrite), the CHECK is
-- added NOT VALID (new and updated rows are checked at once; the existing rows all hold the
-- constant default) and validated by 0023 under a lock that lets reads and writes go on, and
-- the indexes are built concurrently by 0019-0022. `lock_timeout` makes the migration give up
-- (and the daemon's start fail, to be retried) rather than queue every reader and writer of the
-- table behind it while a long transaction holds the table. Existing rows get their model from
-- the `items_backfill` job (crates/mcp-daemon/src/items/backfill.rs), enqueued at the daemon's
-- start.

SET LOCAL lock_timeout = '10s';

ALTER TABLE mcp.synced_items
    ADD COLUMN title          text,
    ADD COLUMN text           text,
    -- the text was cut at [items] max_text_bytes (at a character boundary)
    ADD COLUMN text_truncated boolean NOT NULL DEFAULT false,
    ADD COLUMN author         jsonb,
    ADD COLUMN participants   jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN url            text,
    ADD COLUMN thread         text,
    -- what the content call returned, in the platform's own shape (docs/ITEMS.md)
    ADD COLUMN content        jsonb,
    -- listed: modelled from the listing only; pending: its content is still to fetch;
    -- fetched: modelled with its content; withheld: its platform keeps no text
    -- ([items.<platform>] text = false)
    ADD COLUMN content_state  text NOT NULL DEFAULT 'listed',
    -- the model's version that wrote kind, title…thread (mcp_platforms::items::MODEL_VERSION);
    -- 0: not modelled yet (rows older than this migration, until the backfill reaches them)
    ADD COLUMN model_version  smallint NOT NULL DEFAULT 0,
    ADD COLUMN search         tsvector;

-- Ranking reads each hit's search vector: kept in the row itself (compressed with lz4 where the
-- server has it) rather than out of line in TOAST, whose lookups cost more than the ranking.
-- Catalog changes only: they apply to the values written from now on.
ALTER TABLE mcp.synced_items ALTER COLUMN search SET STORAGE MAIN;
DO $$
BEGIN
    ALTER TABLE mcp.synced_items ALTER COLUMN search SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;  -- a server built without lz4: pglz, the default
END $$;

ALTER TABLE mcp.synced_items ADD CONSTRAINT synced_items_content_state_is_known
    CHECK (content_state IN ('listed', 'pending', 'fetched', 'withheld')) NOT VALID;

-- The search index (0019) keeps the workspace and the words together; btree_gin gives GIN the
-- uuid's equality (a trusted extension: the database's owner may create it).
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- Search covers the title (weight A) and the text (weight B) with the `simple` configuration: a
-- company's items mix languages, often within one item (a French mail quoting an English one),
-- and a language's configuration stems and drops the stop words of that language only, turning
-- the words of the others into wrong stems; `simple` lowercases and keeps every word as
-- written, so a word is found in whatever language it was written, at the price of no stemming
-- (`meeting` does not find `meetings`: write both, or `meeting | meetings`). The text indexed is
-- capped at 200,000 characters so that one huge item stays within what a tsvector holds (1 MB).
-- NULL when the item has neither.
CREATE FUNCTION mcp.item_search_vector(p_title text, p_text text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_title IS NULL AND p_text IS NULL THEN NULL ELSE
        setweight(to_tsvector('simple'::regconfig, coalesce(p_title, '')), 'A')
        || setweight(to_tsvector('simple'::regconfig, left(coalesce(p_text, ''), 200000)), 'B')
    END
$$;

-- The vector of every other writer's rows (plain SQL), recomputed only when the title or the
-- text changed (a tombstone, a content state: no work). The daemon's item writers (the
-- transactions that set `mcp.item_changes` to 'written', as for the change feed) compute it in
-- their own statements, `search = mcp.item_search_vector(title, text)`: a row trigger costs a
-- sync page a fifth of its rate (docs/PERFORMANCE.md).
CREATE FUNCTION mcp.item_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.title IS NOT DISTINCT FROM OLD.title
       AND NEW.text IS NOT DISTINCT FROM OLD.text THEN
        NEW.search := OLD.search;
        RETURN NEW;
    END IF;
    NEW.search := mcp.item_search_vector(NEW.title, NEW.text);
    RETURN NEW;
END $$;
CREATE TRIGGER synced_items_search
    BEFORE INSERT OR UPDATE OF title, text ON mcp.synced_items
    FOR EACH ROW
    WHEN (current_setting('mcp.item_changes', true) IS DISTINCT FROM 'written')
    EXECUTE FUNCTION mcp.item_search_refresh();

-- The capture trigger of 0012 (every writer but the daemon's): a change of the model (content
-- fetched, text erased) is a change of the item too.
CREATE OR REPLACE FUNCTION mcp.capture_item_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_ws uuid;  -- the workspace of a change written, if any
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.deleted_at IS NULL THEN
            INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids)
            VALUES (NEW.workspace_id, NEW.integration_id, 'A', ARRAY[NEW.external_id]);
            v_ws := NEW.workspace_id;
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        IF OLD.deleted_at IS NULL THEN
            INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids)
            VALUES (OLD.workspace_id, OLD.integration_id, 'D', ARRAY[OLD.external_id]);
            v_ws := OLD.workspace_id;
        END IF;
    ELSIF (OLD.integration_id, OLD.external_id) IS DISTINCT FROM (NEW.integration_id, NEW.external_id) THEN
        IF OLD.deleted_at IS NULL THEN
            INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids)
            VALUES (OLD.workspace_id, OLD.integration_id, 'D', ARRAY[OLD.external_id]);
            v_ws := OLD.workspace_id;
        END IF;
        IF NEW.deleted_at IS NULL THEN
            INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids)
            VALUES (NEW.workspace_id, NEW.integration_id, 'A', ARRAY[NEW.external_id]);
            v_ws := NEW.workspace_id;
        END IF;
    ELSIF NEW.deleted_at IS NOT NULL THEN
        IF OLD.deleted_at IS NULL THEN
            INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids)
            VALUES (NEW.workspace_id, NEW.integration_id, 'D', ARRAY[NEW.external_id]);
            v_ws := NEW.workspace_id;
        END IF;
    ELSIF OLD.deleted_at IS NOT NULL OR
          (OLD.kind, OLD.occurred_at, OLD.raw, OLD.title, OLD.text, OLD.author, OLD.participants,
           OLD.url, OLD.thread)
          IS DISTINCT FROM
          (NEW.kind, NEW.occurred_at, NEW.raw, NEW.title, NEW.text, NEW.author, NEW.participants,
           NEW.url, NEW.thread) THEN
        INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids)
        VALUES (NEW.workspace_id, NEW.integration_id, 'U', ARRAY[NEW.external_id]);
        v_ws := NEW.workspace_id;
    END IF;
    IF v_ws IS NOT NULL THEN
        PERFORM pg_notify('mcp_item_changes', v_ws::text);
    END IF;
    RETURN NULL;
END $$;

-- The feed carries the model (0012's columns, then the model's). Its OUT columns change, so the
-- function is made again; its grant with it.
DROP FUNCTION mcp.changes(uuid, text, int);
CREATE FUNCTION mcp.changes(p_workspace_id uuid, p_after text, p_max_rows int)
RETURNS TABLE (
    cursor         text,
    op             text,
    integration_id uuid,
    external_id    text,
    platform       text,
    kind           text,
    occurred_at    timestamptz,
    changed_at     timestamptz,
    item           jsonb,
    title          text,
    text           text,
    text_truncated boolean,
    author         jsonb,
    participants   jsonb,
    url            text,
    thread         text,
    content_state  text
) LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    v_parts text[];
    v_txid  xid8 := '0'::xid8;
    v_seq   bigint := 0;
    v_ord   bigint := 0;
    v_gone  mcp.item_changes_pruned%ROWTYPE;
BEGIN
    IF p_workspace_id IS NULL THEN
        RAISE EXCEPTION 'mcp.changes: workspace_id is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_max_rows IS NULL OR p_max_rows < 1 OR p_max_rows > 100000 THEN
        RAISE EXCEPTION 'mcp.changes: max_rows must be between 1 and 100000, not %', p_max_rows
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_after IS NOT NULL THEN
        v_parts := regexp_match(p_after, '^v1:([0-9]{1,20}):([0-9]{1,19}):([0-9]{1,9})$');
        IF v_parts IS NULL THEN
            RAISE EXCEPTION 'mcp.changes: % is not a cursor of this feed', quote_literal(p_after)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass the cursor column of the last row read, or NULL to start over.';
        END IF;
        v_txid := v_parts[1]::xid8;
        v_seq := v_parts[2]::bigint;
        v_ord := v_parts[3]::bigint;
        SELECT * INTO v_gone FROM mcp.item_changes_pruned;
        IF FOUND AND (v_txid < v_gone.txid OR (v_txid = v_gone.txid AND v_seq <= v_gone.seq)) THEN
            RAISE EXCEPTION 'mcp.changes: cursor % is older than the retained changes', p_after
                USING ERRCODE = 'MCP01',
                      HINT = 'Resync: read mcp.synced_items again, then follow the feed from a NULL cursor.';
        END IF;
    END IF;
    RETURN QUERY
    SELECT 'v1:' || c.txid::text || ':' || c.seq::text || ':' || u.ord::text,
           CASE c.op WHEN 'A' THEN 'ADDED' WHEN 'U' THEN 'UPDATED' ELSE 'DELETED' END,
           c.integration_id, u.external_id, s.platform, s.kind, s.occurred_at, c.changed_at,
           CASE WHEN s.deleted_at IS NULL THEN s.raw END,
           CASE WHEN s.deleted_at IS NULL THEN s.title END,
           CASE WHEN s.deleted_at IS NULL THEN s.text END,
           CASE WHEN s.deleted_at IS NULL THEN s.text_truncated END,
           CASE WHEN s.deleted_at IS NULL THEN s.author END,
           CASE WHEN s.deleted_at IS NULL THEN s.participants END,
           CASE WHEN s.deleted_at IS NULL THEN s.url END,
           CASE WHEN s.deleted_at IS NULL THEN s.thread END,
           CASE WHEN s.deleted_at IS NULL THEN s.content_state END
    FROM (
        SELECT ch.* FROM mcp.item_changes ch
        WHERE ch.workspace_id = p_workspace_id
          AND (ch.txid, ch.seq) >= (v_txid, v_seq)
          AND ch.txid < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY ch.txid, ch.seq
        LIMIT p_max_rows + 1
    ) c
    CROSS JOIN LATERAL unnest(c.external_ids) WITH ORDINALITY AS u(external_id, ord)
    LEFT JOIN mcp.synced_items s
           ON s.integration_id = c.integration_id AND s.external_id = u.external_id
    WHERE (c.txid, c.seq, u.ord) > (v_txid, v_seq, v_ord)
    ORDER BY c.txid, c.seq, u.ord
    LIMIT p_max_rows;
END $$;
GRANT EXECUTE ON FUNCTION mcp.changes(uuid, text, int) TO mcp_workspace_member;

-- A thread's items in order (a Gmail threadId, an Outlook conversationId, a Slack thread_ts; a
-- Discord channel, a Monday board): the live items of one integration whose model names it,
-- oldest first. Row-level security applies (the caller's rights): another workspace's
-- integration shows nothing.
CREATE FUNCTION mcp.thread_items(p_integration_id uuid, p_thread text)
RETURNS TABLE (
    external_id    text,
    platform       text,
    kind           text,
    title          text,
    text           text,
    text_truncated boolean,
    author         jsonb,
    participants   jsonb,
    occurred_at    timestamptz,
    url            text,
    content_state  text
) LANGUAGE sql STABLE AS $$
    SELECT s.external_id, s.platform, s.kind, s.title, s.text, s.text_truncated, s.author,
           s.participants, s.occurred_at, s.url, s.content_state
    FROM mcp.synced_items s
    WHERE s.integration_id = p_integration_id AND s.thread = p_thread AND s.deleted_at IS NULL
    ORDER BY s.occurred_at NULLS FIRST, s.external_id
$$;
GRANT EXECUTE ON FUNCTION mcp.thread_items(uuid, text) TO mcp_workspace_member;

-- What each integration state allows its items (one name, as 0008's predicates; mirrored by
-- `IntegrationState::keeps_items`): every state but DELETED keeps them.
CREATE FUNCTION core.state_keeps_items(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT $1 IS DISTINCT FROM 'DELETED' $$;

-- Erasure: an integration that moves to a state that keeps no items (DELETED) loses its items,
-- their text and content, in the transaction of that change, whoever makes it (the daemon, an
-- operator, a member's UPDATE: SECURITY DEFINER, as members may not delete items). The feed
-- gets one 'D' change per 1,000 live items (tombstones were announced already). Writers of items
-- lock the integration's row (FOR SHARE) and check the state first (crates/mcp-daemon/src/items),
-- so a page written at the same time either commits before (and is erased here) or writes
-- nothing. A disconnect (REVOKED) keeps the items.
CREATE FUNCTION mcp.erase_integration_items() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_prev text := current_setting('mcp.item_changes', true);
    v_n    bigint;
BEGIN
    -- The change rows are written here, one per 1,000 items: the row trigger stays out.
    PERFORM set_config('mcp.item_changes', 'written', true);
    WITH gone AS (DELETE FROM mcp.synced_items WHERE integration_id = NEW.id
                  RETURNING external_id, deleted_at),
    n AS (SELECT external_id, (row_number() OVER () - 1) / 1000 AS chunk
          FROM gone WHERE deleted_at IS NULL),
    ch AS (INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids)
           SELECT NEW.workspace_id, NEW.id, 'D', array_agg(external_id) FROM n GROUP BY chunk
           RETURNING 1)
    SELECT count(*) INTO v_n FROM ch;
    PERFORM set_config('mcp.item_changes', coalesce(v_prev, ''), true);
    IF v_n > 0 THEN
        PERFORM pg_notify('mcp_item_changes', NEW.workspace_id::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER integrations_erase_items
    AFTER UPDATE OF state ON core.integrations
    FOR EACH ROW
    WHEN (core.state_keeps_items(OLD.state) AND NOT core.state_keeps_items(NEW.state))
    EXECUTE FUNCTION mcp.erase_integration_items();

-- The backfill's progress (the `items_backfill` job): one row, the pass in progress or the
-- last one. A pass models every row below `version` (or every row, `all_rows`, when a job asked
-- for it: `job_id`), in primary-key order from `after_*`, a batch per short transaction with
-- this row. A database without items needs no pass: its row says version 1 (this migration's
-- model) is done.
CREATE TABLE mcp.items_backfill (
    one                 boolean PRIMARY KEY DEFAULT true CHECK (one),
    version             smallint NOT NULL,
    all_rows            boolean NOT NULL DEFAULT false,
    job_id              bigint,
    after_integration   uuid,
    after_external_id   text,
    modelled            bigint NOT NULL DEFAULT 0,
    started_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz
);
INSERT INTO mcp.items_backfill (version, finished_at)
SELECT 1, CASE WHEN NOT EXISTS (SELECT 1 FROM mcp.synced_items) THEN now() END;

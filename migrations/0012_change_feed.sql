-- Deletions and the change feed of mcp.synced_items. Released migrations are never edited; add a
-- new numbered file.
--
-- An item the platform deleted stays as a tombstone (`deleted_at`, `deleted_reason`) until
-- `[retention] tombstones`; seen again, it is live again. Every insert, update and tombstone of
-- an item is a change in mcp.item_changes: one row per writing statement, integration and
-- operation, naming the items' ids. The daemon's own writers (sync pages, tombstones) write those
-- rows in the same statement and mark their transaction (`mcp.item_changes` = 'written') so that
-- the row trigger below stays out of the way; any other writer (plain SQL) is captured by it.
-- Readers LISTEN on `mcp_item_changes` (payload: the workspace id). The trigger notifies in the
-- writer's transaction; the daemon's writers notify just after their commits, a few
-- milliseconds apart at most, so that their commits never queue behind the notification lock.
--
-- A change's place in the feed is (txid, seq, position in external_ids). txid is the writer's
-- transaction id: a reader is only shown changes whose txid is below the oldest transaction
-- still running (pg_snapshot_xmin of its snapshot), so every change it is shown is committed and
-- nothing that commits later can sort before it. seq alone would not do: a smaller seq can commit
-- after a larger one was read.

ALTER TABLE mcp.synced_items
    ADD COLUMN deleted_at     timestamptz,
    ADD COLUMN deleted_reason text;
CREATE INDEX synced_items_tombstones ON mcp.synced_items (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE mcp.item_changes (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    workspace_id   uuid NOT NULL,
    integration_id uuid NOT NULL,
    op             "char" NOT NULL CHECK (op IN ('A', 'U', 'D')),
    external_ids   text[] NOT NULL CHECK (cardinality(external_ids) > 0),
    changed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX item_changes_feed ON mcp.item_changes (workspace_id, txid, seq);
CREATE INDEX item_changes_age ON mcp.item_changes (changed_at);

-- The newest change `prune` deleted: a cursor at or before it may have missed changes.
CREATE TABLE mcp.item_changes_pruned (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    txid xid8 NOT NULL,
    seq  bigint NOT NULL
);

GRANT SELECT ON mcp.item_changes, mcp.item_changes_pruned TO mcp_workspace_member;
ALTER TABLE mcp.item_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY workspace_isolation ON mcp.item_changes TO mcp_workspace_member
    USING (workspace_id = core.current_workspace_id());

-- Every writer that is not the daemon's: one change row per changed item.
CREATE FUNCTION mcp.capture_item_change() RETURNS trigger LANGUAGE plpgsql AS $$
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
          (OLD.kind, OLD.occurred_at, OLD.raw) IS DISTINCT FROM (NEW.kind, NEW.occurred_at, NEW.raw) THEN
        INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids)
        VALUES (NEW.workspace_id, NEW.integration_id, 'U', ARRAY[NEW.external_id]);
        v_ws := NEW.workspace_id;
    END IF;
    -- Readers LISTEN on mcp_item_changes (payload: the workspace id); Postgres sends one
    -- notification per distinct payload per transaction, at its commit.
    IF v_ws IS NOT NULL THEN
        PERFORM pg_notify('mcp_item_changes', v_ws::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER synced_items_changes
    AFTER INSERT OR UPDATE OR DELETE ON mcp.synced_items
    FOR EACH ROW
    WHEN (current_setting('mcp.item_changes', true) IS DISTINCT FROM 'written')
    EXECUTE FUNCTION mcp.capture_item_change();

-- The feed of one workspace after `p_after` (NULL: from the oldest retained change), oldest
-- first, at most `p_max_rows` rows. Pass the last row's cursor to the next call. A cursor older
-- than what `prune` kept raises SQLSTATE MCP01 (resync: read the items again, then follow the
-- feed from NULL or from a fresh cursor). The item is read as it is now (NULL once deleted).
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
    item           jsonb
) LANGUAGE plpgsql STABLE AS $$
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
           CASE WHEN s.deleted_at IS NULL THEN s.raw END
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

-- Reconcile: a full listing per integration, resumable page by page. `mcp.reconcile_runs` holds
-- each integration's current or last run; `mcp.reconcile_seen` the ids its listing has seen.
CREATE TABLE mcp.reconcile_runs (
    integration_id uuid PRIMARY KEY REFERENCES core.integrations (id) ON DELETE CASCADE,
    workspace_id   uuid NOT NULL,
    platform       text NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    cursor         text,
    pages          bigint NOT NULL DEFAULT 0,
    listed         bigint NOT NULL DEFAULT 0,
    live_before    bigint NOT NULL,
    finished_at    timestamptz,
    outcome        text CHECK (outcome IN ('completed', 'guard_stopped')),
    tombstoned     bigint NOT NULL DEFAULT 0
);
CREATE TABLE mcp.reconcile_seen (
    integration_id uuid NOT NULL REFERENCES mcp.reconcile_runs (integration_id) ON DELETE CASCADE,
    external_id    text NOT NULL,
    PRIMARY KEY (integration_id, external_id)
);
GRANT SELECT ON mcp.reconcile_runs TO mcp_workspace_member;
ALTER TABLE mcp.reconcile_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY workspace_isolation ON mcp.reconcile_runs TO mcp_workspace_member
    USING (workspace_id = core.current_workspace_id());

-- Search in SQL: mcp.search_items over the item model's title and text (the search vector and
-- its trigger are 0017's, its index 0019's), with the names its filters take. Released
-- migrations are never edited; add a new numbered file.

-- The names search filters take (the daemon's `Platform::ALL` and `Kind::ALL`; a test checks
-- they agree).
CREATE FUNCTION mcp.item_platforms() RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['gmail', 'outlook', 'slack', 'discord', 'zoom', 'fireflies', 'otter', 'loom',
                 'monday', 'notion', 'granola', 'zerodb', 'zerovoice']
$$;
CREATE FUNCTION mcp.item_kinds() RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['message', 'email', 'meeting', 'recording', 'transcript', 'task', 'document',
                 'note', 'call']
$$;

-- One filter's list of names: a string or an array of strings, each one of `p_known`.
CREATE FUNCTION mcp.search_filter_names(p_filters jsonb, p_key text, p_known text[])
RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v jsonb := p_filters -> p_key;
    v_names text[];
    v_bad text;
BEGIN
    IF jsonb_typeof(v) = 'string' THEN
        v := jsonb_build_array(v);
    END IF;
    IF jsonb_typeof(v) IS DISTINCT FROM 'array'
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) e WHERE jsonb_typeof(e) <> 'string') THEN
        RAISE EXCEPTION 'mcp.search_items: filter % must be a string or an array of strings', p_key
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT array_agg(e) INTO v_names FROM jsonb_array_elements_text(v) e;
    SELECT n INTO v_bad FROM unnest(v_names) n WHERE NOT n = ANY (p_known) LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'mcp.search_items: filter % names unknown %', p_key, quote_literal(v_bad)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'One of: ' || array_to_string(p_known, ', ') || '.';
    END IF;
    RETURN coalesce(v_names, '{}');
END $$;

-- Full-text search of one workspace's live items (docs/ITEMS.md, "Search").
--   p_query: websearch syntax (words, "a phrase", -word, or), over title and text; empty or NULL
--     for every item, newest first.
--   p_filters: a JSON object with any of platforms and kinds (a name or an array of names),
--     integration_id, author (part of a name or an address, any case, or a platform id), since
--     and until (times; since <= occurred_at < until). Any other key is an error.
--   p_after: the last row's cursor, for the next page (with the same query and filters).
--   p_max_rows: 1 to 100.
-- Ranked: items whose title alone matches the query first, then by cover density over title
-- (weight 1) and text (weight 0.4), then newest. The snippet shows the matched words between
-- « and ». Row-level security applies (the caller's rights): a member sees its workspace only.
CREATE FUNCTION mcp.search_items(
    p_workspace_id uuid,
    p_query        text,
    p_filters      jsonb DEFAULT '{}'::jsonb,
    p_after        text DEFAULT NULL,
    p_max_rows     int DEFAULT 20
) RETURNS TABLE (
    cursor         text,
    integration_id uuid,
    external_id    text,
    platform       text,
    kind           text,
    title          text,
    snippet        text,
    text_bytes     integer,  -- the length of the item's text (read it whole from mcp.synced_items)
    text_truncated boolean,
    author         jsonb,
    participants   jsonb,
    occurred_at    timestamptz,
    url            text,
    thread         text,
    rank           real
) LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_q         tsquery;
    v_qa        tsquery;  -- v_q over the title's words only (weight A)
    v_qb        tsquery;  -- v_q over the text's words only (weight B)
    v_f         jsonb := coalesce(p_filters, '{}'::jsonb);
    v_key       text;
    v_where     text := '';
    v_platforms text[];
    v_kinds     text[];
    v_int_f     uuid;
    v_author    text;
    v_since     timestamptz;
    v_until     timestamptz;
    v_parts     text[];
    v_rank      int;
    v_at        timestamptz;
    v_int       uuid;
    v_ext       text;
    v_page      text;
BEGIN
    IF p_workspace_id IS NULL THEN
        RAISE EXCEPTION 'mcp.search_items: workspace_id is required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_max_rows IS NULL OR p_max_rows < 1 OR p_max_rows > 100 THEN
        RAISE EXCEPTION 'mcp.search_items: max_rows must be between 1 and 100, not %', p_max_rows
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(v_f) <> 'object' THEN
        RAISE EXCEPTION 'mcp.search_items: filters must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(v_f) LOOP
        CASE v_key
        WHEN 'platforms' THEN
            v_platforms := mcp.search_filter_names(v_f, v_key, mcp.item_platforms());
            v_where := v_where || ' AND s.platform = ANY ($3)';
        WHEN 'kinds' THEN
            v_kinds := mcp.search_filter_names(v_f, v_key, mcp.item_kinds());
            v_where := v_where || ' AND s.kind = ANY ($4)';
        WHEN 'integration_id' THEN
            BEGIN
                v_int_f := (v_f ->> v_key)::uuid;
            EXCEPTION WHEN data_exception THEN
                v_int_f := NULL;
            END;
            IF v_int_f IS NULL THEN
                RAISE EXCEPTION 'mcp.search_items: filter integration_id must be a uuid, not %', v_f -> v_key
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            v_where := v_where || ' AND s.integration_id = $5';
        WHEN 'author' THEN
            v_author := lower(btrim(v_f ->> v_key));
            IF jsonb_typeof(v_f -> v_key) <> 'string' OR v_author = '' THEN
                RAISE EXCEPTION 'mcp.search_items: filter author must be a non-empty string'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            v_where := v_where || ' AND (strpos(lower(s.author ->> ''name''), $6) > 0'
                || ' OR strpos(lower(s.author ->> ''address''), $6) > 0 OR s.author ->> ''id'' = ($10 ->> ''author''))';
        WHEN 'since', 'until' THEN
            BEGIN
                IF jsonb_typeof(v_f -> v_key) <> 'string' THEN
                    RAISE EXCEPTION USING ERRCODE = 'invalid_datetime_format';
                END IF;
                IF v_key = 'since' THEN
                    v_since := (v_f ->> v_key)::timestamptz;
                ELSE
                    v_until := (v_f ->> v_key)::timestamptz;
                END IF;
            EXCEPTION WHEN data_exception THEN
                RAISE EXCEPTION 'mcp.search_items: filter % must be a time (e.g. "2025-01-31" or "2025-01-31T12:00:00Z"), not %',
                                v_key, v_f -> v_key
                    USING ERRCODE = 'invalid_parameter_value';
            END;
            v_where := v_where || CASE v_key WHEN 'since' THEN ' AND s.occurred_at >= $7'
                                             ELSE ' AND s.occurred_at < $8' END;
        ELSE
            RAISE EXCEPTION 'mcp.search_items: unknown filter %', quote_literal(v_key)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Filters: platforms, kinds, integration_id, author, since, until.';
        END CASE;
    END LOOP;
    IF nullif(btrim(coalesce(p_query, '')), '') IS NOT NULL THEN
        v_q := websearch_to_tsquery('simple'::regconfig, p_query);
        IF numnode(v_q) = 0 THEN
            v_q := NULL;  -- no word in it (only punctuation): every item
        ELSE
            -- The same query with each word restricted to a weight: matching it costs no copy
            -- of the vector (ts_filter would make one per hit).
            v_qa := regexp_replace(v_q::text, '''((?:[^'']|'''')*)''', '''\1'':A', 'g')::tsquery;
            v_qb := regexp_replace(v_q::text, '''((?:[^'']|'''')*)''', '''\1'':B', 'g')::tsquery;
        END IF;
    END IF;
    -- The cursor: s1:<rank or n>:<occurred_at in UTC to the microsecond, or n>:<integration>:<id>.
    IF p_after IS NOT NULL THEN
        v_parts := regexp_match(p_after,
            '^s1:([0-9]{1,7}|n):([0-9]{4,6}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}|n):'
            '([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):(.+)$');
        IF v_parts IS NULL OR (v_parts[1] = 'n') <> (v_q IS NULL) THEN
            RAISE EXCEPTION 'mcp.search_items: % is not a cursor of this search', quote_literal(p_after)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass the cursor column of the last row read, with the same query and filters.';
        END IF;
        BEGIN
            v_rank := CASE WHEN v_parts[1] = 'n' THEN 0 ELSE v_parts[1]::int END;
            v_at := CASE WHEN v_parts[2] = 'n' THEN NULL ELSE (v_parts[2] || '+00')::timestamptz END;
        EXCEPTION WHEN data_exception THEN
            RAISE EXCEPTION 'mcp.search_items: % is not a cursor of this search', quote_literal(p_after)
                USING ERRCODE = 'invalid_parameter_value';
        END;
        v_int := v_parts[3]::uuid;
        v_ext := v_parts[4];
    END IF;
    -- Ranked by an integer (title match × 1,000,000 + cover density scaled to 0..999,999), so
    -- the cursor holds it exactly. Without words, newest first along synced_items_recent.
    IF v_q IS NOT NULL THEN
        v_page := format($q$
            WITH hits AS (
                SELECT s.integration_id, s.external_id,
                       (CASE WHEN s.search @@ $17 THEN 1000000 ELSE 0 END
                        + floor(ts_rank_cd(s.search, $2, 32) * 999999))::int AS r,
                       coalesce(s.occurred_at, '-infinity'::timestamptz) AS at_key
                FROM mcp.synced_items s
                WHERE s.workspace_id = $1 AND s.deleted_at IS NULL AND s.search @@ $2 %s)
            SELECT h.integration_id, h.external_id, h.r FROM hits h
            WHERE NOT $9 OR (h.r, h.at_key, h.integration_id, h.external_id)
                            < ($11, coalesce($12, '-infinity'::timestamptz), $13, $14)
            ORDER BY h.r DESC, h.at_key DESC, h.integration_id DESC, h.external_id DESC
            LIMIT $15 $q$, v_where);
    ELSE
        v_page := format($q$
            SELECT s.integration_id, s.external_id, 0 AS r FROM mcp.synced_items s
            WHERE s.workspace_id = $1 AND s.deleted_at IS NULL %s
              AND (NOT $9
                   OR ($12 IS NULL AND s.occurred_at IS NULL
                       AND (s.integration_id, s.external_id) < ($13, $14))
                   OR ($12 IS NOT NULL
                       AND (s.occurred_at < $12 OR s.occurred_at IS NULL
                            OR (s.occurred_at = $12 AND (s.integration_id, s.external_id) < ($13, $14)))))
            ORDER BY s.occurred_at DESC NULLS LAST, s.integration_id DESC, s.external_id DESC
            LIMIT $15 $q$, v_where);
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH page AS MATERIALIZED (%s)
        SELECT 's1:' || CASE WHEN $2 IS NULL THEN 'n' ELSE p.r::text END || ':'
                   || CASE WHEN s.occurred_at IS NULL THEN 'n'
                           ELSE to_char(s.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') END
                   || ':' || s.integration_id::text || ':' || s.external_id,
               s.integration_id, s.external_id, s.platform, s.kind, s.title,
               CASE WHEN $2 IS NULL THEN left(s.text, 200)
                    WHEN s.text IS NOT NULL AND s.search @@ $18
                    THEN ts_headline('simple'::regconfig, left(s.text, 20000), $2, $16)
                    ELSE ts_headline('simple'::regconfig, coalesce(s.title, ''), $2, $16) END,
               octet_length(s.text), s.text_truncated, s.author, s.participants, s.occurred_at, s.url, s.thread,
               (p.r / 1000000.0)::real
        FROM page p
        JOIN mcp.synced_items s ON s.integration_id = p.integration_id AND s.external_id = p.external_id
        ORDER BY p.r DESC, s.occurred_at DESC NULLS LAST, s.integration_id DESC, s.external_id DESC
        $q$, v_page)
    USING p_workspace_id, v_q, v_platforms, v_kinds, v_int_f, v_author, v_since, v_until,
          p_after IS NOT NULL, v_f, v_rank, v_at, v_int, v_ext, p_max_rows,
          'StartSel=«, StopSel=», MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'::text,
          v_qa, v_qb;
END $fn$;
GRANT EXECUTE ON FUNCTION mcp.search_items(uuid, text, jsonb, text, int) TO mcp_workspace_member;

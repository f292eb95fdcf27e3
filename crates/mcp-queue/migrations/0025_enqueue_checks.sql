-- A job that cannot run never enters the queue. Every INSERT into mcp.sync_jobs (plain SQL,
-- COPY, mcp.enqueue_job, mcp.enqueue_many; the daemon's typed statements below excepted) is
-- checked once per statement: each kind must be in mcp.job_kinds and each waiting job's payload must match its
-- kind's payload_schema. The error names the field and what is valid. Released migrations are
-- never edited; add a new numbered file.
--
-- The kind's foreign key goes: it checked each row with a query of its own, 40 % of a bulk
-- INSERT's time; the statement's check looks each distinct kind up once and locks it FOR KEY
-- SHARE, as the key did, and a trigger on mcp.job_kinds refuses to remove a kind that jobs
-- still name. Payloads are checked once per distinct (kind, payload): a bulk INSERT of one
-- payload pays nothing measurable, a statement of distinct payloads about 10 µs for each.

-- The JSON Schema subset of mcp_queue::schema (the daemon's check when it claims a job), in
-- SQL: type, properties, required, additionalProperties, minimum, maximum, enum, items and
-- format "uuid". NULL when `v` matches, else the first problem, rooted at `path`. `enum`
-- compares by containment, exact for the scalars the schemas list.
--
-- One loop walks an object's fields or an array's items and checks each scalar in place; it
-- recurses only into nested objects and arrays (a call costs more than the checks).
CREATE FUNCTION mcp.payload_problem(schema jsonb, v jsonb, path text DEFAULT 'payload')
RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    got   text := jsonb_typeof(v);
    sub   jsonb := schema;
    val   jsonb := v;
    at    text := path;
    want  text;
    name  text;
    step  text;
    first boolean := true;
BEGIN
    IF got = 'object' AND schema ? 'required' THEN
        FOR i IN 0 .. jsonb_array_length(schema->'required') - 1 LOOP
            IF NOT v ? (schema->'required'->>i) THEN
                RETURN format('%s: missing required field `%s`', path, schema->'required'->>i);
            END IF;
        END LOOP;
    END IF;
    -- The value itself first, then each field or item: (step, val) rows of one query.
    FOR step, val IN
        SELECT NULL, v
        UNION ALL
        SELECT '.' || e.key, e.value
        FROM jsonb_each(CASE WHEN got = 'object' THEN v ELSE '{}' END) e
        UNION ALL
        SELECT '[' || (a.n - 1) || ']', a.e
        FROM jsonb_array_elements(CASE WHEN got = 'array' AND schema ? 'items' THEN v ELSE '[]' END)
             WITH ORDINALITY a(e, n)
    LOOP
        IF first THEN
            first := false;
        ELSE
            at := path || step;
            IF got = 'array' THEN
                sub := schema->'items';
            ELSE
                name := substr(step, 2);
                sub := schema->'properties'->name;
                IF sub IS NULL THEN
                    IF schema->'additionalProperties' = 'false'::jsonb THEN
                        RETURN format('%s: unknown field `%s` (expected one of: %s)', path, name,
                            (SELECT string_agg(k, ', ' ORDER BY k)
                             FROM jsonb_object_keys(schema->'properties') k));
                    END IF;
                    CONTINUE;
                END IF;
            END IF;
            IF jsonb_typeof(val) IN ('object', 'array') THEN
                at := mcp.payload_problem(sub, val, at);
                IF at IS NOT NULL THEN
                    RETURN at;
                END IF;
                CONTINUE;
            END IF;
        END IF;
        want := jsonb_typeof(val);
        IF want = 'number' AND val::text ~ '^-?[0-9]+$' THEN
            want := 'integer';
        END IF;
        IF sub->>'type' <> want AND NOT (sub->>'type' = 'number' AND want = 'integer') THEN
            RETURN format('%s: expected %s, got %s', at, sub->>'type', want);
        ELSIF sub ? 'enum' AND NOT (sub->'enum') @> jsonb_build_array(val) THEN
            RETURN format('%s: %s is not one of %s', at, val, sub->'enum');
        ELSIF want IN ('number', 'integer') AND (sub->>'minimum')::numeric > val::text::numeric THEN
            RETURN format('%s: %s is less than the minimum %s', at, val, sub->'minimum');
        ELSIF want IN ('number', 'integer') AND (sub->>'maximum')::numeric < val::text::numeric THEN
            RETURN format('%s: %s is more than the maximum %s', at, val, sub->'maximum');
        ELSIF want = 'string' AND sub->>'format' = 'uuid' AND val #>> '{}' !~*
                  '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
            RETURN format('%s: %s is not a UUID', at, val);
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

COMMENT ON FUNCTION mcp.payload_problem(jsonb, jsonb, text) IS
    'NULL when the value matches the schema (the subset jobs/*.toml use), else its first problem.';

-- Once per INSERT statement, on the rows it inserted: one read of mcp.job_kinds (the kinds the
-- statement names, locked FOR KEY SHARE as the foreign key did: a kind in use cannot be removed
-- until this transaction ends), then each distinct waiting payload of each kind.
CREATE FUNCTION mcp.sync_jobs_check_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named   text[];
    known   text[] := '{}';
    k       record;
    problem text;
BEGIN
    SELECT array_agg(DISTINCT n.kind) INTO named FROM inserted_jobs n;
    IF named IS NULL THEN
        RETURN NULL;
    END IF;
    FOR k IN SELECT j.kind, j.payload_schema FROM mcp.job_kinds j
             WHERE j.kind = ANY (named) ORDER BY j.kind FOR KEY SHARE LOOP
        known := known || k.kind;
        -- Materialized: the planner would otherwise push the check below the DISTINCT and
        -- run it on every row rather than on each distinct payload.
        WITH d AS MATERIALIZED (
            SELECT DISTINCT n.payload FROM inserted_jobs n
            WHERE n.kind = k.kind AND n.state IN ('available', 'scheduled', 'retryable'))
        SELECT mcp.payload_problem(k.payload_schema, d.payload) INTO problem
        FROM d
        WHERE mcp.payload_problem(k.payload_schema, d.payload) IS NOT NULL
        LIMIT 1;
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION 'invalid payload for job kind %: %', k.kind, problem
                USING ERRCODE = 'check_violation', COLUMN = 'payload',
                      SCHEMA = 'mcp', TABLE = 'sync_jobs',
                      HINT = format('the schema: SELECT payload_schema FROM mcp.job_kinds '
                                    'WHERE kind = %L', k.kind);
        END IF;
    END LOOP;
    IF cardinality(known) < cardinality(named) THEN
        RAISE EXCEPTION 'unknown job kind %',
                quote_literal((SELECT min(u) FROM unnest(named) u WHERE u <> ALL (known)))
            USING ERRCODE = 'foreign_key_violation', COLUMN = 'kind',
                  SCHEMA = 'mcp', TABLE = 'sync_jobs',
                  HINT = 'the kinds are ' || (SELECT string_agg(kind, ', ' ORDER BY kind)
                                               FROM mcp.job_kinds)
                         || ' (SELECT kind, description FROM mcp.job_kinds)';
    END IF;
    RETURN NULL;
END $$;

-- The daemon's own enqueue statements (`mcp_queue::enqueue_rows_sql!`: the webhook intake, event
-- processing) write payloads built from typed Rust values and set `mcp.enqueue_typed` for their
-- transaction: at the intake's rate, planning the check's queries on each statement's
-- transition table cost a fifth of its throughput. Their payloads are still checked when the
-- jobs are claimed. No other writer should set it.
CREATE TRIGGER sync_jobs_check_inserted
    AFTER INSERT ON mcp.sync_jobs
    REFERENCING NEW TABLE AS inserted_jobs
    FOR EACH STATEMENT
    WHEN (current_setting('mcp.enqueue_typed', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION mcp.sync_jobs_check_inserted();

-- Per row, only when a column is out of bounds (the WHEN costs next to nothing otherwise): said
-- before the table's CHECK constraints would print the whole row.
CREATE FUNCTION mcp.sync_jobs_refuse_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF jsonb_typeof(NEW.payload) <> 'object' THEN
        RAISE EXCEPTION 'invalid payload for job kind %: payload: expected object, got %',
                NEW.kind, jsonb_typeof(NEW.payload)
            USING ERRCODE = 'check_violation', COLUMN = 'payload', SCHEMA = 'mcp', TABLE = 'sync_jobs';
    ELSIF NEW.max_attempts < 1 THEN
        RAISE EXCEPTION 'max_attempts must be at least 1 (or NULL for the kind''s own), not %',
                NEW.max_attempts
            USING ERRCODE = 'check_violation', COLUMN = 'max_attempts', SCHEMA = 'mcp', TABLE = 'sync_jobs';
    ELSIF NEW.attempt < 0 THEN
        RAISE EXCEPTION 'attempt must be 0 or more, not %', NEW.attempt
            USING ERRCODE = 'check_violation', COLUMN = 'attempt', SCHEMA = 'mcp', TABLE = 'sync_jobs';
    ELSE
        RAISE EXCEPTION 'a running job needs lease_expires_at (a job is inserted available or '
                        'scheduled; a daemon makes it running when it claims it)'
            USING ERRCODE = 'check_violation', COLUMN = 'state', SCHEMA = 'mcp', TABLE = 'sync_jobs';
    END IF;
END $$;

CREATE TRIGGER sync_jobs_refuse_row
    BEFORE INSERT ON mcp.sync_jobs
    FOR EACH ROW WHEN (jsonb_typeof(NEW.payload) <> 'object'
                       OR NEW.max_attempts < 1
                       OR NEW.attempt < 0
                       OR (NEW.state = 'running' AND NEW.lease_expires_at IS NULL))
    EXECUTE FUNCTION mcp.sync_jobs_refuse_row();

ALTER TABLE mcp.sync_jobs DROP CONSTRAINT sync_jobs_kind_must_be_in_job_kinds;

-- A kind that jobs name stays (the daemon never removes one; see mcp_queue::catalog). The row
-- is locked before this runs, so it waits for any transaction that inserted jobs of the kind.
CREATE FUNCTION mcp.job_kinds_keep_used() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM mcp.sync_jobs j WHERE j.kind = OLD.kind) THEN
        RAISE EXCEPTION 'job kind % is named by jobs in mcp.sync_jobs; it stays',
                quote_literal(OLD.kind)
            USING ERRCODE = 'foreign_key_violation', SCHEMA = 'mcp', TABLE = 'job_kinds',
                  HINT = 'delete those jobs first';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER job_kinds_keep_used_delete
    BEFORE DELETE ON mcp.job_kinds
    FOR EACH ROW EXECUTE FUNCTION mcp.job_kinds_keep_used();

CREATE TRIGGER job_kinds_keep_used_rename
    BEFORE UPDATE OF kind ON mcp.job_kinds
    FOR EACH ROW WHEN (OLD.kind IS DISTINCT FROM NEW.kind)
    EXECUTE FUNCTION mcp.job_kinds_keep_used();

-- enqueue_job: a priority outside a smallint is named before the INSERT casts it.
CREATE OR REPLACE FUNCTION mcp.enqueue_job(
    kind           text,
    payload        jsonb       DEFAULT '{}'::jsonb,
    run_at         timestamptz DEFAULT NULL,
    priority       integer     DEFAULT 0,
    max_attempts   integer     DEFAULT NULL,
    unique_key     text        DEFAULT NULL,
    queue          text        DEFAULT 'default',
    integration_id uuid        DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    new_id bigint;
BEGIN
    IF enqueue_job.priority NOT BETWEEN -32768 AND 32767 THEN
        RAISE EXCEPTION 'priority must be between -32768 and 32767 (lower runs first), not %',
                enqueue_job.priority
            USING ERRCODE = 'numeric_value_out_of_range', COLUMN = 'priority';
    END IF;
    IF enqueue_job.max_attempts NOT BETWEEN 1 AND 32767 THEN
        RAISE EXCEPTION 'max_attempts must be between 1 and 32767 (or NULL for the kind''s own), not %',
                enqueue_job.max_attempts
            USING ERRCODE = 'numeric_value_out_of_range', COLUMN = 'max_attempts';
    END IF;
    FOR i IN 1..3 LOOP
        INSERT INTO mcp.sync_jobs AS j
            (kind, payload, run_at, state, priority, max_attempts, unique_key, queue, integration_id)
        VALUES (
            enqueue_job.kind,
            COALESCE(enqueue_job.payload, '{}'::jsonb),
            COALESCE(enqueue_job.run_at, now()),
            CASE WHEN enqueue_job.run_at > now() THEN 'scheduled' ELSE 'available' END,
            COALESCE(enqueue_job.priority, 0),
            enqueue_job.max_attempts,
            enqueue_job.unique_key,
            COALESCE(enqueue_job.queue, 'default'),
            enqueue_job.integration_id)
        ON CONFLICT DO NOTHING
        RETURNING j.id INTO new_id;
        IF new_id IS NOT NULL THEN
            RETURN new_id;
        END IF;
        SELECT j.id INTO new_id
        FROM mcp.sync_jobs_live j
        WHERE j.kind = enqueue_job.kind
          AND j.unique_key = enqueue_job.unique_key;
        IF new_id IS NOT NULL THEN
            RETURN new_id;
        END IF;
        -- The holder finished between the two statements: try the insert again.
    END LOOP;
    RAISE EXCEPTION 'could not enqueue % with unique_key %: the key kept changing hands',
        enqueue_job.kind, enqueue_job.unique_key;
END
$$;

-- One owner per state. Released migrations are never edited; add a new numbered file.
--
-- 1. Integration states by name. Which states count as "in service", "callable", "synced",
--    "subscribed" or "revocable" was spelled out as a list in every statement that needed it.
--    Each concept is now one SQL predicate here, used by every statement of the daemon, by the
--    example queries in jobs/*.sql, and mirrored by `IntegrationState` in the daemon (a test
--    checks that both agree for every state). They are plain SQL expressions, so the planner
--    inlines them: partial indexes such as integrations_in_service still match.
-- 2. The engine is the only writer of mcp.sync_jobs. `mcp.enqueue_many` enqueues one job of a
--    kind per integration (or per row of the arrays given), each once by its unique key; the
--    sweeps and the OAuth callback call it instead of inserting rows. (The webhook intake and
--    the processing of its events enqueue inside one statement of their own, with the engine's
--    statement text, `mcp_queue::enqueue_rows_sql!`: a function call there costs a tenth of the
--    intake's throughput.)

-- In service: checked by the health sweep, its tokens refreshed, counted by the gauges.
CREATE FUNCTION core.state_in_service(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT $1 IN ('CONNECTED', 'ACTIVE', 'DEGRADED', 'ERROR') $$;

-- Callable: a platform call may be made with its credentials now (ERROR waits for a check).
CREATE FUNCTION core.state_callable(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT $1 IN ('CONNECTED', 'ACTIVE', 'DEGRADED') $$;

-- Synced: its records are read by the sync sweep and by syncs that webhooks trigger.
CREATE FUNCTION core.state_synced(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT $1 IN ('ACTIVE', 'DEGRADED') $$;

-- Subscribed: its webhook subscriptions are kept renewed.
CREATE FUNCTION core.state_subscribed(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT $1 IN ('ACTIVE', 'DEGRADED', 'ERROR') $$;

-- Revocable: the platform can still withdraw access (a connected integration, even expired).
CREATE FUNCTION core.state_revocable(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT $1 IN ('CONNECTED', 'ACTIVE', 'DEGRADED', 'ERROR', 'EXPIRED') $$;

-- Enqueues one job of `kind` per element of `integration_ids` and returns the ids of the jobs
-- it made. Per element, optionally: `payloads` (default {"integration_id": …}), `run_ats`
-- (default now; a later time makes the job scheduled), `unique_keys` (default
-- '<kind>:<integration id>'; with `keyed => false` no key at all). A live job of the same kind
-- and key is left alone (ON CONFLICT DO NOTHING), so a sweep enqueues each integration once.
CREATE FUNCTION mcp.enqueue_many(
    kind            text,
    integration_ids uuid[],
    payloads        jsonb[]       DEFAULT NULL,
    run_ats         timestamptz[] DEFAULT NULL,
    unique_keys     text[]        DEFAULT NULL,
    keyed           boolean       DEFAULT true
) RETURNS SETOF bigint
-- plpgsql, not sql: its INSERT is planned once per session and the plan kept, where an sql
-- function plans it again on every call.
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    RETURN QUERY
    INSERT INTO mcp.sync_jobs AS j (kind, integration_id, payload, run_at, unique_key)
    SELECT $1, t.id,
           COALESCE(t.payload, jsonb_build_object('integration_id', t.id)),
           COALESCE(t.run_at, now()),
           CASE WHEN $6 THEN COALESCE(t.unique_key, $1 || ':' || t.id) END
    FROM unnest($2, $3, $4, $5) WITH ORDINALITY AS t(id, payload, run_at, unique_key, n)
    WHERE t.id IS NOT NULL OR t.payload IS NOT NULL
    ORDER BY t.n
    ON CONFLICT DO NOTHING
    RETURNING j.id;
END
$$;

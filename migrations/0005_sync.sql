-- Sync: the items read from the platforms, the last sync time of each integration, and the
-- token buckets every daemon shares (mcp.rate_limits of 0002). Independent of 0004.
-- Released migrations are never edited; add a new numbered file instead.

ALTER TABLE core.integrations ADD COLUMN last_synced_at timestamptz;

-- One row per platform record, written idempotently page by page (with the cursor checkpoint
-- in the same transaction): a resumed sync rewrites raw/updated_at, never first_seen_at.
CREATE TABLE mcp.synced_items (
    integration_id uuid NOT NULL REFERENCES core.integrations (id) ON DELETE CASCADE,
    external_id    text NOT NULL,
    workspace_id   uuid NOT NULL,
    platform       text NOT NULL,
    kind           text NOT NULL,
    occurred_at    timestamptz,
    raw            jsonb NOT NULL,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (integration_id, external_id)
);
CREATE INDEX synced_items_occurred ON mcp.synced_items (integration_id, occurred_at DESC);

GRANT SELECT ON mcp.synced_items TO mcp_workspace_member;
ALTER TABLE mcp.synced_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY workspace_isolation ON mcp.synced_items TO mcp_workspace_member
    USING (workspace_id = core.current_workspace_id())
    WITH CHECK (workspace_id = core.current_workspace_id());

-- Takes one token from an integration's bucket, shared by every daemon: returns 0 when a token
-- was taken, else how long to wait before asking again (nothing is taken then). The bucket is
-- created full on first use; capacity and refill follow the caller's (config) values. A bucket
-- blocked by a 429 (mcp.block_rate_limit) gives no token until blocked_until.
CREATE FUNCTION mcp.take_rate_limit_token(
    p_integration_id uuid,
    p_bucket         text,
    p_capacity       double precision,
    p_refill_per_sec double precision
) RETURNS interval LANGUAGE plpgsql AS $$
DECLARE
    r mcp.rate_limits%ROWTYPE;
    v_now timestamptz;
    v_avail double precision;
BEGIN
    IF p_capacity <= 0 OR p_refill_per_sec <= 0 THEN
        RAISE EXCEPTION 'capacity and refill_per_sec must be positive' USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO mcp.rate_limits (integration_id, bucket, workspace_id, platform, tokens, capacity,
                                 refill_per_sec, updated_at)
    SELECT id, p_bucket, workspace_id, platform, p_capacity, p_capacity, p_refill_per_sec,
           clock_timestamp()
    FROM core.integrations WHERE id = p_integration_id
    ON CONFLICT (integration_id, bucket) DO NOTHING;
    SELECT * INTO r FROM mcp.rate_limits
    WHERE integration_id = p_integration_id AND bucket = p_bucket FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'integration % not found', p_integration_id USING ERRCODE = 'no_data_found';
    END IF;
    v_now := clock_timestamp();
    IF r.blocked_until > v_now THEN
        RETURN r.blocked_until - v_now;
    END IF;
    v_avail := least(p_capacity,
                     r.tokens + extract(epoch FROM v_now - r.updated_at) * p_refill_per_sec);
    UPDATE mcp.rate_limits
    SET tokens = CASE WHEN v_avail >= 1 THEN v_avail - 1 ELSE v_avail END,
        capacity = p_capacity, refill_per_sec = p_refill_per_sec,
        blocked_until = NULL, updated_at = v_now
    WHERE integration_id = p_integration_id AND bucket = p_bucket;
    IF v_avail >= 1 THEN
        RETURN interval '0';
    END IF;
    RETURN ((1 - v_avail) / p_refill_per_sec) * interval '1 second';
END $$;

-- A platform said 429: no token from this bucket, for any daemon, until `p_until`.
CREATE FUNCTION mcp.block_rate_limit(
    p_integration_id uuid,
    p_bucket         text,
    p_until          timestamptz
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mcp.rate_limits AS r (integration_id, bucket, workspace_id, platform, tokens,
                                      capacity, refill_per_sec, blocked_until, updated_at)
    SELECT id, p_bucket, workspace_id, platform, 0, 1, 1, p_until, clock_timestamp()
    FROM core.integrations WHERE id = p_integration_id
    ON CONFLICT (integration_id, bucket) DO UPDATE
    SET tokens = 0, updated_at = clock_timestamp(),
        blocked_until = GREATEST(r.blocked_until, EXCLUDED.blocked_until);
END $$;

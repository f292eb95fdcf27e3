-- Webhook intake throughput. Released migrations are never edited; add a new numbered file.

-- 1. Quiet enqueue. NOTIFY serialises commits: PostgreSQL holds one lock per database from a notifying
-- transaction's pre-commit to the end of its commit, WAL flush included, so writers that notify
-- commit one by one instead of sharing flushes. The daemon's own high-rate writers (the webhook
-- intake, webhook processing) wake their daemon in-process and send one coalesced NOTIFY for the
-- others instead; they mark their transaction with `SET LOCAL mcp.skip_notify = 'on'`.
-- Everyone else (plain SQL enqueuers) still gets one NOTIFY per INSERT statement.
CREATE OR REPLACE FUNCTION mcp.sync_jobs_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('mcp.skip_notify', true) IS DISTINCT FROM 'on' THEN
        PERFORM pg_notify('mcp_sync_jobs', '');
    END IF;
    RETURN NULL;
END
$$;

-- 2. Webhook events are processed by id (the intake names them in each webhook_process job), so
-- nothing reads this index any more; every event paid for it twice (insert and processing).
DROP INDEX mcp.webhook_events_webhook_unprocessed;

-- Notifications: critical changes told to the product's own endpoints, signed as the Standard
-- Webhooks specification says, delivered by the queue. Released migrations are never edited; add
-- a new numbered file.
--
-- The outbox is ops.events itself: a trigger turns each critical event into a row of
-- mcp.notifications and one `notify_deliver` job per endpoint that wants it, in the transaction
-- that recorded the event. So a change made by plain SQL notifies too, and a change that rolls
-- back notifies nobody. Three more kinds of critical change are logged to ops.events here:
-- a circuit breaker opening or closing, and a job that failed for good (token refresh, sync,
-- webhook subscription).

CREATE TABLE mcp.notification_endpoints (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- NULL: every workspace's events.
    workspace_id       uuid REFERENCES core.workspaces (id) ON DELETE CASCADE,
    url                text NOT NULL CHECK (url ~ '^https?://[^/?#]+'),
    -- Empty: every critical type (not the opt-in `sync.completed`).
    event_types        text[] NOT NULL DEFAULT '{}',
    enabled            boolean NOT NULL DEFAULT true,
    disabled_reason    text,
    -- The signing secret (`whsec_…`), sealed by the daemon's vault (record = endpoint id).
    secret_ct          bytea NOT NULL,
    key_id             text NOT NULL,
    -- After a rotation, the previous secret keeps signing beside the new one until then.
    previous_secret_ct bytea,
    previous_key_id    text,
    previous_until     timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (enabled OR disabled_reason IS NOT NULL)
);
CREATE INDEX notification_endpoints_enabled ON mcp.notification_endpoints (workspace_id)
    WHERE enabled;

-- One row per notification: its id is the `webhook-id` every delivery and retry of it carries.
CREATE TABLE mcp.notifications (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id       bigint,
    type           text NOT NULL,
    workspace_id   uuid,
    integration_id uuid,
    occurred_at    timestamptz NOT NULL,
    -- `data` of the body: workspace_id, integration_id, platform and the event's own fields.
    data           jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_created ON mcp.notifications (created_at);

-- The notification type of an ops.events row, or NULL when it is not critical.
CREATE FUNCTION ops.notification_type(event_type text, payload jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN event_type = 'integration.state_changed'
         AND (payload->>'to' IN ('ERROR', 'EXPIRED', 'REVOKED', 'DEGRADED')
              OR (payload->>'to' = 'ACTIVE'
                  AND payload->>'from' IN ('ERROR', 'EXPIRED', 'REVOKED', 'DEGRADED')))
        THEN event_type
    WHEN event_type IN ('integration.reconnect_required', 'integration.breaker_opened',
                        'integration.breaker_closed', 'token.refresh_failed',
                        'webhook.subscription_lost', 'sync.failing', 'sync.completed')
        THEN event_type
END $$;

CREATE FUNCTION ops.notify_from_event() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t         text := ops.notification_type(NEW.event_type, NEW.payload);
    endpoints uuid[];
    n         uuid;
BEGIN
    IF t IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(e.id ORDER BY e.id) INTO endpoints
    FROM mcp.notification_endpoints e
    WHERE e.enabled
      AND (e.workspace_id IS NULL OR e.workspace_id = NEW.workspace_id)
      AND CASE WHEN cardinality(e.event_types) = 0 THEN t <> 'sync.completed'
               ELSE t = ANY (e.event_types) END;
    IF endpoints IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO mcp.notifications (event_id, type, workspace_id, integration_id, occurred_at, data)
    SELECT NEW.id, t, NEW.workspace_id, NEW.integration_id, NEW.created_at,
           NEW.payload || jsonb_strip_nulls(jsonb_build_object(
               'workspace_id', NEW.workspace_id,
               'integration_id', NEW.integration_id,
               'platform', COALESCE(NEW.payload->>'platform',
                                    (SELECT i.platform FROM core.integrations i
                                     WHERE i.id = NEW.integration_id))))
    RETURNING id INTO n;
    -- No integration on the jobs: cancelling an integration's jobs (a disconnect) must not
    -- cancel the notification that it was disconnected.
    PERFORM mcp.enqueue_many(
        'notify_deliver',
        array_fill(NULL::uuid, ARRAY[cardinality(endpoints)]),
        (SELECT array_agg(jsonb_build_object('notification_id', n, 'endpoint_id', e) ORDER BY e)
         FROM unnest(endpoints) e),
        unique_keys => (SELECT array_agg('notify_deliver:' || n || ':' || e ORDER BY e)
                        FROM unnest(endpoints) e));
    RETURN NULL;
END $$;

CREATE TRIGGER events_notify AFTER INSERT ON ops.events
    FOR EACH ROW EXECUTE FUNCTION ops.notify_from_event();

-- A breaker that opens (from closed) or closes is logged.
CREATE FUNCTION ops.log_breaker_change() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO ops.events (workspace_id, integration_id, event_type, payload)
    VALUES (NEW.workspace_id, NEW.id,
            CASE WHEN NEW.circuit_breaker_state = 'open' THEN 'integration.breaker_opened'
                 ELSE 'integration.breaker_closed' END,
            jsonb_build_object('platform', NEW.platform,
                               'consecutive_failures', NEW.consecutive_failures));
    RETURN NULL;
END $$;

CREATE TRIGGER integration_breaker_logged AFTER UPDATE OF circuit_breaker_state ON core.integrations
    FOR EACH ROW
    WHEN ((OLD.circuit_breaker_state = 'closed' AND NEW.circuit_breaker_state = 'open')
          OR (OLD.circuit_breaker_state <> 'closed' AND NEW.circuit_breaker_state = 'closed'))
    EXECUTE FUNCTION ops.log_breaker_change();

-- A job of an integration's kind that failed for good is logged (the finished partition takes
-- the row when its state becomes final).
CREATE FUNCTION ops.log_job_failed_for_good() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO ops.events (workspace_id, integration_id, event_type, payload)
    SELECT i.workspace_id, NEW.integration_id,
           CASE NEW.kind WHEN 'token_refresh' THEN 'token.refresh_failed'
                         WHEN 'sync' THEN 'sync.failing'
                         ELSE 'webhook.subscription_lost' END,
           jsonb_build_object('platform', i.platform, 'job_id', NEW.id, 'kind', NEW.kind,
                              'attempts', NEW.attempt, 'error', NEW.last_error)
    FROM core.integrations i WHERE i.id = NEW.integration_id;
    RETURN NULL;
END $$;

CREATE TRIGGER sync_jobs_failed_for_good AFTER INSERT ON mcp.sync_jobs_done
    FOR EACH ROW
    WHEN (NEW.state = 'discarded'
          AND NEW.kind IN ('token_refresh', 'sync', 'webhook_renew', 'webhook_subscribe'))
    EXECUTE FUNCTION ops.log_job_failed_for_good();

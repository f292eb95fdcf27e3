-- Integrations: workspaces, the integrations and their state machine, health, tokens, webhooks,
-- rate limits, errors, the event log, row-level security by workspace.
-- Released migrations are never edited; add a new numbered file instead.

CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS ops;

CREATE TABLE core.workspaces (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The states of an integration and the transitions between them, as data: the trigger below
-- refuses any change of state that is not a row here, whoever makes it.
CREATE TABLE core.integration_states (
    state       text PRIMARY KEY,
    terminal    boolean NOT NULL DEFAULT false,
    description text NOT NULL
);
INSERT INTO core.integration_states (state, terminal, description) VALUES
    ('PENDING',     false, 'created, not authorized yet'),
    ('AUTHORIZING', false, 'OAuth flow in progress'),
    ('CONNECTED',   false, 'authorized, credentials stored, not yet proven by a health check'),
    ('ACTIVE',      false, 'working: health checks pass, syncing'),
    ('ERROR',       false, 'failing with errors that may pass (retries, circuit breaker)'),
    ('DEGRADED',    false, 'working with limits (rate limited, quota)'),
    ('REVOKED',     false, 'access withdrawn by the user or the platform'),
    ('EXPIRED',     false, 'credentials no longer accepted; the user must reconnect'),
    ('DELETED',     true,  'soft-deleted; terminal');

CREATE TABLE core.integration_transitions (
    from_state text NOT NULL REFERENCES core.integration_states (state),
    to_state   text NOT NULL REFERENCES core.integration_states (state),
    PRIMARY KEY (from_state, to_state),
    CHECK (from_state <> to_state)
);
INSERT INTO core.integration_transitions (from_state, to_state) VALUES
    ('PENDING', 'AUTHORIZING'), ('PENDING', 'CONNECTED'), ('PENDING', 'DELETED'),
    ('AUTHORIZING', 'CONNECTED'), ('AUTHORIZING', 'PENDING'), ('AUTHORIZING', 'ERROR'),
    ('AUTHORIZING', 'DELETED'),
    ('CONNECTED', 'ACTIVE'), ('CONNECTED', 'ERROR'), ('CONNECTED', 'DEGRADED'),
    ('CONNECTED', 'REVOKED'), ('CONNECTED', 'EXPIRED'), ('CONNECTED', 'DELETED'),
    ('ACTIVE', 'ERROR'), ('ACTIVE', 'DEGRADED'), ('ACTIVE', 'REVOKED'), ('ACTIVE', 'EXPIRED'),
    ('ACTIVE', 'DELETED'),
    ('ERROR', 'ACTIVE'), ('ERROR', 'DEGRADED'), ('ERROR', 'REVOKED'), ('ERROR', 'EXPIRED'),
    ('ERROR', 'AUTHORIZING'), ('ERROR', 'DELETED'),
    ('DEGRADED', 'ACTIVE'), ('DEGRADED', 'ERROR'), ('DEGRADED', 'REVOKED'),
    ('DEGRADED', 'EXPIRED'), ('DEGRADED', 'DELETED'),
    ('REVOKED', 'PENDING'), ('REVOKED', 'AUTHORIZING'), ('REVOKED', 'DELETED'),
    ('EXPIRED', 'PENDING'), ('EXPIRED', 'AUTHORIZING'), ('EXPIRED', 'REVOKED'),
    ('EXPIRED', 'DELETED');

CREATE TABLE core.integrations (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id              uuid NOT NULL REFERENCES core.workspaces (id) ON DELETE CASCADE,
    platform                  text NOT NULL CONSTRAINT integrations_platform_is_known CHECK (platform IN
                                ('gmail', 'outlook', 'slack', 'discord', 'zoom', 'fireflies', 'otter',
                                 'loom', 'monday', 'notion', 'granola', 'zerodb', 'zerovoice')),
    state                     text NOT NULL DEFAULT 'PENDING' REFERENCES core.integration_states (state),
    state_reason              text,
    state_changed_at          timestamptz NOT NULL DEFAULT now(),
    display_name              text,
    external_account_id       text,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    -- health (the seed's columns)
    last_health_check         timestamptz,
    health_status             text NOT NULL DEFAULT 'unknown'
                              CHECK (health_status IN ('unknown', 'healthy', 'degraded', 'unhealthy')),
    consecutive_failures      integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    circuit_breaker_state     text NOT NULL DEFAULT 'closed'
                              CHECK (circuit_breaker_state IN ('closed', 'open', 'half_open')),
    circuit_breaker_opened_at timestamptz,
    -- when the half-open probe was handed out (one caller at a time gets it)
    circuit_breaker_probe_at  timestamptz,
    scopes                    text[] NOT NULL DEFAULT '{}',
    webhook_id                uuid,
    sync_cursor               text,
    settings                  jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX integrations_workspace ON core.integrations (workspace_id);
-- What the health sweep and the dashboards scan: integrations that are in service.
CREATE INDEX integrations_in_service ON core.integrations (platform, state)
    WHERE state IN ('CONNECTED', 'ACTIVE', 'DEGRADED', 'ERROR');
CREATE INDEX integrations_breaker_not_closed ON core.integrations (circuit_breaker_opened_at)
    WHERE circuit_breaker_state <> 'closed';

-- Append-only event log.
CREATE TABLE ops.events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id   uuid,
    integration_id uuid,
    event_type     text NOT NULL,
    actor          text NOT NULL DEFAULT current_user,
    payload        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_integration ON ops.events (integration_id, created_at DESC);
CREATE INDEX events_created ON ops.events (created_at);

CREATE FUNCTION ops.events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ops.events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON ops.events
    FOR EACH ROW EXECUTE FUNCTION ops.events_are_append_only();

-- The state machine, enforced for every writer.
CREATE FUNCTION core.check_integration_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'PENDING' THEN
            RAISE EXCEPTION 'a new integration starts in PENDING, not %', NEW.state
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state THEN
        IF NOT EXISTS (SELECT 1 FROM core.integration_transitions
                       WHERE from_state = OLD.state AND to_state = NEW.state) THEN
            RAISE EXCEPTION 'invalid integration state transition from % to %', OLD.state, NEW.state
                USING ERRCODE = 'check_violation',
                      HINT = 'see core.integration_transitions for the allowed ones';
        END IF;
        NEW.state_changed_at := now();
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER integration_state_machine BEFORE INSERT OR UPDATE ON core.integrations
    FOR EACH ROW EXECUTE FUNCTION core.check_integration_state();

-- SECURITY DEFINER: a workspace-scoped role that changes an integration cannot write ops.events
-- itself, but its change is still logged.
CREATE FUNCTION ops.log_integration_state_change() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO ops.events (workspace_id, integration_id, event_type, payload)
        VALUES (NEW.workspace_id, NEW.id, 'integration.created',
                jsonb_build_object('platform', NEW.platform, 'state', NEW.state));
    ELSE
        INSERT INTO ops.events (workspace_id, integration_id, event_type, payload)
        VALUES (NEW.workspace_id, NEW.id, 'integration.state_changed',
                jsonb_build_object('platform', NEW.platform, 'from', OLD.state, 'to', NEW.state,
                                   'reason', NEW.state_reason));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER integration_state_change_logger AFTER INSERT ON core.integrations
    FOR EACH ROW EXECUTE FUNCTION ops.log_integration_state_change();
CREATE TRIGGER integration_state_change_logger_update AFTER UPDATE OF state ON core.integrations
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION ops.log_integration_state_change();

-- Moves an integration to a state (or leaves it there); returns the state it had.
-- Invalid transitions raise from the trigger, naming both states.
CREATE FUNCTION mcp.transition_integration_state(
    p_integration_id uuid,
    p_to_state       text,
    p_reason         text DEFAULT NULL
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_from text;
BEGIN
    SELECT state INTO v_from FROM core.integrations WHERE id = p_integration_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'integration % not found', p_integration_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_from <> p_to_state THEN
        UPDATE core.integrations SET state = p_to_state, state_reason = p_reason
        WHERE id = p_integration_id;
    END IF;
    RETURN v_from;
END $$;

-- Health check history.
CREATE TABLE mcp.health_checks (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration_id uuid NOT NULL REFERENCES core.integrations (id) ON DELETE CASCADE,
    workspace_id   uuid NOT NULL,
    platform       text NOT NULL,
    checked_at     timestamptz NOT NULL DEFAULT now(),
    status         text NOT NULL CHECK (status IN ('healthy', 'degraded', 'unhealthy')),
    latency_ms     integer,
    error_type     text,
    error_message  text,
    http_status    integer
);
CREATE INDEX health_checks_integration ON mcp.health_checks (integration_id, checked_at DESC);
CREATE INDEX health_checks_checked_at ON mcp.health_checks (checked_at);

-- Errors of every kind of platform call, classified.
CREATE TABLE mcp.integration_errors (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration_id uuid NOT NULL REFERENCES core.integrations (id) ON DELETE CASCADE,
    workspace_id   uuid NOT NULL,
    platform       text NOT NULL,
    error_type     text NOT NULL CONSTRAINT integration_errors_type_is_known CHECK (error_type IN
                     ('auth_expired', 'auth_invalid', 'auth_revoked', 'insufficient_scope',
                      'rate_limited', 'quota_exceeded', 'timeout', 'network', 'server_error',
                      'service_unavailable', 'bad_request', 'not_found', 'invalid_response')),
    message        text,
    http_status    integer,
    context        text NOT NULL DEFAULT 'health_check',
    job_id         bigint,
    occurred_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX integration_errors_integration ON mcp.integration_errors (integration_id, occurred_at DESC);
CREATE INDEX integration_errors_occurred ON mcp.integration_errors (occurred_at);

-- Tokens: expiry metadata and the encrypted secrets (XChaCha20-Poly1305, see the vault).
CREATE TABLE mcp.oauth_tokens (
    integration_id     uuid PRIMARY KEY REFERENCES core.integrations (id) ON DELETE CASCADE,
    workspace_id       uuid NOT NULL,
    platform           text NOT NULL,
    token_type         text NOT NULL DEFAULT 'bearer'
                       CHECK (token_type IN ('bearer', 'api_key', 'basic')),
    access_token_ct    bytea,
    refresh_token_ct   bytea,
    key_id             text,
    basic_user         text,
    expires_at         timestamptz,
    refresh_expires_at timestamptz,
    scopes             text[] NOT NULL DEFAULT '{}',
    last_refreshed_at  timestamptz,
    refresh_failures   integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_tokens_expiry ON mcp.oauth_tokens (expires_at) WHERE expires_at IS NOT NULL;

-- Records a token's expiry (and scopes) after a connect or a refresh.
CREATE FUNCTION mcp.update_token_expiry(
    p_integration_id uuid,
    p_expires_at     timestamptz,
    p_refresh_expires_at timestamptz DEFAULT NULL,
    p_scopes         text[] DEFAULT NULL
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE mcp.oauth_tokens
    SET expires_at = p_expires_at,
        refresh_expires_at = COALESCE(p_refresh_expires_at, refresh_expires_at),
        scopes = COALESCE(p_scopes, scopes),
        last_refreshed_at = now(),
        refresh_failures = 0,
        updated_at = now()
    WHERE integration_id = p_integration_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no token stored for integration %', p_integration_id
            USING ERRCODE = 'no_data_found';
    END IF;
END $$;

CREATE TABLE mcp.webhooks (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    integration_id uuid NOT NULL REFERENCES core.integrations (id) ON DELETE CASCADE,
    workspace_id   uuid NOT NULL,
    platform       text NOT NULL,
    external_id    text,
    secret_ct      bytea,
    key_id         text,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'failing', 'disabled')),
    expires_at     timestamptz,
    last_event_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_integration ON mcp.webhooks (integration_id);

CREATE TABLE mcp.webhook_events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id     uuid NOT NULL REFERENCES mcp.webhooks (id) ON DELETE CASCADE,
    integration_id uuid NOT NULL,
    workspace_id   uuid NOT NULL,
    platform       text NOT NULL,
    -- the platform's event id, or the body's SHA-256 where the platform gives none
    dedup_key      text NOT NULL,
    event_type     text,
    payload        jsonb NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    processed_at   timestamptz,
    UNIQUE (webhook_id, dedup_key)
);
CREATE INDEX webhook_events_received ON mcp.webhook_events (received_at);
CREATE INDEX webhook_events_unprocessed ON mcp.webhook_events (received_at) WHERE processed_at IS NULL;

-- Token buckets per integration and bucket, shared by every daemon.
CREATE TABLE mcp.rate_limits (
    integration_id uuid NOT NULL REFERENCES core.integrations (id) ON DELETE CASCADE,
    bucket         text NOT NULL DEFAULT 'default',
    workspace_id   uuid NOT NULL,
    platform       text NOT NULL,
    tokens         double precision NOT NULL,
    capacity       double precision NOT NULL CHECK (capacity > 0),
    refill_per_sec double precision NOT NULL CHECK (refill_per_sec > 0),
    blocked_until  timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (integration_id, bucket)
);

-- The circuit breaker's gate: may a platform call be made for this integration now?
-- closed → yes. open → no, until `p_half_open_after` has passed since it opened; then exactly
-- one caller gets the probe (half_open) and the others get no until the probe's result is
-- recorded (or the probe is `p_half_open_after` old, in case its caller died).
CREATE FUNCTION mcp.can_execute_request(
    p_integration_id  uuid,
    p_half_open_after interval DEFAULT interval '5 minutes'
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_breaker text;
    v_granted boolean;
BEGIN
    SELECT state, circuit_breaker_state INTO v_state, v_breaker
    FROM core.integrations WHERE id = p_integration_id;
    IF NOT FOUND OR v_state NOT IN ('CONNECTED', 'ACTIVE', 'DEGRADED', 'ERROR') THEN
        RETURN false;
    END IF;
    IF v_breaker = 'closed' THEN
        RETURN true;
    END IF;
    UPDATE core.integrations
    SET circuit_breaker_state = 'half_open', circuit_breaker_probe_at = now()
    WHERE id = p_integration_id
      AND ((circuit_breaker_state = 'open'
            AND circuit_breaker_opened_at <= now() - p_half_open_after)
        OR (circuit_breaker_state = 'half_open'
            AND circuit_breaker_probe_at <= now() - p_half_open_after))
    RETURNING true INTO v_granted;
    RETURN COALESCE(v_granted, false);
END $$;

-- Records one health check and applies what it means, in one transaction:
--   healthy   → failures reset, breaker closed, CONNECTED/ERROR/DEGRADED → ACTIVE;
--   an auth error type → EXPIRED (auth_expired, auth_invalid) or REVOKED (auth_revoked);
--   rate_limited / quota_exceeded → DEGRADED (not a failure for the breaker);
--   anything else → failures + 1, ERROR, breaker open at `p_threshold` failures (or at once
--   when the half-open probe fails).
-- Returns the integration's state, breaker state and consecutive failures afterwards.
CREATE FUNCTION mcp.record_health_check(
    p_integration_id uuid,
    p_status         text,
    p_latency_ms     integer DEFAULT NULL,
    p_error_type     text DEFAULT NULL,
    p_error_message  text DEFAULT NULL,
    p_http_status    integer DEFAULT NULL,
    p_threshold      integer DEFAULT 5,
    p_job_id         bigint DEFAULT NULL,
    OUT state text, OUT circuit_breaker_state text, OUT consecutive_failures integer
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    i core.integrations%ROWTYPE;
    v_to text;
    v_reason text;
BEGIN
    SELECT * INTO i FROM core.integrations WHERE id = p_integration_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'integration % not found', p_integration_id USING ERRCODE = 'no_data_found';
    END IF;
    IF p_status NOT IN ('healthy', 'degraded', 'unhealthy') THEN
        RAISE EXCEPTION 'health status must be healthy, degraded or unhealthy, not %', p_status
            USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO mcp.health_checks (integration_id, workspace_id, platform, status, latency_ms,
                                   error_type, error_message, http_status)
    VALUES (i.id, i.workspace_id, i.platform, p_status, p_latency_ms, p_error_type,
            p_error_message, p_http_status);
    IF p_error_type IS NOT NULL THEN
        INSERT INTO mcp.integration_errors (integration_id, workspace_id, platform, error_type,
                                            message, http_status, context, job_id)
        VALUES (i.id, i.workspace_id, i.platform, p_error_type, p_error_message, p_http_status,
                'health_check', p_job_id);
    END IF;

    v_to := i.state;
    IF p_status = 'healthy' THEN
        i.consecutive_failures := 0;
        i.circuit_breaker_state := 'closed';
        i.circuit_breaker_opened_at := NULL;
        i.circuit_breaker_probe_at := NULL;
        IF i.state IN ('CONNECTED', 'ERROR', 'DEGRADED') THEN
            v_to := 'ACTIVE'; v_reason := 'health check passed';
        END IF;
    ELSIF p_error_type IN ('auth_expired', 'auth_invalid') THEN
        v_to := 'EXPIRED'; v_reason := 'health check: ' || p_error_type;
    ELSIF p_error_type = 'auth_revoked' THEN
        v_to := 'REVOKED'; v_reason := 'health check: auth_revoked';
    ELSIF p_status = 'degraded' THEN
        IF i.state IN ('CONNECTED', 'ACTIVE', 'ERROR') THEN
            v_to := 'DEGRADED'; v_reason := 'health check: ' || COALESCE(p_error_type, 'degraded');
        END IF;
        -- a rate-limited probe proves the platform answers: leave the breaker half-open's
        -- probe free for the next caller
        IF i.circuit_breaker_state = 'half_open' THEN
            i.circuit_breaker_probe_at := NULL;
            i.circuit_breaker_state := 'open';
        END IF;
    ELSE
        i.consecutive_failures := i.consecutive_failures + 1;
        IF i.circuit_breaker_state = 'half_open'
           OR (i.circuit_breaker_state = 'closed' AND i.consecutive_failures >= p_threshold) THEN
            i.circuit_breaker_state := 'open';
            i.circuit_breaker_opened_at := now();
            i.circuit_breaker_probe_at := NULL;
        END IF;
        IF i.state IN ('CONNECTED', 'ACTIVE', 'DEGRADED') THEN
            v_to := 'ERROR'; v_reason := 'health check: ' || COALESCE(p_error_type, 'failed');
        END IF;
    END IF;
    IF i.state IN ('REVOKED', 'EXPIRED', 'DELETED', 'PENDING', 'AUTHORIZING') THEN
        v_to := i.state;  -- not in service: record only
    END IF;

    UPDATE core.integrations AS t
    SET last_health_check = now(),
        health_status = p_status,
        consecutive_failures = i.consecutive_failures,
        circuit_breaker_state = i.circuit_breaker_state,
        circuit_breaker_opened_at = i.circuit_breaker_opened_at,
        circuit_breaker_probe_at = i.circuit_breaker_probe_at,
        state = v_to,
        state_reason = CASE WHEN v_to <> i.state THEN v_reason ELSE t.state_reason END
    WHERE t.id = i.id
    RETURNING t.state, t.circuit_breaker_state, t.consecutive_failures
    INTO state, circuit_breaker_state, consecutive_failures;
END $$;

-- Views. security_invoker: a workspace-scoped role sees through them only what row-level
-- security lets it see in the tables.
CREATE VIEW mcp.v_integration_health_summary WITH (security_invoker = true) AS
SELECT i.id AS integration_id, i.workspace_id, i.platform, i.state, i.health_status,
       i.last_health_check, i.consecutive_failures, i.circuit_breaker_state,
       i.circuit_breaker_opened_at,
       h.checks_24h, h.failures_24h,
       CASE WHEN h.checks_24h > 0
            THEN round(100.0 * (h.checks_24h - h.failures_24h) / h.checks_24h, 1) END
           AS success_rate_24h_pct,
       h.avg_latency_ms_24h
FROM core.integrations i
LEFT JOIN LATERAL (
    SELECT count(*) AS checks_24h,
           count(*) FILTER (WHERE c.status = 'unhealthy') AS failures_24h,
           round(avg(c.latency_ms)) AS avg_latency_ms_24h
    FROM mcp.health_checks c
    WHERE c.integration_id = i.id AND c.checked_at > now() - interval '24 hours'
) h ON true
WHERE i.state <> 'DELETED';

CREATE VIEW mcp.v_tokens_expiring_soon WITH (security_invoker = true) AS
SELECT t.integration_id, t.workspace_id, t.platform, i.state, t.expires_at,
       t.expires_at - now() AS expires_in,
       t.refresh_token_ct IS NOT NULL AS has_refresh_token,
       t.last_refreshed_at, t.refresh_failures
FROM mcp.oauth_tokens t
JOIN core.integrations i ON i.id = t.integration_id
WHERE t.expires_at < now() + interval '48 hours'
  AND i.state IN ('CONNECTED', 'ACTIVE', 'DEGRADED', 'ERROR');

CREATE VIEW mcp.v_recent_integration_errors WITH (security_invoker = true) AS
SELECT e.id, e.integration_id, e.workspace_id, e.platform, i.state AS integration_state,
       e.error_type, e.message, e.http_status, e.context, e.job_id, e.occurred_at
FROM mcp.integration_errors e
JOIN core.integrations i ON i.id = e.integration_id
WHERE e.occurred_at > now() - interval '7 days';

-- The running-jobs view gains the integration's platform and workspace (columns added last).
CREATE OR REPLACE VIEW mcp.v_active_sync_jobs AS
SELECT j.id, j.kind, j.queue, j.integration_id, j.attempt, j.max_attempts,
       j.locked_by AS worker,
       j.attempted_at AS started_at,
       j.lease_expires_at,
       now() - j.attempted_at AS running_for,
       i.platform,
       i.workspace_id
FROM mcp.sync_jobs j
LEFT JOIN core.integrations i ON i.id = j.integration_id
WHERE j.state = 'running';

-- Row-level security by workspace. The daemon (the tables' owner) is not subject to it; a role
-- granted mcp_workspace_member sees and changes only the rows of the workspace named by the
-- session setting mcp.workspace_id (SET mcp.workspace_id = '…').
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mcp_workspace_member') THEN
        CREATE ROLE mcp_workspace_member NOLOGIN;
    END IF;
END $$;

CREATE FUNCTION core.current_workspace_id() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT NULLIF(current_setting('mcp.workspace_id', true), '')::uuid
$$;

GRANT USAGE ON SCHEMA core, mcp, ops TO mcp_workspace_member;
GRANT SELECT ON core.integration_states, core.integration_transitions TO mcp_workspace_member;
GRANT SELECT ON core.workspaces, ops.events, mcp.health_checks, mcp.integration_errors,
      mcp.webhooks, mcp.webhook_events, mcp.rate_limits TO mcp_workspace_member;
GRANT SELECT, INSERT, UPDATE ON core.integrations TO mcp_workspace_member;
GRANT SELECT (integration_id, workspace_id, platform, token_type, expires_at, refresh_expires_at,
              scopes, last_refreshed_at, refresh_failures, created_at, updated_at)
      ON mcp.oauth_tokens TO mcp_workspace_member;
GRANT SELECT ON mcp.v_integration_health_summary, mcp.v_recent_integration_errors
      TO mcp_workspace_member;
GRANT EXECUTE ON FUNCTION mcp.transition_integration_state(uuid, text, text) TO mcp_workspace_member;

ALTER TABLE core.workspaces ENABLE ROW LEVEL SECURITY;
CREATE POLICY workspace_isolation ON core.workspaces TO mcp_workspace_member
    USING (id = core.current_workspace_id());
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['core.integrations', 'ops.events', 'mcp.health_checks',
                             'mcp.integration_errors', 'mcp.oauth_tokens', 'mcp.webhooks',
                             'mcp.webhook_events', 'mcp.rate_limits']
    LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY workspace_isolation ON %s TO mcp_workspace_member '
                       'USING (workspace_id = core.current_workspace_id()) '
                       'WITH CHECK (workspace_id = core.current_workspace_id())', t);
    END LOOP;
END $$;

//! Prometheus metrics: the names, their help texts, and the recorder behind `/metrics`.
//! Every series a dashboard or alert may use is registered at start (at zero), so rates work from
//! the first scrape. Labels carry kinds, states and schedule names only, never payloads or secrets.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use mcp_queue::metrics::*;

pub const DATABASE_UP: &str = "mcp_database_up";
pub const BUILD_INFO: &str = "mcp_worker_build_info";
pub const HEALTH_CHECKS: &str = "mcp_health_checks_total";
pub const HEALTH_CHECK_DURATION: &str = "mcp_health_check_duration_seconds";
pub const INTEGRATION_ERRORS: &str = "mcp_integration_errors_total";
pub const INTEGRATIONS: &str = "mcp_integrations";
pub const CIRCUIT_BREAKERS: &str = "mcp_circuit_breakers";
pub const TOKEN_REFRESHES: &str = "mcp_token_refreshes_total";
pub const TOKEN_REFRESH_DURATION: &str = "mcp_token_refresh_duration_seconds";
pub const TOKEN_EARLIEST_EXPIRY: &str = "mcp_token_earliest_expiry_seconds";
pub const VAULT_KEY_AGE: &str = "mcp_vault_key_age_seconds";
pub const VAULT_KEYS: &str = "mcp_vault_keys";
pub const WEBHOOK_EVENTS: &str = "mcp_webhook_events_total";
pub const WEBHOOK_INTAKE: &str = "mcp_webhook_intake_seconds";
/// Notification deliveries by outcome: delivered, failed (will retry), exhausted (the last
/// attempt failed), gone (endpoint removed, disabled by a 410, or refused).
pub const NOTIFICATIONS: &str = "mcp_notification_deliveries_total";
/// From the change to its delivery (2xx), seconds.
pub const NOTIFICATION_LATENCY: &str = "mcp_notification_delivery_seconds";
/// Notification endpoints that are disabled (a 410, or by hand).
pub const NOTIFICATION_ENDPOINTS_DISABLED: &str = "mcp_notification_endpoints_disabled";
pub const WEBHOOK_PROCESSING: &str = "mcp_webhook_processing_seconds";
/// Open connections of a listener (`listener`: public, admin).
pub const HTTP_CONNECTIONS: &str = "mcp_http_connections";
/// Connections a listener closed at once because it held `max_connections` already.
pub const HTTP_CONNECTIONS_REFUSED: &str = "mcp_http_connections_refused_total";

/// Outcomes of `mcp_webhook_events_total`: stored, a repeated delivery, a handshake answered,
/// an app-level event for no live integration (answered 200, stored nothing), and one per
/// reason a delivery is refused (`not_configured`: no app secret for the app-level URL;
/// `handshake_refused`: a Notion verification request while a token is stored).
pub const WEBHOOK_OUTCOMES: &[&str] = &[
    "accepted",
    "duplicate",
    "handshake",
    "handshake_refused",
    "unrouted",
    "not_configured",
    "bad_signature",
    "stale",
    "unknown_webhook",
    "too_large",
    "bad_content_type",
    "malformed",
    "unavailable",
];

/// Outcomes of `mcp_token_refreshes_total` besides the 13 error types.
pub const REFRESH_OUTCOMES: &[&str] = &["refreshed", "rotated", "store_failed", "after_refusal"];
pub const OAUTH_CONNECTS: &str = "mcp_oauth_connects_total";

/// Outcomes of `mcp_oauth_connects_total`: a connect started (redirected to the platform), a
/// callback that connected, one refused for its state, one whose code exchange failed, one the
/// user denied at the platform, and any other failure.
pub const OAUTH_CONNECT_OUTCOMES: &[&str] = &[
    "started",
    "connected",
    "invalid_state",
    "exchange_failed",
    "account_taken",
    "denied",
    "error",
];

/// Outcomes of `mcp_health_checks_total` besides the 13 error types.
pub const HEALTH_OUTCOMES: &[&str] = &[
    "healthy",
    "skipped_breaker_open",
    "skipped_not_in_service",
    "credentials_error",
];
pub const BREAKER_STATES: &[&str] = &["closed", "open", "half_open"];

const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot build the Prometheus recorder: {0}")]
    Build(String),
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once and returns the handle that renders `/metrics`.
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(JOB_DURATION.into()), DURATION_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(CLAIM_BATCH.into()), BATCH_BUCKETS))
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(COMPLETE_BATCH.into()), BATCH_BUCKETS))
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(HEALTH_CHECK_DURATION.into()), HTTP_BUCKETS)
        })
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(TOKEN_REFRESH_DURATION.into()), HTTP_BUCKETS)
        })
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(WEBHOOK_INTAKE.into()), HTTP_BUCKETS))
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(DB_POOL_WAIT.into()), POOL_WAIT_BUCKETS)
        })
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(WEBHOOK_PROCESSING.into()), HTTP_BUCKETS)
        })
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(NOTIFICATION_LATENCY.into()), HTTP_BUCKETS)
        })
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(crate::assistant::DURATION.into()),
                HTTP_BUCKETS,
            )
        })
        .map_err(|e| MetricsError::Build(e.to_string()))?
        .build_recorder();
    let handle = recorder.handle();
    // Losing the race to another thread (tests) is fine: that recorder serves everyone.
    let _ = metrics::set_global_recorder(recorder);
    let handle = HANDLE.get_or_init(|| handle).clone();
    describe_all();
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            upkeep.run_upkeep();
        })
        .map_err(|e| MetricsError::Build(e.to_string()))?;
    Ok(handle)
}

fn describe_all() {
    mcp_queue::metrics::describe();
    describe_gauge!(
        DATABASE_UP,
        "1 when the readiness probe's last try reached the database, else 0."
    );
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label says which build runs."
    );
    describe_counter!(
        HEALTH_CHECKS,
        "Health checks by platform and outcome (healthy, an error type, or skipped)."
    );
    describe_histogram!(
        HEALTH_CHECK_DURATION,
        Unit::Seconds,
        "Time of the platform call of a health check, by platform."
    );
    describe_counter!(
        INTEGRATION_ERRORS,
        "Failed platform calls by platform and error type (the 13-type taxonomy)."
    );
    describe_gauge!(INTEGRATIONS, "Integrations by platform and state.");
    describe_counter!(
        TOKEN_REFRESHES,
        "Token refreshes by platform and outcome (refreshed, rotated, store_failed, after_refusal: a call's refused access token refreshed and the call made again, or an error type)."
    );
    describe_histogram!(
        TOKEN_REFRESH_DURATION,
        Unit::Seconds,
        "Time of a successful token refresh (lock, platform call, store), by platform."
    );
    describe_gauge!(
        TOKEN_EARLIEST_EXPIRY,
        Unit::Seconds,
        "Seconds until the earliest expiry among tokens of integrations in service (negative: already expired)."
    );
    describe_gauge!(
        VAULT_KEY_AGE,
        Unit::Seconds,
        "Age of the vault key that encrypts new writes, since this deployment first saw it (policy: rotate by 90 days)."
    );
    describe_gauge!(VAULT_KEYS, "Vault keys loaded by this daemon.");
    describe_counter!(
        OAUTH_CONNECTS,
        "OAuth connects by platform and outcome (started, connected, invalid_state, exchange_failed, denied, error)."
    );
    describe_counter!(
        WEBHOOK_EVENTS,
        "Webhook deliveries by platform and outcome (accepted, duplicate, handshake, or the reason refused)."
    );
    describe_histogram!(
        WEBHOOK_INTAKE,
        Unit::Seconds,
        "Time to answer one webhook delivery (read, verify, store), by platform."
    );
    describe_counter!(
        NOTIFICATIONS,
        "Notification deliveries by outcome (delivered, failed: will retry, exhausted, gone: endpoint removed, disabled or refused)."
    );
    describe_histogram!(
        NOTIFICATION_LATENCY,
        Unit::Seconds,
        "Time from a critical change to its notification's delivery (2xx)."
    );
    describe_gauge!(
        NOTIFICATION_ENDPOINTS_DISABLED,
        "Notification endpoints that are disabled (a 410 from the endpoint, or by hand)."
    );
    describe_histogram!(
        WEBHOOK_PROCESSING,
        Unit::Seconds,
        "Time from a webhook event's intake to its processing, by platform."
    );
    describe_gauge!(
        HTTP_CONNECTIONS,
        "Open connections by listener (public, admin)."
    );
    describe_counter!(
        HTTP_CONNECTIONS_REFUSED,
        "Connections refused by listener (public, admin): it held its max_connections already (answered 503 and closed)."
    );
    describe_gauge!(
        CIRCUIT_BREAKERS,
        "Integrations by platform and circuit breaker state (closed, open, half_open)."
    );
}

/// What `mcp_token_earliest_expiry_seconds` says when no token of an integration in service is
/// known: a day past the refresh horizon rather than a misleading zero.
pub const TOKEN_EXPIRY_UNKNOWN_S: f64 = 7.0 * 86_400.0;

/// Registers the gauges sampled by background loops, so that they are on the first scrape:
/// the pool, database and vault gauges keep any value already sampled (`increment(0.0)`); the
/// earliest expiry starts at "no token known" until the first sample.
fn register_sampled_gauges() {
    for state in ["idle", "in_use"] {
        gauge!(POOL_CONNECTIONS, "state" => state).increment(0.0);
    }
    gauge!(POOL_MAX).increment(0.0);
    gauge!(DATABASE_UP).increment(0.0);
    gauge!(VAULT_KEY_AGE).increment(0.0);
    gauge!(VAULT_KEYS).increment(0.0);
    gauge!(TOKEN_EARLIEST_EXPIRY).set(TOKEN_EXPIRY_UNKNOWN_S);
}

/// Registers every per-platform series at zero (called before the sampling loops start).
pub fn register_platforms() {
    register_sampled_gauges();
    for o in ["delivered", "failed", "exhausted", "gone"] {
        counter!(NOTIFICATIONS, "outcome" => o).increment(0);
    }
    let _ = histogram!(NOTIFICATION_LATENCY);
    // Sampled with the integration gauges; zero until the first sample.
    gauge!(NOTIFICATION_ENDPOINTS_DISABLED).set(0.0);
    for p in mcp_platforms::connectors::Platform::ALL {
        let p = p.as_str();
        // Registering a histogram exports its buckets at zero.
        let _ = histogram!(HEALTH_CHECK_DURATION, "platform" => p);
        let _ = histogram!(TOKEN_REFRESH_DURATION, "platform" => p);
        for o in REFRESH_OUTCOMES {
            counter!(TOKEN_REFRESHES, "platform" => p, "outcome" => *o).increment(0);
        }
        for o in HEALTH_OUTCOMES {
            counter!(HEALTH_CHECKS, "platform" => p, "outcome" => *o).increment(0);
        }
        for t in mcp_platforms::connectors::ErrorType::ALL {
            counter!(TOKEN_REFRESHES, "platform" => p, "outcome" => t.as_str()).increment(0);
            counter!(HEALTH_CHECKS, "platform" => p, "outcome" => t.as_str()).increment(0);
            counter!(INTEGRATION_ERRORS, "platform" => p, "error_type" => t.as_str()).increment(0);
        }
        for st in crate::integration_state::IntegrationState::ALL {
            gauge!(INTEGRATIONS, "platform" => p, "state" => st.as_str()).set(0.0);
        }
        for b in BREAKER_STATES {
            gauge!(CIRCUIT_BREAKERS, "platform" => p, "state" => *b).set(0.0);
        }
    }
    for p in mcp_platforms::webhooks::PLATFORMS {
        let p = p.as_str();
        let _ = histogram!(WEBHOOK_INTAKE, "platform" => p);
        let _ = histogram!(WEBHOOK_PROCESSING, "platform" => p);
        for o in WEBHOOK_OUTCOMES {
            counter!(WEBHOOK_EVENTS, "platform" => p, "outcome" => *o).increment(0);
        }
    }
    for p in mcp_platforms::connectors::Platform::ALL {
        if mcp_platforms::connectors::registry::uses_oauth(p) {
            for o in OAUTH_CONNECT_OUTCOMES {
                counter!(OAUTH_CONNECTS, "platform" => p.as_str(), "outcome" => *o).increment(0);
            }
        }
    }
}

/// One webhook delivery answered: its outcome and how long the intake took.
pub fn webhook_intake(platform: &str, outcome: &'static str, took: Duration) {
    counter!(WEBHOOK_EVENTS, "platform" => platform.to_string(), "outcome" => outcome).increment(1);
    histogram!(WEBHOOK_INTAKE, "platform" => platform.to_string()).record(took.as_secs_f64());
}

/// One webhook event processed, `waited` after its intake.
pub fn webhook_processed(platform: &str, waited: Duration) {
    histogram!(WEBHOOK_PROCESSING, "platform" => platform.to_string()).record(waited.as_secs_f64());
}

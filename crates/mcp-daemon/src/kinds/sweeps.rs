//! The periodic sweeps: each enqueues the work of one kind for every integration due, on its
//! default cron schedule.

use std::time::Duration;

use mcp_queue::catalog::RetryPolicy;
use mcp_queue::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Enqueues a health_check for every integration in service, spread over a window.
#[derive(Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct HealthSweep {
    /// Override health.spread, in seconds (0: all checks due at once).
    pub spread_s: Option<u64>,
}

impl Kind for HealthSweep {
    const KIND: &'static str = "health_sweep";
    const DESCRIPTION: &'static str =
        "Enqueues a health_check for every integration in service, spread over a window.";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        timeout: Duration::from_secs(300),
        backoff_base: Duration::from_secs(30),
        backoff_max: Duration::from_secs(600),
    };
    const DEFAULT_SCHEDULE: Option<&'static str> = Some("0 */6 * * *");
}

/// Enqueues a sync for every integration due, on the polling fallback interval when its webhook is silent.
#[derive(Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SyncSweep {
    /// Override sync.spread, in seconds (0: all due syncs at once).
    pub spread_s: Option<u64>,
}

impl Kind for SyncSweep {
    const KIND: &'static str = "sync_sweep";
    const DESCRIPTION: &'static str =
        "Enqueues a sync for every integration due, on the polling fallback interval when its webhook is silent.";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        timeout: Duration::from_secs(300),
        backoff_base: Duration::from_secs(30),
        backoff_max: Duration::from_secs(300),
    };
    const DEFAULT_SCHEDULE: Option<&'static str> = Some("*/5 * * * *");
}

/// Enqueues a reconcile for every integration whose last full listing is older than its interval.
#[derive(Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSweep {
    /// Override reconcile.spread, in seconds (0: all due reconciles at once).
    pub spread_s: Option<u64>,
}

impl Kind for ReconcileSweep {
    const KIND: &'static str = "reconcile_sweep";
    const DESCRIPTION: &'static str =
        "Enqueues a reconcile for every integration whose last full listing is older than its interval.";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        timeout: Duration::from_secs(300),
        backoff_base: Duration::from_secs(30),
        backoff_max: Duration::from_secs(300),
    };
    const DEFAULT_SCHEDULE: Option<&'static str> = Some("23 * * * *");
}

/// Enqueues a token_refresh for every token that expires within the refresh window.
#[derive(Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TokenRefreshSweep {
    /// Override refresh.ahead, in seconds.
    pub ahead_s: Option<u64>,
}

impl Kind for TokenRefreshSweep {
    const KIND: &'static str = "token_refresh_sweep";
    const DESCRIPTION: &'static str =
        "Enqueues a token_refresh for every token that expires within the refresh window.";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        timeout: Duration::from_secs(300),
        backoff_base: Duration::from_secs(30),
        backoff_max: Duration::from_secs(600),
    };
    const DEFAULT_SCHEDULE: Option<&'static str> = Some("0 * * * *");
}

/// Enqueues a webhook_renew for every subscription that expires soon.
#[derive(Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct WebhookRenewSweep {
    /// Override webhooks.renew_ahead, in seconds.
    pub ahead_s: Option<u64>,
}

impl Kind for WebhookRenewSweep {
    const KIND: &'static str = "webhook_renew_sweep";
    const DESCRIPTION: &'static str =
        "Enqueues a webhook_renew for every subscription that expires soon.";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        timeout: Duration::from_secs(300),
        backoff_base: Duration::from_secs(30),
        backoff_max: Duration::from_secs(600),
    };
    const DEFAULT_SCHEDULE: Option<&'static str> = Some("30 * * * *");
}

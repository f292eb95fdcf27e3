//! Notifications: critical changes told to the product's endpoints. The outbox is `ops.events`
//! (migration 0010: a trigger writes `mcp.notifications` and one `notify_deliver` job per
//! endpoint in the transaction that records the change). This module manages the endpoints and
//! their sealed secrets (`endpoints`), and delivers one notification to one endpoint, signed as
//! the Standard Webhooks specification says (`deliver`). It never logs a secret or a body.

pub mod deliver;
pub mod endpoints;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use deliver::{Deliverer, Delivery};
pub use endpoints::{Endpoint, NotifyError};

/// The daemon's one `Deliverer`, made at the first delivery.
#[derive(Default)]
pub struct Notifier(std::sync::OnceLock<Deliverer>);

impl Notifier {
    pub fn get(&self, cfg: &NotifyConfig) -> Result<&Deliverer, reqwest::Error> {
        if let Some(d) = self.0.get() {
            return Ok(d);
        }
        let d = Deliverer::new(cfg)?;
        Ok(self.0.get_or_init(|| d))
    }
}

/// `[notify]`.
#[derive(Clone, Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Deliver to loopback, private and link-local addresses too (tests, on-premises
    /// receivers). Off: such destinations are refused, whatever a name resolves to.
    pub allow_private: bool,
    /// One delivery's limit, connect to last byte.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// After `rotate-secret`, the old secret keeps signing beside the new one this long.
    #[serde(with = "humantime_serde")]
    pub secret_overlap: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            allow_private: false,
            timeout: Duration::from_secs(15),
            secret_overlap: Duration::from_secs(24 * 3600),
        }
    }
}

/// The critical types an endpoint gets when it names none, and the opt-in one.
pub const CRITICAL_TYPES: &[&str] = &[
    "integration.state_changed",
    "integration.reconnect_required",
    "integration.breaker_opened",
    "integration.breaker_closed",
    "token.refresh_failed",
    "webhook.subscription_lost",
    "sync.failing",
];
pub const OPT_IN_TYPES: &[&str] = &["sync.completed"];
/// What `notify test` sends.
pub const TEST_TYPE: &str = "notification.test";

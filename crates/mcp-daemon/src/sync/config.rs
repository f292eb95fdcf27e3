//! `[sync]`: how often integrations are synced, the polling fallback for silent webhooks, and
//! each platform's published request rate (the token buckets). Plain settings: this module
//! never calls a platform or the database.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use mcp_platforms::connectors::{MethodLimit, Platform};

pub use mcp_queue::config::Every;

/// A token bucket: `capacity` tokens (the burst), refilled at `per_sec`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub capacity: f64,
    pub per_sec: f64,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// An integration is synced when its last sync is older than this.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Per-platform overrides of `interval`.
    pub intervals: BTreeMap<String, Every>,
    /// The shorter interval of an integration whose webhook is missing, failing or silent.
    #[serde(with = "humantime_serde")]
    pub fallback_interval: Duration,
    /// A webhook without an event for this long counts as silent.
    #[serde(with = "humantime_serde")]
    pub webhook_silence: Duration,
    /// Snooze of a rate-limited sync when the platform names no Retry-After.
    #[serde(with = "humantime_serde")]
    pub default_retry_after: Duration,
    /// The sweep spreads the syncs it enqueues over this window (capped by each interval).
    #[serde(with = "humantime_serde")]
    pub spread: Duration,
    /// A bucket wait longer than this snoozes the job instead of sleeping in it.
    #[serde(with = "humantime_serde")]
    pub max_inline_wait: Duration,
    /// Request rate per integration, by platform (the platforms' published limits).
    pub rate_limits: BTreeMap<String, RateLimit>,
    /// Overrides of the limits a platform puts on one method of its own, by bucket name
    /// (`notion:blocks.children`, `slack:conversations.history`): a plan with higher limits,
    /// or a local fake of the platforms. Unset: the documented limit the connector knows.
    pub method_limits: BTreeMap<String, RateLimit>,
}

/// A platform's request rate per connection, as its module publishes it (`Defaults::rate`): a
/// sync takes one token per list call.
pub fn default_rate_limit(p: Platform) -> RateLimit {
    let (capacity, per_sec) = mcp_platforms::connectors::registry::defaults(p).rate;
    RateLimit { capacity, per_sec }
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            interval: Duration::from_secs(3600),
            intervals: BTreeMap::new(),
            fallback_interval: Duration::from_secs(300),
            webhook_silence: Duration::from_secs(1800),
            default_retry_after: Duration::from_secs(60),
            spread: Duration::from_secs(300),
            max_inline_wait: Duration::from_secs(5),
            rate_limits: Platform::ALL
                .into_iter()
                .map(|p| (p.as_str().to_string(), default_rate_limit(p)))
                .collect(),
            method_limits: BTreeMap::new(),
        }
    }
}

impl SyncConfig {
    pub fn rate_limit(&self, p: Platform) -> RateLimit {
        self.rate_limits
            .get(p.as_str())
            .copied()
            .unwrap_or_else(|| default_rate_limit(p))
    }

    /// A method's limit, with `method_limits`' override of its bucket.
    pub fn method_limit(&self, m: Option<MethodLimit>) -> Option<MethodLimit> {
        m.map(|m| match self.method_limits.get(m.bucket) {
            Some(r) => MethodLimit {
                capacity: r.capacity,
                per_sec: r.per_sec,
                ..m
            },
            None => m,
        })
    }

    pub fn interval(&self, p: Platform) -> Duration {
        self.intervals
            .get(p.as_str())
            .map_or(self.interval, |e| e.0)
    }

    /// Whether the values make sense: a message naming the key, if not.
    pub fn check(&self) -> Result<(), (String, String)> {
        for (name, r) in &self.rate_limits {
            if Platform::parse(name).is_none() {
                return Err((
                    format!("sync.rate_limits.{name}"),
                    "no such platform".into(),
                ));
            }
            if !(r.capacity >= 1.0 && r.per_sec > 0.0) {
                return Err((
                    format!("sync.rate_limits.{name}"),
                    "capacity must be at least 1 and per_sec positive".into(),
                ));
            }
        }
        for (name, r) in &self.method_limits {
            if !(r.capacity >= 1.0 && r.per_sec > 0.0) {
                return Err((
                    format!("sync.method_limits.{name}"),
                    "capacity must be at least 1 and per_sec positive".into(),
                ));
            }
        }
        for name in self.intervals.keys() {
            if Platform::parse(name).is_none() {
                return Err((format!("sync.intervals.{name}"), "no such platform".into()));
            }
        }
        if self.interval.is_zero() || self.fallback_interval.is_zero() {
            return Err(("sync.interval".into(), "intervals must be positive".into()));
        }
        Ok(())
    }
}

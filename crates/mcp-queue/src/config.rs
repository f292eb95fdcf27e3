//! The engine's configuration sections: `[worker]`, `[scheduler]`, `[kinds.<kind>]` and
//! `[schedules.<name>]`. The daemon's config file embeds them under those names; `check` is their
//! validation, naming the key at fault.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::catalog::KindOverride;
pub use crate::scheduler::ScheduleConfig;

/// A duration written as humantime text (`"5m"`), usable as a map value (per-platform or
/// per-kind intervals).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Every(#[serde(with = "humantime_serde")] pub Duration);

#[derive(Clone, Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Jobs run at once by this daemon.
    pub concurrency: usize,
    /// Most jobs claimed by one query.
    pub fetch_batch: usize,
    /// Most outcomes written by one query.
    pub complete_batch: usize,
    /// Poll for due jobs this often even when no NOTIFY arrives.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Time added to a kind's timeout to make the lease of a claimed job.
    #[serde(with = "humantime_serde")]
    pub lease_grace: Duration,
    /// How often running jobs whose lease ran out are taken back.
    #[serde(with = "humantime_serde")]
    pub rescue_interval: Duration,
    /// On SIGTERM, how long in-flight jobs may go on before they are put back.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How often queue depth gauges are refreshed.
    #[serde(with = "humantime_serde")]
    pub stats_interval: Duration,
    /// Only claim jobs of these queues; empty means every queue.
    pub queues: Vec<String>,
    /// How often the live jobs partition's dead rows are looked at.
    #[serde(with = "humantime_serde")]
    pub vacuum_interval: Duration,
    /// Vacuum the live jobs partition once it holds more dead rows than this (0: never).
    pub vacuum_dead_rows: i64,
}

#[derive(Clone, Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    pub enabled: bool,
    /// How often due cron ticks are looked for.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 4000,
            fetch_batch: 2000,
            complete_batch: 2000,
            poll_interval: Duration::from_secs(1),
            lease_grace: Duration::from_secs(30),
            rescue_interval: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(20),
            stats_interval: Duration::from_secs(10),
            queues: Vec::new(),
            vacuum_interval: Duration::from_secs(1),
            vacuum_dead_rows: 20_000,
        }
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            enabled: true,
            interval: Duration::from_secs(1),
        }
    }
}

/// Checks the engine's sections; the error is (key, message).
pub fn check(worker: &WorkerConfig, scheduler: &SchedulerConfig) -> Result<(), (String, String)> {
    let w = worker;
    if w.concurrency == 0 {
        return Err(invalid("worker.concurrency", "must be at least 1"));
    }
    if w.fetch_batch == 0 {
        return Err(invalid("worker.fetch_batch", "must be at least 1"));
    }
    if w.complete_batch == 0 {
        return Err(invalid("worker.complete_batch", "must be at least 1"));
    }
    for (key, d) in [
        ("worker.poll_interval", w.poll_interval),
        ("worker.rescue_interval", w.rescue_interval),
        ("worker.stats_interval", w.stats_interval),
        ("worker.vacuum_interval", w.vacuum_interval),
        ("scheduler.interval", scheduler.interval),
    ] {
        if d.is_zero() {
            return Err(invalid(key, "must be longer than zero"));
        }
    }
    Ok(())
}

/// Checks the `[kinds.*]` and `[schedules.*]` sections against the catalogue of the kinds this
/// binary runs, naming the key at fault.
pub fn check_kinds(
    kinds: &BTreeMap<String, KindOverride>,
    schedules: &BTreeMap<String, ScheduleConfig>,
    catalog: &crate::catalog::Catalog,
) -> Result<(), (String, String)> {
    for (name, o) in kinds {
        if catalog.get(name).is_none() {
            return Err(invalid(format!("kinds.{name}"), "no such job kind"));
        }
        if o.max_attempts == Some(0) {
            return Err(invalid(
                format!("kinds.{name}.max_attempts"),
                "must be at least 1",
            ));
        }
        if o.timeout.is_some_and(|t| t.is_zero()) {
            return Err(invalid(
                format!("kinds.{name}.timeout"),
                "must be longer than zero",
            ));
        }
        if o.concurrency == Some(0) {
            return Err(invalid(
                format!("kinds.{name}.concurrency"),
                "must be at least 1",
            ));
        }
    }
    for (name, s) in schedules {
        let kind = s.kind.as_deref().unwrap_or(name);
        let default = catalog.get(kind).and_then(|k| k.default_schedule.clone());
        match s.cron.as_ref().or(default.as_ref()) {
            Some(expr) => {
                crate::cron_expr::parse_cron(expr)
                    .map_err(|m| invalid(format!("schedules.{name}.cron"), m))?;
            }
            None => {
                return Err(invalid(
                    format!("schedules.{name}.cron"),
                    "missing (only a kind's own default schedule may leave it out)",
                ))
            }
        }
        if catalog.get(kind).is_none() {
            return Err(invalid(
                format!("schedules.{name}.kind"),
                format!("no such job kind `{kind}`"),
            ));
        }
        if !s.payload.is_object() {
            return Err(invalid(
                format!("schedules.{name}.payload"),
                "must be a table",
            ));
        }
    }
    Ok(())
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> (String, String) {
    (key.into(), message.into())
}

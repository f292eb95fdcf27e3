//! mcp-handlers: what runs. One file per job kind, each the `run` of that kind's type
//! (`mcp_daemon::kinds`), the registry of them that makes the catalogue (`builtin_catalog`,
//! `catalog`), the start-up checks (`preflight`) and the daemon's run (`daemon::run`), which wires
//! the engine, the HTTP listeners and these handlers together.
//!
//! Each handler implements `mcp_queue::Job`: it gets a `JobContext` and its decoded payload (the
//! type itself) and returns `Ok(())` or a `JobError` saying what should happen next; it never
//! writes to `mcp.sync_jobs` itself (the engine records the outcome). The domain they act on
//! (integrations, credentials, items, webhooks, HTTP) is `mcp_daemon`'s; this crate is kept
//! small so that a change to a handler rebuilds only it and the binaries.

pub mod daemon;
pub mod preflight;

mod content;
mod gate;
mod health_check;
mod health_sweep;
mod items_backfill;
mod listing;
mod noop;
mod notify_deliver;
mod prune;
mod reconcile;
mod reconcile_sweep;
mod sync;
mod sync_sweep;
mod token_refresh;
mod token_refresh_sweep;
mod webhook_process;
mod webhook_renew;
mod webhook_subscribe;
mod webhook_unsubscribe;

use std::sync::{Arc, OnceLock};

use mcp_daemon::kinds;
use mcp_queue::catalog::Catalog;
use mcp_queue::Registry;

use mcp_daemon::config::{Config, ConfigError};
use mcp_queue::Queue;

/// Shared things a handler may use.
pub struct Services {
    pub queue: Queue,
    pub config: Arc<Config>,
    pub connectors: Arc<mcp_platforms::connectors::Connectors>,
    pub vault: Arc<mcp_daemon::vault::Vault>,
    /// Groups the `webhook_process` attempts running at once into one statement.
    pub webhook_events: mcp_daemon::webhooks::process::EventProcessor,
    /// The notification deliveries' HTTP client.
    pub notifier: mcp_daemon::notify::Notifier,
    /// Wakes the change feed's readers after the item writers' commits.
    pub feed: mcp_daemon::items::FeedWake,
}

/// The item modeller of the daemon's connectors and `[items]`.
pub fn modeller(s: &Services) -> mcp_daemon::items::Modeller {
    mcp_daemon::items::Modeller::new(s.connectors.clone(), s.config.items.clone())
}

/// One claimed attempt of one job, with the daemon's services.
pub type JobContext = mcp_queue::JobContext<Services>;
pub use mcp_queue::{Job, JobError, Kind};

/// The catalogue of every kind this binary ships, with their own policies. Panics only if a
/// kind's declaration is invalid, which the test suite rules out.
pub fn builtin_catalog() -> &'static Catalog {
    static BUILTIN: OnceLock<Catalog> = OnceLock::new();
    BUILTIN.get_or_init(|| match registry().catalog() {
        Ok(c) => c,
        Err(e) => panic!("the built-in job catalogue is invalid: {e}"),
    })
}

/// The catalogue `config` makes: its `[kinds.*]` and `[schedules.*]` checked against the kinds
/// this binary runs (naming the key at fault), its overrides applied.
pub fn catalog(config: &Config) -> Result<Catalog, ConfigError> {
    let builtin = builtin_catalog();
    mcp_queue::config::check_kinds(&config.kinds, &config.schedules, builtin)?;
    Ok(builtin.with_overrides(&config.kinds))
}

/// Every job this binary ships, by kind.
pub fn registry() -> Registry<Services> {
    let mut r = Registry::default();
    r.register::<kinds::Noop>();
    r.register::<kinds::NotifyDeliver>();
    r.register::<kinds::Prune>();
    r.register::<kinds::HealthCheck>();
    r.register::<kinds::HealthSweep>();
    r.register::<kinds::TokenRefresh>();
    r.register::<kinds::Sync>();
    r.register::<kinds::SyncSweep>();
    r.register::<kinds::Reconcile>();
    r.register::<kinds::ReconcileSweep>();
    r.register::<kinds::ItemsBackfill>();
    r.register::<kinds::TokenRefreshSweep>();
    r.register::<kinds::WebhookProcess>();
    r.register::<kinds::WebhookRenew>();
    r.register::<kinds::WebhookRenewSweep>();
    r.register::<kinds::WebhookSubscribe>();
    r.register::<kinds::WebhookUnsubscribe>();
    r
}

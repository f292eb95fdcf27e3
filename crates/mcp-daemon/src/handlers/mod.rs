//! Job handlers: one file per job kind, each the code that does that kind's work.
//! Each implements `mcp_queue::Job` (its kind, its payload type, one `run`): it gets a
//! `JobContext` and its decoded payload and returns `Ok(())` or a `JobError` saying what should
//! happen next; it never writes to `mcp.sync_jobs` itself (the engine records the outcome).

mod content;
mod gate;
mod health_check;
mod health_sweep;
mod items_backfill;
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

use std::sync::Arc;

use mcp_queue::Registry;

use crate::config::Config;
use mcp_queue::Queue;

/// Shared things a handler may use.
pub struct Services {
    pub queue: Queue,
    pub config: Arc<Config>,
    pub connectors: Arc<mcp_platforms::connectors::Connectors>,
    pub vault: Arc<crate::vault::Vault>,
    /// Groups the `webhook_process` attempts running at once into one statement.
    pub webhook_events: crate::webhooks::process::EventProcessor,
    /// The notification deliveries' HTTP client.
    pub notifier: crate::notify::Notifier,
    /// Wakes the change feed's readers after the item writers' commits.
    pub feed: crate::items::FeedWake,
}

/// The item modeller of the daemon's connectors and `[items]`.
pub fn modeller(s: &Services) -> crate::items::Modeller {
    crate::items::Modeller::new(s.connectors.clone(), s.config.items.clone())
}

/// One claimed attempt of one job, with the daemon's services.
pub type JobContext = mcp_queue::JobContext<Services>;
pub use mcp_queue::{Job, JobError};

/// Every job this binary ships, by kind.
pub fn registry() -> Registry<Services> {
    let mut r = Registry::default();
    r.register(noop::Noop);
    r.register(notify_deliver::NotifyDeliver);
    r.register(prune::Prune);
    r.register(health_check::HealthCheck);
    r.register(health_sweep::HealthSweep);
    r.register(token_refresh::TokenRefresh);
    r.register(sync::Sync);
    r.register(sync_sweep::SyncSweep);
    r.register(reconcile::Reconcile);
    r.register(reconcile_sweep::ReconcileSweep);
    r.register(items_backfill::ItemsBackfill);
    r.register(token_refresh_sweep::TokenRefreshSweep);
    r.register(webhook_process::WebhookProcess);
    r.register(webhook_renew::WebhookRenew);
    r.register(webhook_renew::WebhookRenewSweep);
    r.register(webhook_subscribe::WebhookSubscribe);
    r.register(webhook_unsubscribe::WebhookUnsubscribe);
    r
}

//! One type per job kind: the type is the kind's payload; its `Kind` impl names the kind and
//! gives its description, policy, per-kind concurrency, default schedule and unique key; its
//! payload schema is derived from the type. `handlers/<kind>.rs` is its `run`. Every module that
//! enqueues a job does it through its type (`HealthCheck { integration_id }.enqueue(&mut tx)`,
//! or the type's `KIND` bound into a bulk statement), so the kind's name is spelled here only.
//! A leaf: it imports nothing of the crate, so any module may enqueue.

mod integration;
mod other;
mod sweeps;

pub use integration::{
    HealthCheck, Reconcile, Sync, TokenRefresh, WebhookSubscribe, WebhookUnsubscribe,
};
pub use mcp_queue::Kind;
pub use other::{ItemsBackfill, Noop, NotifyDeliver, Prune, WebhookProcess, WebhookRenew};
pub use sweeps::{HealthSweep, ReconcileSweep, SyncSweep, TokenRefreshSweep, WebhookRenewSweep};

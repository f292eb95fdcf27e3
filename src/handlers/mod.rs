//! Job handlers: one file per job kind, each the code that does that kind's work.
//! A handler gets a `JobContext` and returns `Ok(())` or a `JobError` saying what should happen
//! next; it never writes to `mcp.sync_jobs` itself (the engine records the outcome).

mod gate;
mod health_check;
mod health_sweep;
mod noop;
mod prune;
mod sync;
mod sync_sweep;
mod token_refresh;
mod token_refresh_sweep;
mod webhook_process;
mod webhook_renew;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::config::Config;
use crate::queue::Queue;

/// Shared things a handler may use.
pub struct Services {
    pub queue: Queue,
    pub config: Arc<Config>,
    pub connectors: Arc<crate::connectors::Connectors>,
    pub vault: Arc<crate::vault::Vault>,
    /// Groups the `webhook_process` attempts running at once into one statement.
    pub webhook_events: crate::webhooks::process::EventProcessor,
}

/// One claimed attempt of one job, as its handler sees it.
pub struct JobContext {
    pub id: i64,
    pub kind: String,
    pub attempt: i16,
    pub max_attempts: i16,
    pub payload: serde_json::Value,
    pub integration_id: Option<String>,
    pub services: Arc<Services>,
}

impl JobContext {
    /// The payload as the handler's own type; a mismatch discards the job with serde's reason.
    pub fn payload<T: serde::de::DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_value(self.payload.clone())
            .map_err(|e| JobError::Discard(format!("invalid payload: {e}")))
    }
}

/// Why an attempt did not complete, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A failure worth another attempt (after backoff), while attempts remain.
    #[error("{0}")]
    Retry(String),
    /// A failure no retry can mend: the job is discarded at once.
    #[error("{0}")]
    Discard(String),
    /// Run again after this delay without spending an attempt (e.g. a platform's Retry-After).
    #[error("snoozed for {0:?}")]
    Snooze(Duration),
}

/// The code for one job kind.
pub trait Handler: Send + Sync + 'static {
    fn kind(&self) -> &'static str;
    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>>;
}

/// Handlers by kind.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn Handler>>,
}

impl Registry {
    /// Every handler this binary ships.
    pub fn builtin() -> Registry {
        let mut r = Registry::default();
        r.register(noop::Noop);
        r.register(prune::Prune);
        r.register(health_check::HealthCheck);
        r.register(health_sweep::HealthSweep);
        r.register(token_refresh::TokenRefresh);
        r.register(sync::Sync);
        r.register(sync_sweep::SyncSweep);
        r.register(token_refresh_sweep::TokenRefreshSweep);
        r.register(webhook_process::WebhookProcess);
        r.register(webhook_renew::WebhookRenew);
        r.register(webhook_renew::WebhookRenewSweep);
        r
    }

    pub fn register(&mut self, h: impl Handler) {
        self.handlers.insert(h.kind().to_string(), Arc::new(h));
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn Handler>> {
        self.handlers.get(kind)
    }

    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }
}

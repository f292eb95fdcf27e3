//! The typed job trait: one kind (`KIND`), one payload type, one `run`. The engine decodes the
//! payload (a mismatch discards the job with serde's reason) and calls `run` with the services
//! `S` the daemon gave the worker. A job never writes `mcp.sync_jobs` itself: it returns `Ok(())`
//! or a `JobError` saying what should happen next, and the engine records the outcome.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;

/// One claimed attempt of one job, as its handler sees it; `services` is the daemon's own.
pub struct JobContext<S> {
    pub id: i64,
    pub kind: String,
    pub attempt: i16,
    pub max_attempts: i16,
    pub integration_id: Option<String>,
    pub services: Arc<S>,
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
    /// A failure worth another attempt after this delay (the job's own schedule rather than the
    /// kind's backoff); the attempt is spent, and the last one discards the job.
    #[error("{1}")]
    RetryAfter(Duration, String),
}

/// The code of one job kind.
pub trait Job<S>: Send + Sync + 'static {
    /// The kind, as in `jobs/<KIND>.toml` and `mcp.sync_jobs.kind`.
    const KIND: &'static str;
    /// What `payload` holds; decoded before `run`.
    type Payload: DeserializeOwned + Send + 'static;

    fn run(
        &self,
        ctx: JobContext<S>,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// A job with its payload type erased, as the worker holds it.
pub(crate) trait Erased<S>: Send + Sync {
    fn run(
        self: Arc<Self>,
        ctx: JobContext<S>,
        payload: serde_json::Value,
    ) -> BoxFuture<'static, Result<(), JobError>>;
}

struct Typed<J>(J);

impl<S: Send + Sync + 'static, J: Job<S>> Erased<S> for Typed<J> {
    fn run(
        self: Arc<Self>,
        ctx: JobContext<S>,
        payload: serde_json::Value,
    ) -> BoxFuture<'static, Result<(), JobError>> {
        match serde_json::from_value::<J::Payload>(payload) {
            Ok(p) => Box::pin(async move { self.0.run(ctx, p).await }),
            Err(e) => {
                let e = JobError::Discard(format!("invalid payload: {e}"));
                Box::pin(async move { Err(e) })
            }
        }
    }
}

/// What the worker knows of an attempt before it hands it to the job.
pub struct Attempt {
    pub id: i64,
    pub kind: String,
    pub attempt: i16,
    pub max_attempts: i16,
    pub integration_id: Option<String>,
}

/// A job bound to its services: the worker's view, with no type parameter.
pub type Bound = Arc<
    dyn Fn(Attempt, serde_json::Value) -> BoxFuture<'static, Result<(), JobError>> + Send + Sync,
>;

/// Jobs by kind.
pub struct Registry<S> {
    jobs: HashMap<&'static str, Arc<dyn Erased<S>>>,
}

impl<S> Default for Registry<S> {
    fn default() -> Self {
        Registry {
            jobs: HashMap::new(),
        }
    }
}

impl<S> Clone for Registry<S> {
    fn clone(&self) -> Self {
        Registry {
            jobs: self.jobs.clone(),
        }
    }
}

impl<S: Send + Sync + 'static> Registry<S> {
    /// Adds `job` under its kind (a later one of the same kind replaces it).
    pub fn register<J: Job<S>>(&mut self, job: J) {
        self.jobs.insert(J::KIND, Arc::new(Typed(job)));
    }

    /// The job of `kind` bound to `services`, as the worker runs it.
    pub fn bind(&self, kind: &str, services: Arc<S>) -> Option<Bound> {
        let job = self.jobs.get(kind)?.clone();
        Some(Arc::new(move |a: Attempt, payload| {
            let ctx = JobContext {
                id: a.id,
                kind: a.kind,
                attempt: a.attempt,
                max_attempts: a.max_attempts,
                integration_id: a.integration_id,
                services: services.clone(),
            };
            job.clone().run(ctx, payload)
        }))
    }

    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.jobs.keys().copied()
    }
}

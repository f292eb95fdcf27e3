//! One type per job kind. The type is the kind's payload; `Kind` puts on it the kind's name,
//! description, policy (attempts, timeout, backoff, priority, per-kind concurrency, default
//! schedule) and unique key, and its payload schema is derived from the type (`schema::of`).
//! `Kind::enqueue` adds one in the caller's transaction; `Job<S>` is its `run`. The engine
//! decodes the payload into the type (a mismatch discards the job with serde's reason) and calls
//! `run` with the services `S` the daemon gave the worker. A job never writes `mcp.sync_jobs`
//! itself: it returns `Ok(())` or a `JobError` saying what should happen next, and the engine
//! records the outcome. The registry of jobs makes the catalogue written to `mcp.job_kinds`.

use crate::pg;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::catalog::{Catalog, CatalogError, KindSpec, RetryPolicy};
use crate::hooks::{DiscardHook, DiscardHooks};
use crate::QueueError;

/// One claimed attempt of one job, as its handler sees it: the attempt's metadata (what its
/// payload says is the job type itself); `services` is the daemon's own.
pub struct JobContext<S> {
    pub id: i64,
    pub kind: String,
    pub attempt: i16,
    pub max_attempts: i16,
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

/// A job kind: the type is its payload, the constants its name and policy.
pub trait Kind:
    Serialize + DeserializeOwned + schemars::JsonSchema + Send + Sync + 'static
{
    /// The kind, as in `mcp.sync_jobs.kind` and `mcp.job_kinds`.
    const KIND: &'static str;
    /// One sentence for `mcp.job_kinds.description` and `jobs kinds`.
    const DESCRIPTION: &'static str;
    /// Attempts, per-attempt timeout and backoff bounds (`[kinds.<kind>]` may override them).
    const POLICY: RetryPolicy;
    /// Most jobs of this kind one daemon runs at once; `None`: only `worker.concurrency`.
    const CONCURRENCY: Option<usize> = None;
    /// The priority `enqueue` gives (lower runs first).
    const PRIORITY: i16 = 0;
    /// The cron schedule the scheduler enqueues it on unless `[schedules.<kind>]` says otherwise.
    const DEFAULT_SCHEDULE: Option<&'static str> = None;

    /// The key that keeps one live job of this kind per subject (`None`: any number).
    fn unique_key(&self) -> Option<String> {
        None
    }

    /// The row's `integration_id` column: the integration the job is about, which is how an
    /// integration's waiting jobs are found (`None`: no one integration).
    fn integration_id(&self) -> Option<uuid::Uuid> {
        None
    }

    /// Enqueues this job on `db` (a pool, or the caller's transaction so that the job commits
    /// with the writes it follows). Returns the new job's id, or the live job's with the same
    /// unique key.
    fn enqueue<'e, E>(&self, db: E) -> impl Future<Output = Result<i64, QueueError>> + Send
    where
        E: sqlx::PgExecutor<'e>,
    {
        let payload = serde_json::to_value(self);
        let (key, integration) = (self.unique_key(), self.integration_id());
        async move {
            let payload =
                payload.map_err(|e| QueueError::Refused(format!("{}: {e}", Self::KIND)))?;
            let id: Option<i64> = pg::query_scalar(ENQUEUE_KIND_SQL)
                .bind(Self::KIND)
                .bind(integration)
                .bind(payload)
                .bind(Self::PRIORITY)
                .bind(&key)
                .fetch_optional(db)
                .await?;
            // None: a live job with the key committed after this statement's snapshot.
            id.ok_or_else(|| {
                QueueError::Refused(format!(
                    "{}: a job with unique key {} was being enqueued at the same time",
                    Self::KIND,
                    key.unwrap_or_default()
                ))
            })
        }
    }
}

/// `Kind::enqueue`'s statement: the job, or the live one with its unique key.
pub const ENQUEUE_KIND_SQL: &str = "\
WITH made AS ( \
    INSERT INTO mcp.sync_jobs (kind, integration_id, payload, priority, unique_key) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id) \
SELECT id FROM made \
UNION ALL \
SELECT id FROM mcp.sync_jobs_live \
WHERE $5::text IS NOT NULL AND unique_key = $5 AND NOT EXISTS (SELECT 1 FROM made) \
LIMIT 1";

impl KindSpec {
    /// The spec the type `K` declares, its payload schema derived from the type.
    pub fn of<K: Kind>() -> KindSpec {
        let payload_schema = crate::schema::of::<K>();
        KindSpec {
            kind: K::KIND.to_string(),
            description: K::DESCRIPTION.to_string(),
            policy: K::POLICY,
            default_schedule: K::DEFAULT_SCHEDULE.map(str::to_string),
            concurrency: K::CONCURRENCY,
            schema: crate::schema::Schema::compile(&payload_schema).unwrap_or_default(),
            payload_schema,
        }
    }
}

/// The code of one job kind: its `run`, given the attempt and the daemon's services.
pub trait Job<S>: Kind {
    fn run(self, ctx: JobContext<S>) -> impl Future<Output = Result<(), JobError>> + Send;

    /// The hook on the final outcome: what the kind does about its jobs that failed for good,
    /// given their ids, in the transaction that records them `discarded` (their rows are in
    /// `mcp.sync_jobs_done` by then). Called for a batch at a time; by default nothing.
    fn discarded<'c>(
        conn: &'c mut sqlx::PgConnection,
        ids: &'c [i64],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c {
        let _ = (conn, ids);
        async { Ok(()) }
    }
}

/// A job with its payload type erased, as the worker holds it.
pub(crate) trait Erased<S>: Send + Sync {
    fn run(
        self: Arc<Self>,
        ctx: JobContext<S>,
        payload: serde_json::Value,
    ) -> BoxFuture<'static, Result<(), JobError>>;
}

struct Typed<J>(std::marker::PhantomData<fn() -> J>);

/// A kind's discard hook, with the services' type erased too.
struct Hook<J, S>(std::marker::PhantomData<fn() -> (J, S)>);

impl<S: Send + Sync + 'static, J: Job<S>> DiscardHook for Hook<J, S> {
    fn discarded<'c>(
        &self,
        conn: &'c mut sqlx::PgConnection,
        ids: &'c [i64],
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(J::discarded(conn, ids))
    }
}

impl<S: Send + Sync + 'static, J: Job<S>> Erased<S> for Typed<J> {
    fn run(
        self: Arc<Self>,
        ctx: JobContext<S>,
        payload: serde_json::Value,
    ) -> BoxFuture<'static, Result<(), JobError>> {
        match serde_json::from_value::<J>(payload) {
            Ok(job) => Box::pin(job.run(ctx)),
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
}

/// A job bound to its services: the worker's view, with no type parameter.
pub type Bound = Arc<
    dyn Fn(Attempt, serde_json::Value) -> BoxFuture<'static, Result<(), JobError>> + Send + Sync,
>;

/// One registered kind: its job, type-erased, and how to make its spec.
struct Entry<S> {
    job: Arc<dyn Erased<S>>,
    hook: Arc<dyn DiscardHook>,
    spec: fn() -> KindSpec,
}

impl<S> Clone for Entry<S> {
    fn clone(&self) -> Self {
        Entry {
            job: self.job.clone(),
            hook: self.hook.clone(),
            spec: self.spec,
        }
    }
}

/// Jobs by kind, each with its spec.
pub struct Registry<S> {
    jobs: HashMap<&'static str, Entry<S>>,
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
    /// Adds the job of type `J` under its kind (a later one of the same kind replaces it).
    pub fn register<J: Job<S>>(&mut self) {
        let job: Arc<dyn Erased<S>> = Arc::new(Typed::<J>(std::marker::PhantomData));
        let hook: Arc<dyn DiscardHook> = Arc::new(Hook::<J, S>(std::marker::PhantomData));
        let spec = KindSpec::of::<J>;
        self.jobs.insert(J::KIND, Entry { job, hook, spec });
    }

    /// The registered kinds' hooks on their jobs' final outcome.
    pub fn discard_hooks(&self) -> DiscardHooks {
        DiscardHooks::new(
            self.jobs
                .iter()
                .map(|(kind, e)| (*kind, e.hook.clone()))
                .collect(),
        )
    }

    /// The catalogue of the registered kinds, from their types.
    pub fn catalog(&self) -> Result<Catalog, CatalogError> {
        Catalog::new(self.jobs.values().map(|e| (e.spec)()))
    }

    /// The job of `kind` bound to `services`, as the worker runs it.
    pub fn bind(&self, kind: &str, services: Arc<S>) -> Option<Bound> {
        let job = self.jobs.get(kind)?.job.clone();
        Some(Arc::new(move |a: Attempt, payload| {
            let ctx = JobContext {
                id: a.id,
                kind: a.kind,
                attempt: a.attempt,
                max_attempts: a.max_attempts,
                services: services.clone(),
            };
            job.clone().run(ctx, payload)
        }))
    }

    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.jobs.keys().copied()
    }
}

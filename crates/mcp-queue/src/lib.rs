//! mcp-queue: the job queue engine over the Postgres table `mcp.sync_jobs`.
//! The statements that run jobs live in this crate (claim, complete, rescue, prune, enqueue, the
//! admin reads and writes), beside the catalogue of kinds (made from the kinds' types), the cron
//! scheduler, the worker runtime and the typed traits kinds implement (`Kind`, `Job<S>`).
//! It knows nothing of integrations, platforms or credentials: handlers get their own services
//! through `JobContext<S>` and return an outcome; the engine writes it.

pub mod catalog;
pub mod config;
pub mod cron_expr;
pub mod job;
pub mod metrics;
pub mod migrations;
pub mod periodic;
pub mod pg;
pub mod scheduler;
pub mod schema;
pub mod worker;

mod admin;
mod claim;
mod complete;
mod hooks;
mod maintenance;
pub mod retry;
mod wake;

use crate::pg::Db;
pub use admin::{
    cancel as admin_cancel, enqueue as admin_enqueue, list as admin_list, retry as admin_retry,
    show as admin_show, EnqueueRequest, JobRow, ENQUEUE_SQL,
};
pub use claim::{ClaimedJob, CLAIM_SQL};
pub use complete::{Outcome, OutcomeRow, COMPLETE_SQL};
pub use maintenance::{
    DepthRow, KindSlots, PruneAges, PruneReport, Rescued, DEPTH_SQL, PRUNE_SQL, RESCUE_SQL,
};
pub use wake::QuietWake;

#[doc(hidden)]
pub use const_format;

use std::time::Duration;

use crate::catalog::Catalog;
pub use hooks::DiscardHooks;
pub use job::{Job, JobContext, JobError, Kind, Registry};

/// Channel that `INSERT`s into `mcp.sync_jobs` (and `mcp.retry_job`) notify.
pub const NOTIFY_CHANNEL: &str = "mcp_sync_jobs";

/// Tells every daemon that jobs are waiting (one NOTIFY in a transaction of its own).
pub async fn notify(pool: &Db) -> Result<(), sqlx::Error> {
    pg::query("SELECT pg_notify($1, '')")
        .bind(NOTIFY_CHANNEL)
        .execute(pool)
        .await
        .map(|_| ())
}

/// The states of a job in `mcp.sync_jobs.state` (the column's CHECK lists the same seven).
/// `available`, `scheduled` and `retryable` wait to be claimed once `run_at` has come;
/// `running` holds a lease; `completed`, `discarded` and `cancelled` are final (the finished
/// partition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    Available,
    Scheduled,
    Running,
    Retryable,
    Completed,
    Discarded,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 7] = [
        JobState::Available,
        JobState::Scheduled,
        JobState::Running,
        JobState::Retryable,
        JobState::Completed,
        JobState::Discarded,
        JobState::Cancelled,
    ];
    /// The states of the live partition: waiting or running.
    pub const LIVE: [JobState; 4] = [
        JobState::Available,
        JobState::Scheduled,
        JobState::Retryable,
        JobState::Running,
    ];
    /// The final states, each kept by `prune` for its own retention.
    pub const FINISHED: [JobState; 3] = [
        JobState::Completed,
        JobState::Cancelled,
        JobState::Discarded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Available => "available",
            JobState::Scheduled => "scheduled",
            JobState::Running => "running",
            JobState::Retryable => "retryable",
            JobState::Completed => "completed",
            JobState::Discarded => "discarded",
            JobState::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("job {0} not found")]
    NotFound(i64),
    #[error("{0}")]
    Refused(String),
}

/// The queue as one daemon sees it: its identity, the kinds it runs and their leases.
#[derive(Clone)]
pub struct Queue {
    pool: Db,
    worker_id: String,
    kinds: Vec<String>,
    lease_ms: Vec<i64>,
    max_attempts: Vec<i16>,
    queues: Vec<String>,
}

impl Queue {
    pub fn new(
        pool: impl Into<Db>,
        worker_id: String,
        catalog: &Catalog,
        lease_grace: Duration,
        queues: Vec<String>,
    ) -> Queue {
        let mut kinds = Vec::new();
        let mut lease_ms = Vec::new();
        let mut max_attempts = Vec::new();
        for spec in catalog.iter() {
            kinds.push(spec.kind.clone());
            lease_ms.push((spec.policy.timeout + lease_grace).as_millis() as i64);
            max_attempts.push(spec.policy.max_attempts as i16);
        }
        Queue {
            pool: pool.into(),
            worker_id,
            kinds,
            lease_ms,
            max_attempts,
            queues,
        }
    }

    pub fn pool(&self) -> &Db {
        &self.pool
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// The kinds this daemon claims, in the order `claim`'s per-kind caps follow.
    pub fn kinds(&self) -> &[String] {
        &self.kinds
    }
}

/// A worker id unique to this process: host, pid and a random suffix.
pub fn new_worker_id() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown-host".into());
    format!(
        "{host}:{}:{:06x}",
        std::process::id(),
        rand::random::<u32>() & 0xff_ffff
    )
}

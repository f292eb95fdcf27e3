//! The depth and pool sampler: queue depth by kind and state, the oldest due job's age, each
//! kind's slots in use, the pool's connections and what a statement waits for one.

use crate::pg;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::metrics as m;
use crate::periodic;
use crate::{Queue, QueueError};

/// One kind's slots in this daemon, as the sampler reads them.
#[derive(Clone)]
pub struct KindSlots {
    pub kind: String,
    pub limit: usize,
    pub slots: Arc<Semaphore>,
}

#[derive(Debug, Clone)]
pub struct DepthRow {
    pub kind: String,
    pub state: String,
    pub count: i64,
    /// Seconds since the oldest due job of this kind and state became due.
    pub oldest_due_age: Option<f64>,
}

/// Unfinished jobs by kind and state: only the live partition, whatever the history beside it.
pub const DEPTH_SQL: &str = "\
SELECT kind, state, count(*)::bigint,
       EXTRACT(EPOCH FROM now() - min(run_at) FILTER (WHERE run_at <= now() AND state <> 'running'))::float8
FROM mcp.sync_jobs_live
GROUP BY kind, state";

impl Queue {
    /// Counts of unfinished jobs by kind and state.
    pub async fn depth(&self) -> Result<Vec<DepthRow>, QueueError> {
        let rows: Vec<(String, String, i64, Option<f64>)> =
            pg::query_as(DEPTH_SQL).fetch_all(self.pool()).await?;
        Ok(rows
            .into_iter()
            .map(|(kind, state, count, oldest_due_age)| DepthRow {
                kind,
                state,
                count,
                oldest_due_age,
            })
            .collect())
    }
}

pub(crate) async fn sample_loop(
    queue: Queue,
    kinds: Vec<KindSlots>,
    every: Duration,
    stop: CancellationToken,
) {
    periodic::every(every, stop, || sample(&queue, &kinds, every)).await
}

/// One sample: pool gauges and wait, per-kind slots in use, queue depth by kind and state.
async fn sample(queue: &Queue, kinds: &[KindSlots], every: Duration) {
    let pool = queue.pool();
    let idle = pool.num_idle() as f64;
    gauge!(m::POOL_CONNECTIONS, "state" => "idle").set(idle);
    gauge!(m::POOL_CONNECTIONS, "state" => "in_use").set(pool.size() as f64 - idle);
    gauge!(m::POOL_MAX).set(pool.options().get_max_connections() as f64);
    for k in kinds {
        gauge!(m::KIND_IN_FLIGHT, "kind" => k.kind.clone())
            .set(k.limit.saturating_sub(k.slots.available_permits()) as f64);
    }
    // What any statement would wait for a connection right now (a failed or timed-out acquire
    // counts its wait too).
    let waited = Instant::now();
    let _ = tokio::time::timeout(every, pool.acquire()).await;
    histogram!(m::DB_POOL_WAIT, "op" => "probe").record(waited.elapsed().as_secs_f64());
    let rows = match queue.depth().await {
        Ok(rows) => rows,
        Err(e) => {
            counter!(m::DB_ERRORS, "op" => "stats").increment(1);
            tracing::warn!(error = %e, "reading queue depth failed");
            return;
        }
    };
    for kind in kinds.iter().map(|k| &k.kind) {
        let mut oldest: f64 = 0.0;
        for state in crate::JobState::LIVE.map(crate::JobState::as_str) {
            let row = rows.iter().find(|r| &r.kind == kind && r.state == state);
            gauge!(m::QUEUE_DEPTH, "kind" => kind.clone(), "state" => state)
                .set(row.map(|r| r.count).unwrap_or(0) as f64);
            if let Some(age) = row.and_then(|r| r.oldest_due_age) {
                oldest = oldest.max(age);
            }
        }
        gauge!(m::OLDEST_AVAILABLE_AGE, "kind" => kind.clone()).set(oldest);
    }
}

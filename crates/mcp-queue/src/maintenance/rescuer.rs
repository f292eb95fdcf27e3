//! The rescuer: takes back running jobs whose lease ran out, a batch at a time, the next batch
//! after a short rest while batches come back full.

use crate::pg;
use std::sync::Arc;
use std::time::Duration;

use metrics::counter;
use sqlx::Connection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::hooks::DiscardHooks;
use crate::metrics as m;
use crate::periodic::{self, Schedule, Step};
use crate::{Queue, QueueError};

#[derive(Debug, Clone)]
pub struct Rescued {
    pub id: i64,
    pub kind: String,
    pub state: String,
}

/// The rescuer's statement (exposed for the plan tests).
pub const RESCUE_SQL: &str = "SELECT id, kind, state FROM mcp.rescue_jobs($1)";

impl Queue {
    /// Takes back up to `limit` running jobs whose lease has run out: `available` again with the
    /// attempt counted, or `discarded` when that was the last attempt; the discarded get their
    /// kinds' `hooks` in the same transaction.
    pub async fn rescue(
        &self,
        limit: i64,
        hooks: &DiscardHooks,
    ) -> Result<Vec<Rescued>, QueueError> {
        let mut conn = self.pool().acquire().await?;
        let mut tx = conn.begin().await?;
        let rows: Vec<(i64, String, String)> = pg::query_as(RESCUE_SQL)
            .bind(i32::try_from(limit).unwrap_or(i32::MAX))
            .fetch_all(&mut *tx)
            .await?;
        let discarded: Vec<(i64, String)> = rows
            .iter()
            .filter(|(_, _, state)| state == crate::JobState::Discarded.as_str())
            .map(|(id, kind, _)| (*id, kind.clone()))
            .collect();
        hooks.run(&mut tx, &discarded).await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(id, kind, state)| Rescued { id, kind, state })
            .collect())
    }
}

pub(crate) async fn rescue_loop(
    queue: Queue,
    hooks: DiscardHooks,
    every: Duration,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    let schedule = Schedule::every(every).staggered();
    periodic::run(schedule, stop, || async {
        // A full batch says more is waiting: the driver runs the next one after a short rest,
        // so a daemon that died with thousands of jobs is taken back within seconds, not a
        // thousand per period, without starving the claims.
        match queue.rescue(RESCUE_BATCH, &hooks).await {
            Ok(rescued) => {
                for r in &rescued {
                    counter!(m::JOBS_RESCUED, "kind" => r.kind.clone()).increment(1);
                    tracing::warn!(job_id = r.id, kind = %r.kind, state = %r.state, "lease expired; job taken back");
                }
                if !rescued.is_empty() {
                    wake.notify_one();
                }
                if rescued.len() >= RESCUE_BATCH as usize {
                    Step::More
                } else {
                    Step::Done
                }
            }
            Err(e) => {
                counter!(m::DB_ERRORS, "op" => "rescue").increment(1);
                tracing::warn!(error = %e, "rescue failed");
                Step::Done
            }
        }
    })
    .await
}

/// Most jobs one rescue statement takes back.
const RESCUE_BATCH: i64 = 1000;

//! Acknowledging: the outcomes of many jobs are written by one call of `mcp.complete_jobs`
//! (an `UPDATE … FROM unnest(…)` driven from the array of ids).
//! A row is only touched while it is still `running` under this worker and the same attempt, so
//! a job that was cancelled, or rescued and claimed elsewhere, keeps its newer state.
//! A batch that discards jobs is written in a transaction that first locks those still ours and
//! then runs their kinds' discard hooks (`hooks.rs`) on them.

use crate::pg;
use std::time::{Duration, Instant};

use metrics::histogram;
use sqlx::Connection;

use super::{JobState, Queue, QueueError};
use crate::hooks::DiscardHooks;
use crate::metrics as m;

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done: `completed`.
    Completed,
    /// Failed, will run again after `delay`: `retryable`.
    Retry { error: String, delay: Duration },
    /// Failed for good (attempts exhausted, or the failure cannot be retried): `discarded`.
    Discard { error: String },
    /// Not now: `scheduled` after `delay`, the attempt is given back.
    Snooze { delay: Duration },
    /// Not run to its end because this daemon is stopping: `available`, the attempt is given back.
    Return,
}

impl Outcome {
    pub fn state(&self) -> JobState {
        match self {
            Outcome::Completed => JobState::Completed,
            Outcome::Retry { .. } => JobState::Retryable,
            Outcome::Discard { .. } => JobState::Discarded,
            Outcome::Snooze { .. } => JobState::Scheduled,
            Outcome::Return => JobState::Available,
        }
    }
}

/// One job's outcome, ready to be written.
#[derive(Debug, Clone)]
pub struct OutcomeRow {
    pub id: i64,
    pub attempt: i16,
    pub outcome: Outcome,
}

/// The completion statement (exposed for the plan tests).
pub const COMPLETE_SQL: &str = "SELECT mcp.complete_jobs($1, $2, $3, $4, $5, $6, $7)";

/// Locks, before they are written, the jobs a batch discards that are still this worker's
/// attempt (so the rescuer, which skips locked rows, cannot discard them too); their kinds.
const LOCK_DISCARDS_SQL: &str = "\
    SELECT j.id, j.kind FROM mcp.sync_jobs j \
    JOIN unnest($1::bigint[], $2::smallint[]) AS d(id, attempt) ON j.id = d.id \
    WHERE j.state = 'running' AND j.locked_by = $3 AND j.attempt = d.attempt \
    ORDER BY j.id FOR UPDATE OF j";

impl Queue {
    /// Writes a batch of outcomes; returns how many rows were still ours to update. The jobs it
    /// discards get their kinds' `hooks` in the same transaction.
    pub async fn complete(
        &self,
        rows: &[OutcomeRow],
        hooks: &DiscardHooks,
    ) -> Result<u64, QueueError> {
        let n = rows.len();
        let mut ids = Vec::with_capacity(n);
        let mut attempts = Vec::with_capacity(n);
        let mut states = Vec::with_capacity(n);
        let mut delays: Vec<Option<i64>> = Vec::with_capacity(n);
        let mut refunds = Vec::with_capacity(n);
        let mut errors: Vec<Option<&str>> = Vec::with_capacity(n);
        let mut notify = false;
        let (mut discard_ids, mut discard_attempts) = (Vec::new(), Vec::new());
        for r in rows {
            ids.push(r.id);
            attempts.push(r.attempt);
            states.push(r.outcome.state().as_str());
            let (delay, refund, err) = match &r.outcome {
                Outcome::Completed => (None, false, None),
                Outcome::Retry { error, delay } => (Some(*delay), false, Some(error.as_str())),
                Outcome::Discard { error } => {
                    discard_ids.push(r.id);
                    discard_attempts.push(r.attempt);
                    (None, false, Some(error.as_str()))
                }
                Outcome::Snooze { delay } => (Some(*delay), true, None),
                Outcome::Return => {
                    notify = true;
                    (None, true, None)
                }
            };
            delays.push(delay.map(|d| d.as_millis().min(i64::MAX as u128) as i64));
            refunds.push(refund);
            errors.push(err);
        }
        let waited = Instant::now();
        let mut conn = self.pool.acquire().await?;
        histogram!(m::DB_POOL_WAIT, "op" => "complete").record(waited.elapsed().as_secs_f64());
        let write = pg::query_scalar::<i64>(COMPLETE_SQL)
            .bind(&ids)
            .bind(&attempts)
            .bind(&states)
            .bind(&delays)
            .bind(&refunds)
            .bind(&errors)
            .bind(&self.worker_id);
        let done = if discard_ids.is_empty() {
            write.fetch_one(self.pool.on(&mut conn)).await?
        } else {
            let mut tx = conn.begin().await?;
            let ours: Vec<(i64, String)> = pg::query_as(LOCK_DISCARDS_SQL)
                .bind(&discard_ids)
                .bind(&discard_attempts)
                .bind(&self.worker_id)
                .fetch_all(&mut *tx)
                .await?;
            let done = write.fetch_one(&mut *tx).await?;
            hooks.run(&mut tx, &ours).await?;
            tx.commit().await?;
            done
        };
        if notify {
            // Returned jobs are claimable at once: wake every idle daemon.
            pg::query("SELECT pg_notify($1, '')")
                .bind(super::NOTIFY_CHANNEL)
                .execute(self.pool.on(&mut conn))
                .await?;
        }
        Ok(u64::try_from(done).unwrap_or(0))
    }
}

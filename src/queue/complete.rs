//! Acknowledging: the outcomes of many jobs are written by one `UPDATE … FROM unnest(…)`.
//! A row is only touched while it is still `running` under this worker and the same attempt, so
//! a job that was cancelled, or rescued and claimed elsewhere, keeps its newer state.

use std::time::Duration;

use super::{Queue, QueueError};

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
    pub fn state(&self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Retry { .. } => "retryable",
            Outcome::Discard { .. } => "discarded",
            Outcome::Snooze { .. } => "scheduled",
            Outcome::Return => "available",
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

const COMPLETE_SQL: &str = "\
UPDATE mcp.sync_jobs AS j
SET state = c.state,
    run_at = CASE WHEN c.delay_ms IS NULL THEN j.run_at
                  ELSE now() + c.delay_ms * interval '1 millisecond' END,
    attempt = CASE WHEN c.refund THEN j.attempt - 1 ELSE j.attempt END,
    last_error = COALESCE(c.err, j.last_error),
    errors = CASE WHEN c.err IS NULL THEN j.errors
                  ELSE j.errors || jsonb_build_array(jsonb_build_object(
                       'attempt', j.attempt, 'at', now(), 'error', c.err)) END,
    finished_at = CASE WHEN c.state IN ('completed', 'discarded') THEN now() END,
    locked_by = NULL,
    lease_expires_at = NULL
FROM unnest($1::bigint[], $2::smallint[], $3::text[], $4::bigint[], $5::bool[], $6::text[])
     AS c(id, attempt, state, delay_ms, refund, err)
WHERE j.id = c.id
  AND j.attempt = c.attempt
  AND j.state = 'running'
  AND j.locked_by = $7";

impl Queue {
    /// Writes a batch of outcomes; returns how many rows were still ours to update.
    pub async fn complete(&self, rows: &[OutcomeRow]) -> Result<u64, QueueError> {
        let n = rows.len();
        let mut ids = Vec::with_capacity(n);
        let mut attempts = Vec::with_capacity(n);
        let mut states = Vec::with_capacity(n);
        let mut delays: Vec<Option<i64>> = Vec::with_capacity(n);
        let mut refunds = Vec::with_capacity(n);
        let mut errors: Vec<Option<&str>> = Vec::with_capacity(n);
        let mut notify = false;
        for r in rows {
            ids.push(r.id);
            attempts.push(r.attempt);
            states.push(r.outcome.state());
            let (delay, refund, err) = match &r.outcome {
                Outcome::Completed => (None, false, None),
                Outcome::Retry { error, delay } => (Some(*delay), false, Some(error.as_str())),
                Outcome::Discard { error } => (None, false, Some(error.as_str())),
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
        let done = sqlx::query(COMPLETE_SQL)
            .bind(&ids)
            .bind(&attempts)
            .bind(&states)
            .bind(&delays)
            .bind(&refunds)
            .bind(&errors)
            .bind(&self.worker_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if notify {
            // Returned jobs are claimable at once: wake every idle daemon.
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(super::NOTIFY_CHANNEL)
                .execute(&self.pool)
                .await?;
        }
        Ok(done)
    }
}

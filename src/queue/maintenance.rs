//! Upkeep that every daemon may run at the same time without harm: rescuing jobs whose lease
//! ran out, pruning finished jobs in small batches, and reading queue depth for the metrics.
//! Each statement touches a bounded number of rows and holds its locks only for that statement.

use std::time::Duration;

use super::{Queue, QueueError};

#[derive(Debug, Clone)]
pub struct Rescued {
    pub id: i64,
    pub kind: String,
    pub state: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PruneReport {
    pub deleted: u64,
    pub batches: u64,
}

#[derive(Debug, Clone)]
pub struct DepthRow {
    pub kind: String,
    pub state: String,
    pub count: i64,
    /// Seconds since the oldest due job of this kind and state became due.
    pub oldest_due_age: Option<f64>,
}

const RESCUE_SQL: &str = "\
WITH expired AS (
    SELECT id FROM mcp.sync_jobs
    WHERE state = 'running' AND lease_expires_at < now()
    ORDER BY lease_expires_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), upd AS (
    UPDATE mcp.sync_jobs j
    SET state = CASE WHEN j.attempt >= COALESCE(j.max_attempts, 1) THEN 'discarded' ELSE 'available' END,
        run_at = now(),
        finished_at = CASE WHEN j.attempt >= COALESCE(j.max_attempts, 1) THEN now() END,
        last_error = format('lease expired: worker %s did not finish attempt %s', j.locked_by, j.attempt),
        errors = j.errors || jsonb_build_array(jsonb_build_object(
            'attempt', j.attempt, 'at', now(),
            'error', format('lease expired: worker %s did not finish attempt %s', j.locked_by, j.attempt))),
        locked_by = NULL,
        lease_expires_at = NULL
    FROM expired
    WHERE j.id = expired.id
    RETURNING j.id, j.kind, j.state
)
SELECT upd.id, upd.kind, upd.state,
       CASE WHEN bool_or(upd.state = 'available') OVER () THEN pg_notify('mcp_sync_jobs', '')::text END
FROM upd";

const PRUNE_SQL: &str = "\
WITH doomed AS (
    SELECT id FROM mcp.sync_jobs
    WHERE id > $1
      AND ((state = 'completed' AND finished_at < now() - $2 * interval '1 second')
        OR (state = 'cancelled' AND finished_at < now() - $3 * interval '1 second')
        OR (state = 'discarded' AND finished_at < now() - $4 * interval '1 second'))
    ORDER BY id
    LIMIT $5
    FOR UPDATE SKIP LOCKED
)
DELETE FROM mcp.sync_jobs j USING doomed WHERE j.id = doomed.id
RETURNING j.id";

const DEPTH_SQL: &str = "\
SELECT kind, state, count(*)::bigint,
       EXTRACT(EPOCH FROM now() - min(run_at) FILTER (WHERE run_at <= now()))::float8
FROM mcp.sync_jobs
WHERE state IN ('available', 'scheduled', 'retryable', 'running')
GROUP BY kind, state";

/// Ages past which finished jobs are deleted.
#[derive(Debug, Clone, Copy)]
pub struct PruneAges {
    pub completed: Duration,
    pub cancelled: Duration,
    pub discarded: Duration,
}

impl Queue {
    /// Takes back up to `limit` running jobs whose lease has run out: `available` again with the
    /// attempt counted, or `discarded` when that was the last attempt.
    pub async fn rescue(&self, limit: i64) -> Result<Vec<Rescued>, QueueError> {
        let rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(RESCUE_SQL)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, kind, state, _)| Rescued { id, kind, state })
            .collect())
    }

    /// Deletes finished jobs older than `ages`, `batch` rows per statement, walking the primary
    /// key so that each statement starts where the last one stopped.
    pub async fn prune(&self, ages: PruneAges, batch: u32) -> Result<PruneReport, QueueError> {
        let mut report = PruneReport::default();
        let mut after: i64 = 0;
        loop {
            let ids: Vec<(i64,)> = sqlx::query_as(PRUNE_SQL)
                .bind(after)
                .bind(ages.completed.as_secs_f64())
                .bind(ages.cancelled.as_secs_f64())
                .bind(ages.discarded.as_secs_f64())
                .bind(batch as i64)
                .fetch_all(self.pool())
                .await?;
            report.batches += 1;
            report.deleted += ids.len() as u64;
            match ids.iter().map(|r| r.0).max() {
                Some(max) if ids.len() as u32 >= batch => after = max,
                _ => return Ok(report),
            }
        }
    }

    /// Counts of unfinished jobs by kind and state.
    pub async fn depth(&self) -> Result<Vec<DepthRow>, QueueError> {
        let rows: Vec<(String, String, i64, Option<f64>)> =
            sqlx::query_as(DEPTH_SQL).fetch_all(self.pool()).await?;
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

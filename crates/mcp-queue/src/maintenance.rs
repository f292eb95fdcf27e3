//! Upkeep that every daemon may run at the same time without harm: rescuing jobs whose lease
//! ran out, pruning finished jobs in small batches, vacuuming the live partition after a burst,
//! and reading queue depth for the metrics.
//! Each statement touches a bounded number of rows and holds its locks only for that statement.

use std::time::Duration;

use super::{JobState, Queue, QueueError};

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

/// The rescuer's statement (exposed for the plan tests).
pub const RESCUE_SQL: &str = "SELECT id, kind, state FROM mcp.rescue_jobs($1)";

/// One prune batch of one state (exposed for the plan tests).
pub const PRUNE_SQL: &str =
    "SELECT deleted, last_at, last_id FROM mcp.prune_jobs($1, $2, $3, $4, $5)";

/// Unfinished jobs by kind and state: only the live partition, whatever the history beside it.
pub const DEPTH_SQL: &str = "\
SELECT kind, state, count(*)::bigint,
       EXTRACT(EPOCH FROM now() - min(run_at) FILTER (WHERE run_at <= now() AND state <> 'running'))::float8
FROM mcp.sync_jobs_live
GROUP BY kind, state";

/// Dead rows the live partition holds now (the statistics collector's count).
const LIVE_DEAD_ROWS_SQL: &str = "\
SELECT COALESCE(n_dead_tup, 0)::bigint FROM pg_stat_user_tables
WHERE relid = 'mcp.sync_jobs_live'::regclass";

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
        let rows: Vec<(i64, String, String)> = sqlx::query_as(RESCUE_SQL)
            .bind(i32::try_from(limit).unwrap_or(i32::MAX))
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, kind, state)| Rescued { id, kind, state })
            .collect())
    }

    /// Deletes finished jobs older than `ages`, `batch` rows per statement (each its own short
    /// transaction), walking each state's jobs in finish order from where the last batch
    /// stopped. After each batch it rests twice as long as the batch took, so a prune of millions
    /// of rows takes at most a third of its connection's time (and of the CPU it would use) from
    /// the queue.
    pub async fn prune(&self, ages: PruneAges, batch: u32) -> Result<PruneReport, QueueError> {
        let mut report = PruneReport::default();
        for (state, age) in [
            (JobState::Completed, ages.completed),
            (JobState::Cancelled, ages.cancelled),
            (JobState::Discarded, ages.discarded),
        ] {
            // An age past the calendar keeps everything of that state.
            let Some(before) = chrono::Duration::from_std(age)
                .ok()
                .and_then(|age| chrono::Utc::now().checked_sub_signed(age))
            else {
                continue;
            };
            let mut after_at: Option<chrono::DateTime<chrono::Utc>> = None;
            let mut after_id: Option<i64> = None;
            loop {
                let started = std::time::Instant::now();
                let (deleted, last_at, last_id): (
                    i64,
                    Option<chrono::DateTime<chrono::Utc>>,
                    Option<i64>,
                ) = sqlx::query_as(PRUNE_SQL)
                    .bind(state.as_str())
                    .bind(before)
                    .bind(after_at)
                    .bind(after_id)
                    .bind(i32::try_from(batch).unwrap_or(i32::MAX))
                    .fetch_one(self.pool())
                    .await?;
                report.batches += 1;
                report.deleted += u64::try_from(deleted).unwrap_or(0);
                match (last_at, last_id) {
                    (Some(at), Some(id)) if deleted >= i64::from(batch) => {
                        after_at = Some(at);
                        after_id = Some(id);
                    }
                    _ => break,
                }
                tokio::time::sleep(started.elapsed() * 2).await;
            }
        }
        Ok(report)
    }

    /// Vacuums the finished jobs' partition after a prune deleted rows from it, so their space is
    /// reused even where autovacuum is off or slow to come. Skipped when another session is
    /// vacuuming it.
    pub async fn vacuum_finished(&self) -> Result<(), QueueError> {
        sqlx::raw_sql("VACUUM (SKIP_LOCKED) mcp.sync_jobs_done")
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Vacuums the live partition when it holds more than `threshold` dead rows (a burst was
    /// just drained): its claim index then holds no dead entries for claims to step over. A
    /// daemon that does not own the table (or finds it being vacuumed) skips it. It never
    /// truncates the partition: that would take a lock every claim and enqueue waits for.
    /// Returns whether it vacuumed.
    pub async fn vacuum_live_if_dead(&self, threshold: i64) -> Result<bool, QueueError> {
        if threshold <= 0 {
            return Ok(false);
        }
        let dead: Option<i64> = sqlx::query_scalar(LIVE_DEAD_ROWS_SQL)
            .fetch_optional(self.pool())
            .await?;
        if dead.unwrap_or(0) <= threshold {
            return Ok(false);
        }
        sqlx::raw_sql("VACUUM (SKIP_LOCKED, TRUNCATE false) mcp.sync_jobs_live")
            .execute(self.pool())
            .await?;
        Ok(true)
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

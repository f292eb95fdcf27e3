//! The pruner of finished jobs: deletes them past their ages in small batches (run by the
//! `prune` job, on its cron schedule), and vacuums their partition after.

use crate::pg;
use std::time::Duration;

use crate::{JobState, Queue, QueueError};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PruneReport {
    pub deleted: u64,
    pub batches: u64,
}

/// Ages past which finished jobs are deleted.
#[derive(Debug, Clone, Copy)]
pub struct PruneAges {
    pub completed: Duration,
    pub cancelled: Duration,
    pub discarded: Duration,
}

/// One prune batch of one state (exposed for the plan tests).
pub const PRUNE_SQL: &str =
    "SELECT deleted, last_at, last_id FROM mcp.prune_jobs($1, $2, $3, $4, $5)";

impl Queue {
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
                ) = pg::query_as(PRUNE_SQL)
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
}

//! The vacuumer of the live partition: vacuums it soon after a burst left dead rows in it.

use crate::pg;
use std::time::Duration;

use metrics::counter;
use tokio_util::sync::CancellationToken;

use crate::metrics as m;
use crate::periodic;
use crate::{Queue, QueueError};

/// Dead rows the live partition holds now (the statistics collector's count).
const LIVE_DEAD_ROWS_SQL: &str = "\
SELECT COALESCE(n_dead_tup, 0)::bigint FROM pg_stat_user_tables
WHERE relid = 'mcp.sync_jobs_live'::regclass";

impl Queue {
    /// Vacuums the live partition when it holds more than `threshold` dead rows (a burst was
    /// just drained): its claim index then holds no dead entries for claims to step over. A
    /// daemon that does not own the table (or finds it being vacuumed) skips it. It never
    /// truncates the partition: that would take a lock every claim and enqueue waits for.
    /// Returns whether it vacuumed.
    pub async fn vacuum_live_if_dead(&self, threshold: i64) -> Result<bool, QueueError> {
        if threshold <= 0 {
            return Ok(false);
        }
        let dead: Option<i64> = pg::query_scalar(LIVE_DEAD_ROWS_SQL)
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
}

/// Vacuums the live partition soon after a burst has left dead rows in it (autovacuum visits a
/// database at most once a minute): claims then never step over dead index entries for long.
pub(crate) async fn vacuum_loop(
    queue: Queue,
    every: Duration,
    dead_rows: i64,
    stop: CancellationToken,
) {
    periodic::every(every, stop, || async {
        match queue.vacuum_live_if_dead(dead_rows).await {
            Ok(true) => {
                counter!(m::QUEUE_VACUUMS).increment(1);
                tracing::debug!("vacuumed the live jobs partition");
            }
            Ok(false) => {}
            Err(e) => {
                counter!(m::DB_ERRORS, "op" => "vacuum").increment(1);
                tracing::warn!(error = %e, "vacuuming the live jobs partition failed");
            }
        }
    })
    .await
}

//! `prune`: retention of finished jobs (through the queue's batched delete), of the
//! integrations' history, and of the change feed and tombstones.

use std::time::Duration;

use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::kinds::Prune;
use mcp_queue::PruneAges;

impl Job<Services> for Prune {
    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let r = &ctx.services.config.retention;
        let secs = |o: Option<u64>, d: Duration| o.map(Duration::from_secs).unwrap_or(d);
        let ages = PruneAges {
            completed: secs(p.completed_older_than_s, r.completed),
            cancelled: secs(p.cancelled_older_than_s, r.cancelled),
            discarded: secs(p.discarded_older_than_s, r.discarded),
        };
        let report = ctx
            .services
            .queue
            .prune(ages, p.batch_size.unwrap_or(r.batch_size))
            .await
            .map_err(|e| JobError::Retry(format!("prune failed: {e}")))?;
        tracing::info!(
            job_id = ctx.id,
            deleted = report.deleted,
            batches = report.batches,
            "pruned finished jobs"
        );
        let history = mcp_daemon::integrations::prune_history(
            ctx.services.queue.pool(),
            &r.history(),
            p.batch_size.unwrap_or(r.batch_size),
        )
        .await
        .map_err(|e| JobError::Retry(format!("prune of integration history failed: {e}")))?;
        for (table, deleted) in &history {
            tracing::info!(job_id = ctx.id, table, deleted, "pruned history");
        }
        let (changes, tombstones) = mcp_daemon::items::prune(
            ctx.services.queue.pool(),
            r.item_changes,
            r.tombstones,
            p.batch_size.unwrap_or(r.batch_size),
        )
        .await
        .map_err(|e| JobError::Retry(format!("prune of the change feed failed: {e}")))?;
        tracing::info!(
            job_id = ctx.id,
            changes,
            tombstones,
            "pruned the change feed and tombstones"
        );
        // Deleted rows' space is reused only once vacuumed; do not wait for autovacuum
        // (which may be off, or a minute away). A failed vacuum is not a failed prune.
        if report.deleted > 0 {
            if let Err(e) = ctx.services.queue.vacuum_finished().await {
                tracing::warn!(job_id = ctx.id, error = %e, "vacuum after prune failed");
            }
        }
        if let Err(e) =
            mcp_daemon::integrations::vacuum_history(ctx.services.queue.pool(), &history).await
        {
            tracing::warn!(job_id = ctx.id, error = %e, "vacuum after prune failed");
        }
        Ok(())
    }
}

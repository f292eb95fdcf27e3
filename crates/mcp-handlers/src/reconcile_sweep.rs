//! `reconcile_sweep`: the hourly cron job. Enqueues one `reconcile` per integration in service
//! whose last reconcile is older than its platform's `[reconcile]` interval, spread over
//! `[reconcile] spread`. It never calls a platform.

use std::time::Duration;

use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::items::reconcile;
use mcp_daemon::kinds::ReconcileSweep;

impl Job<Services> for ReconcileSweep {
    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let cfg = &ctx.services.config.reconcile;
        let spread = p.spread_s.map(Duration::from_secs).unwrap_or(cfg.spread);
        let enqueued = reconcile::sweep(ctx.services.queue.pool(), cfg, spread)
            .await
            .map_err(|e| JobError::Retry(format!("reconcile sweep failed: {e}")))?;
        tracing::info!(
            job_id = ctx.id,
            enqueued,
            spread_s = spread.as_secs(),
            "reconcile sweep"
        );
        Ok(())
    }
}

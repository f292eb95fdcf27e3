//! `health_sweep`: the 6-hourly cron job. Enqueues one `health_check` per in-service
//! integration, spread over `health.spread` (or the payload's `spread_s`), in one statement; an
//! integration whose previous check is still queued is not enqueued twice.

use std::time::Duration;

use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::kinds::HealthSweep;

impl Job<Services> for HealthSweep {
    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let spread = p
            .spread_s
            .map(Duration::from_secs)
            .unwrap_or(ctx.services.config.health.spread);
        let n = mcp_daemon::integrations::enqueue_health_sweep(ctx.services.queue.pool(), spread)
            .await
            .map_err(|e| JobError::Retry(format!("health sweep failed: {e}")))?;
        tracing::info!(
            job_id = ctx.id,
            enqueued = n,
            spread_s = spread.as_secs(),
            "health sweep"
        );
        Ok(())
    }
}

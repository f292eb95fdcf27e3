//! `token_refresh_sweep`: the hourly cron job; one `token_refresh` per token that expires within
//! `refresh.ahead` (or the payload's `ahead_s`), in one statement.

use std::time::Duration;

use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::kinds::TokenRefreshSweep;

impl Job<Services> for TokenRefreshSweep {
    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let ahead = p
            .ahead_s
            .map(Duration::from_secs)
            .unwrap_or(ctx.services.config.refresh.ahead);
        let n = mcp_daemon::credentials::enqueue_refresh_sweep(ctx.services.queue.pool(), ahead)
            .await
            .map_err(|e| JobError::Retry(format!("refresh sweep failed: {e}")))?;
        tracing::info!(
            job_id = ctx.id,
            enqueued = n,
            ahead_s = ahead.as_secs(),
            "token refresh sweep"
        );
        Ok(())
    }
}

//! `token_refresh_sweep`: the hourly cron job; one `token_refresh` per token that expires within
//! `refresh.ahead` (or the payload's `ahead_s`), in one statement.

use std::time::Duration;

use serde::Deserialize;

use super::{Job, JobContext, JobError, Services};

pub struct TokenRefreshSweep;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    ahead_s: Option<u64>,
}

impl Job<Services> for TokenRefreshSweep {
    const KIND: &'static str = "token_refresh_sweep";
    type Payload = Payload;

    async fn run(&self, ctx: JobContext, p: Payload) -> Result<(), JobError> {
        let ahead = p
            .ahead_s
            .map(Duration::from_secs)
            .unwrap_or(ctx.services.config.refresh.ahead);
        let n = crate::credentials::enqueue_refresh_sweep(ctx.services.queue.pool(), ahead)
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

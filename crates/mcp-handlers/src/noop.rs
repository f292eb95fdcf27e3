//! `noop`: sleeps `sleep_ms`, fails its first `fail_times` attempts. A probe of the engine.

use std::time::Duration;

use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::kinds::Noop;

impl Job<Services> for Noop {
    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        if p.sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
        }
        if (ctx.attempt.max(0) as u32) <= p.fail_times {
            return Err(JobError::Retry(format!(
                "noop failing on purpose: attempt {} of the first {} that fail",
                ctx.attempt, p.fail_times
            )));
        }
        Ok(())
    }
}

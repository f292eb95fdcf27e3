//! `noop`: sleeps `sleep_ms`, fails its first `fail_times` attempts. A probe of the engine.

use std::time::Duration;

use serde::Deserialize;

use super::{Job, JobContext, JobError, Services};

pub struct Noop;

#[derive(Deserialize, Default)]
pub struct Payload {
    #[serde(default)]
    sleep_ms: u64,
    #[serde(default)]
    fail_times: u32,
}

impl Job<Services> for Noop {
    const KIND: &'static str = "noop";
    type Payload = Payload;

    async fn run(&self, ctx: JobContext, p: Payload) -> Result<(), JobError> {
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

//! `noop`: sleeps `sleep_ms`, fails its first `fail_times` attempts. A probe of the engine.

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;

use super::{Handler, JobContext, JobError};

pub struct Noop;

#[derive(Deserialize, Default)]
struct Payload {
    #[serde(default)]
    sleep_ms: u64,
    #[serde(default)]
    fail_times: u32,
}

impl Handler for Noop {
    fn kind(&self) -> &'static str {
        "noop"
    }

    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let p: Payload = ctx.payload()?;
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
        })
    }
}

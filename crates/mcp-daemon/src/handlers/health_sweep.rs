//! `health_sweep`: the 6-hourly cron job. Enqueues one `health_check` per in-service
//! integration, spread over `health.spread` (or the payload's `spread_s`), in one statement; an
//! integration whose previous check is still queued is not enqueued twice.

use std::time::Duration;

use serde::Deserialize;

use super::{Job, JobContext, JobError, Services};

pub struct HealthSweep;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    spread_s: Option<u64>,
}

impl Job<Services> for HealthSweep {
    const KIND: &'static str = "health_sweep";
    type Payload = Payload;

    async fn run(&self, ctx: JobContext, p: Payload) -> Result<(), JobError> {
        let spread = p
            .spread_s
            .map(Duration::from_secs)
            .unwrap_or(ctx.services.config.health.spread);
        let n = crate::integrations::enqueue_health_sweep(ctx.services.queue.pool(), spread)
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

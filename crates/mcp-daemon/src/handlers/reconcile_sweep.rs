//! `reconcile_sweep`: the hourly cron job. Enqueues one `reconcile` per integration in service
//! whose last reconcile is older than its platform's `[reconcile]` interval, spread over
//! `[reconcile] spread`. It never calls a platform.

use std::time::Duration;

use serde::Deserialize;

use super::{Job, JobContext, JobError, Services};
use crate::items::reconcile;

pub struct ReconcileSweep;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    spread_s: Option<u64>,
}

impl Job<Services> for ReconcileSweep {
    const KIND: &'static str = "reconcile_sweep";
    type Payload = Payload;

    async fn run(&self, ctx: JobContext, p: Payload) -> Result<(), JobError> {
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

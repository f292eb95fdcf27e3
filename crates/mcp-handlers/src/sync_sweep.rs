//! `sync_sweep`: the 5-minutely cron job. Enqueues one `sync` per ACTIVE/DEGRADED integration
//! whose last sync is older than its interval (the shorter fallback interval while its webhook
//! is missing, failing or silent), spread over the next sweep period, and samples the polling
//! fallback gauge. It never calls a platform.

use std::time::Duration;

use metrics::gauge;

use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::kinds::SyncSweep;
use mcp_daemon::sync::{store, POLLING_FALLBACK};
use mcp_platforms::connectors::Platform;

impl Job<Services> for SyncSweep {
    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let cfg = &ctx.services.config.sync;
        let spread = p.spread_s.map(Duration::from_secs).unwrap_or(cfg.spread);
        let done = store::sweep(ctx.services.queue.pool(), cfg, spread)
            .await
            .map_err(|e| JobError::Retry(format!("sync sweep failed: {e}")))?;
        for plat in Platform::ALL {
            let n = done
                .fallback
                .iter()
                .find(|(q, _)| *q == plat)
                .map_or(0, |x| x.1);
            gauge!(POLLING_FALLBACK, "platform" => plat.as_str()).set(n as f64);
        }
        tracing::info!(
            job_id = ctx.id,
            enqueued = done.enqueued,
            spread_s = spread.as_secs(),
            "sync sweep"
        );
        Ok(())
    }
}

//! `items_backfill`: the item model written into the rows stored before it (or before its
//! current version), a batch per short transaction, resumable (`items::backfill`). One run works
//! for about `RUN_FOR` and then snoozes (no attempt spent), so the pass goes on in turns with
//! the other jobs until it is done; one live job at a time (unique key `items_backfill`).
//! Enqueued at the daemon's start when a pass is still to be made; `{"all": true}` models every
//! row again (after a change of `[items.<platform>] text`). Never logs an item's content.

use std::time::{Duration, Instant};

use metrics::counter;

use crate::listing::db;
use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::items::backfill::{self, BACKFILLED};
use mcp_daemon::kinds::ItemsBackfill;
use mcp_platforms::items::MODEL_VERSION;

/// How long one run works before it snoozes.
const RUN_FOR: Duration = Duration::from_secs(10);
/// The snooze between two runs of a pass.
const BETWEEN_RUNS: Duration = Duration::from_millis(200);

impl Job<Services> for ItemsBackfill {
    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let s = &ctx.services;
        let pool = s.queue.pool();
        let pass = match backfill::pass(pool).await.map_err(db)? {
            Some(pass) if p.all && pass.job_id != Some(ctx.id) => None,
            Some(pass) if pass.version < MODEL_VERSION => None,
            Some(pass) if pass.finished => {
                tracing::info!(
                    job_id = ctx.id,
                    version = pass.version,
                    "items backfill: nothing to do"
                );
                return Ok(());
            }
            other => other,
        };
        let pass = match pass {
            Some(pass) => pass,
            None => backfill::start(pool, p.all, ctx.id).await.map_err(db)?,
        };
        let modeller = crate::modeller(s);
        let size = s.config.items.backfill_batch;
        let until = Instant::now() + RUN_FOR;
        let mut after = pass.after.clone();
        let mut modelled = 0u64;
        loop {
            let rows = backfill::batch(pool, after.as_ref(), size)
                .await
                .map_err(db)?;
            let done = rows.len() < size as usize;
            let (m, all) = (modeller.clone(), pass.all_rows);
            let (rows, plans) = tokio::task::spawn_blocking(move || {
                let plans = backfill::plan(&m, &rows, all);
                (rows, plans)
            })
            .await
            .map_err(|e| JobError::Retry(format!("modelling a batch: {e}")))?;
            let last = rows
                .last()
                .map(|r| (r.integration_id, r.external_id.clone()))
                .or(after);
            let n = backfill::write(pool, &rows, &plans, last.as_ref(), done)
                .await
                .map_err(db)?;
            counter!(BACKFILLED).increment(n);
            modelled += n;
            after = last;
            if done {
                tracing::info!(
                    job_id = ctx.id,
                    version = MODEL_VERSION,
                    all = pass.all_rows,
                    modelled = pass.modelled.saturating_add(modelled as i64),
                    "items backfill: done"
                );
                return Ok(());
            }
            if Instant::now() >= until {
                tracing::info!(job_id = ctx.id, modelled, "items backfill: continues");
                return Err(JobError::Snooze(BETWEEN_RUNS));
            }
        }
    }
}

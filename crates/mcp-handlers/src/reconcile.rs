//! `reconcile`: one integration's full listing, to find the items deleted at the platform
//! without an event. Behind the circuit breaker, with its credentials and the shared token
//! bucket (one token per page, as a sync takes), it reads from the run's checkpoint (a killed
//! or snoozed run resumes) to the end, then tombstones what the complete listing did not show
//! when the guard allows (`items::reconcile`). A failed listing tombstones nothing: the job
//! retries from its checkpoint, and a discarded one leaves every item as it was.

use std::time::Instant;

use metrics::counter;

use crate::gate::Gate;
use crate::listing::{db, listing_failed, Lister, Next};
use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::items::reconcile::{self, Finish, RUNS};
use mcp_daemon::kinds::Reconcile;
use mcp_daemon::sync;
use mcp_platforms::connectors::watermark;

impl Job<Services> for Reconcile {
    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let s = &ctx.services;
        let pool = s.queue.pool();
        let count = |platform: &str, outcome: &'static str| {
            counter!(RUNS, "platform" => platform.to_string(), "outcome" => outcome).increment(1)
        };
        let (integration, creds) = match crate::gate::gate(s, p.integration_id).await? {
            Gate::Call(i, c) => (i, c),
            Gate::Skip(i, outcome) => {
                count(i.platform.as_str(), "skipped");
                tracing::info!(integration_id = %i.id, state = %i.state, outcome,
                    "reconcile skipped");
                return Ok(());
            }
            Gate::Broken(i, reason) => {
                count(i.platform.as_str(), "failed");
                return Err(JobError::Discard(reason));
            }
        };
        let platform = integration.platform.as_str();
        let cfg = &s.config;
        let interval = cfg.reconcile.interval(integration.platform);
        let settings = sync::store::settings(pool, integration.id)
            .await
            .map_err(db)?;
        let account = integration.external_account_id.clone();
        if interval.is_zero()
            || watermark::not_configured(integration.platform, &settings, account.as_deref())
                .is_some()
        {
            count(platform, "skipped");
            return Ok(());
        }
        let connector = s.connectors.get(integration.platform);
        let modeller = crate::modeller(s);
        let run = reconcile::start_or_resume(pool, &integration, interval)
            .await
            .map_err(db)?;
        if run.restarted {
            count(platform, "restarted");
            tracing::warn!(integration_id = %integration.id, platform,
                "reconcile: an unfinished run older than its interval was started over");
        }
        let mut cursor = run.cursor;
        let mut lister = Lister::new(s, &ctx, &integration, connector.as_ref(), &settings, creds);
        let (mut pages, mut listed, mut restarted) = (run.pages, run.listed, false);
        let started = Instant::now();
        loop {
            let result = match lister.next(cursor.as_deref()).await? {
                Next::Snooze(wait) => {
                    count(platform, "rate_limited");
                    return Err(JobError::Snooze(wait));
                }
                Next::Page(result) => result,
            };
            let page = match result {
                Ok(page) => page,
                Err(e) if e.is_cursor_expired() && cursor.is_some() && !restarted => {
                    // The platform no longer takes the run's page cursor: list from the start.
                    tracing::warn!(integration_id = %integration.id, platform,
                        "reconcile cursor expired: the listing starts over");
                    let run = reconcile::start(pool, &integration, true)
                        .await
                        .map_err(db)?;
                    count(platform, "restarted");
                    (cursor, pages, listed, restarted) = (None, run.pages, run.listed, true);
                    continue;
                }
                Err(e) => {
                    tracing::info!(job_id = ctx.id, integration_id = %integration.id, platform,
                        error = %e, pages, listed, "reconcile listing stopped: nothing tombstoned");
                    let (outcome, result) = listing_failed(&ctx, &integration, e, started).await?;
                    count(platform, outcome);
                    return result;
                }
            };
            let done = page.done || page.next_cursor.is_none();
            reconcile::save_page(pool, &s.feed, &modeller, &integration, &page)
                .await
                .map_err(db)?;
            pages += 1;
            listed += page.items.len() as i64;
            if done {
                break;
            }
            cursor = page.next_cursor;
        }
        match reconcile::finish(pool, &s.feed, &integration, cfg.reconcile.min_share)
            .await
            .map_err(db)?
        {
            Finish::Completed { seen, tombstoned } => {
                count(platform, "completed");
                tracing::info!(job_id = ctx.id, integration_id = %integration.id, platform,
                    pages, seen, tombstoned, resumed = run.resumed, "reconcile");
            }
            Finish::GuardStopped { seen, live_before } => {
                count(platform, "guard_stopped");
                tracing::warn!(job_id = ctx.id, integration_id = %integration.id, platform,
                    pages, seen, live_before, min_share = cfg.reconcile.min_share,
                    "reconcile: the listing saw too few of the items held; nothing tombstoned");
            }
            Finish::NoRun => {}
        }
        Ok(())
    }
}

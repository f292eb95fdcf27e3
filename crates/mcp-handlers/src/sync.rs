//! `sync`: one integration per job. Behind the circuit breaker, with its credentials, it reads
//! the platform page by page from the stored cursor, taking a token from the integration's
//! shared bucket before each call, and writes each page with its cursor checkpoint in one
//! transaction (a killed sync resumes at the last page, nothing lost or doubled). A too-old
//! cursor starts a full resync; a 429 blocks the bucket and snoozes the job (no attempt spent);
//! transient failures retry; auth failures are recorded as the health check does. Settings
//! that name nothing to read (Discord without channels) end the run without calling. After each
//! page, and first of all when a run starts (what a killed run left), the items whose listing
//! lacks their content get it (`crate::content`). It never logs a credential or an item's
//! content.

use std::time::Instant;

use metrics::counter;

use crate::content::{Fetcher, Step};
use crate::gate::Gate;
use crate::listing::{db, listing_failed, Lister, Next};
use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::kinds::Sync;
use mcp_daemon::sync::{store, SYNC_ITEMS, SYNC_PAGES, SYNC_RUNS};
use mcp_platforms::connectors::{watermark, Identity};

impl Job<Services> for Sync {
    /// Failing for good is told to the product (`sync.failing`).
    async fn discarded(conn: &mut sqlx::PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
        mcp_daemon::notify::failed_for_good(conn, ids, mcp_daemon::notify::SYNC_FAILING).await
    }

    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let s = &ctx.services;
        let pool = s.queue.pool();
        let count = |platform: &str, outcome: &'static str| {
            counter!(SYNC_RUNS, "platform" => platform.to_string(), "outcome" => outcome)
                .increment(1)
        };
        let (integration, creds) = match crate::gate::gate(s, p.integration_id).await? {
            Gate::Call(i, c) => (i, c),
            Gate::Skip(i, outcome) => {
                count(i.platform.as_str(), outcome);
                tracing::info!(integration_id = %i.id, state = %i.state, outcome, "sync skipped");
                return Ok(());
            }
            Gate::Broken(i, reason) => {
                count(i.platform.as_str(), "credentials_error");
                return Err(JobError::Discard(reason));
            }
        };
        let platform = integration.platform.as_str();
        let run = |outcome: &'static str| count(platform, outcome);
        let connector = s.connectors.get(integration.platform);
        let settings = store::settings(pool, integration.id).await.map_err(db)?;
        let account = integration.external_account_id.clone();
        if let Some(reason) =
            watermark::not_configured(integration.platform, &settings, account.as_deref())
        {
            // Nothing to read until the settings name what to read: not an error to retry.
            run("skipped_not_configured");
            tracing::warn!(job_id = ctx.id, integration_id = %integration.id, platform,
                    reason = %reason, "sync skipped: not configured");
            return Ok(());
        }
        let mut integration = integration;
        if integration.web_base.is_none()
            && mcp_platforms::connectors::WEB_BASE_FROM_IDENTITY.contains(&integration.platform)
        {
            // Its items' links need the workspace's web address, which the identity call names:
            // asked once, before the first items are written (a failure leaves the links out).
            if let Ok(Identity {
                web_base: Some(w), ..
            }) = connector.health_check(&creds).await
            {
                crate::health_check::record_web_base(pool, integration.id, &w).await;
                integration.web_base = Some(w);
            }
        }
        let mut cursor = store::cursor(pool, integration.id).await.map_err(db)?;
        let modeller = crate::modeller(s);
        let mut lister = Lister::new(s, &ctx, &integration, connector.as_ref(), &settings, creds);
        let (mut pages, mut items, mut resynced) = (0u64, 0u64, false);
        let started = Instant::now();
        let fetcher = Fetcher {
            ctx: &ctx,
            integration: &integration,
            connector: connector.as_ref(),
            settings: &settings,
            modeller: &modeller,
            started,
        };
        // What a killed or snoozed run left to fetch, first.
        let mut fetched = match fetcher.run(&mut lister.creds).await? {
            Step::Done(n) => n,
            Step::Stop(outcome, result) => {
                run(outcome);
                return result;
            }
        };
        loop {
            let listed = match lister.next(cursor.as_deref()).await? {
                Next::Snooze(wait) => {
                    run("rate_limited");
                    return Err(JobError::Snooze(wait));
                }
                Next::Page(listed) => listed,
            };
            let page = match listed {
                Ok(page) => page,
                Err(e) if e.is_cursor_expired() && cursor.is_some() && !resynced => {
                    tracing::warn!(integration_id = %integration.id, platform,
                            "sync cursor expired: full resync");
                    store::clear_cursor(pool, integration.id)
                        .await
                        .map_err(db)?;
                    cursor = None;
                    resynced = true;
                    run("resync");
                    continue;
                }
                Err(e) => {
                    tracing::info!(job_id = ctx.id, integration_id = %integration.id, platform,
                            error = %e, pages, items, "sync stopped");
                    let (outcome, result) = listing_failed(&ctx, &integration, e, started).await?;
                    run(outcome);
                    return result;
                }
            };
            // A page that names no way on is the end, whatever it says.
            let done = page.done || page.next_cursor.is_none();
            let n = page.items.len() as u64;
            store::save_page(pool, &s.feed, &modeller, &integration, &page, done)
                .await
                .map_err(db)?;
            pages += 1;
            items += n;
            counter!(SYNC_PAGES, "platform" => platform).increment(1);
            counter!(SYNC_ITEMS, "platform" => platform).increment(n);
            // The page's items whose listing lacks their content, before the next page.
            match fetcher.run(&mut lister.creds).await? {
                Step::Done(n) => fetched += n,
                Step::Stop(outcome, result) => {
                    run(outcome);
                    return result;
                }
            }
            if done {
                break;
            }
            cursor = page.next_cursor;
        }
        run("completed");
        tracing::info!(job_id = ctx.id, integration_id = %integration.id, platform, pages,
                items, fetched, resynced, elapsed_ms = started.elapsed().as_millis() as u64, "sync");
        s.notifier
            .sync_completed(pool, &integration, pages, items, resynced)
            .await;
        Ok(())
    }
}

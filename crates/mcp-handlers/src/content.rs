//! The sync's content step: the integration's items whose listing lacks their content (a Gmail
//! message's body, a Zoom transcript, a Notion page's blocks) fetched one by one, each stored
//! with its model and change row in its own short transaction (`items::content`), so a killed
//! sync never fetches again what it stored. Before every HTTP call of a fetch the `pace` hook
//! takes a token from the integration's shared bucket and from the content method's own
//! (`Connector::content_limit`); a longer wait than a job sleeps snoozes the job (no attempt
//! spent), a 429 blocks the bucket and snoozes, a refused access token is refreshed once. An
//! item the platform no longer has (404) becomes a tombstone; one whose content call fails for
//! good stays modelled from its listing; a transient failure leaves it pending for the next
//! round. Never logs an item's content.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use metrics::counter;

use crate::listing::{db, listing_failed};
use crate::{JobContext, JobError};
use mcp_daemon::integrations::Integration;
use mcp_daemon::items::content::{self as store, Pending, CONTENT_CALLS, CONTENT_FETCHED};
use mcp_daemon::items::model::Source;
use mcp_daemon::items::{self, Gone, Modeller, Tombstone};
use mcp_daemon::sync;
use mcp_platforms::connectors::{Action, Connector, ConnectorError, Credentials, ErrorType, Pace};

/// Transient failures in a row after which a round stops (the platform is likely down: the
/// listing that follows meets it too and retries the job).
const TRANSIENT_IN_A_ROW: u32 = 3;

/// The code of the error a pace hook stops a fetch with (the bucket's wait, not the platform's).
pub const PACED: &str = "bucket_wait";

/// How the content step ended.
pub(super) enum Step {
    /// No item is left to fetch this round; how many were stored.
    Done(u64),
    /// The run ends with this outcome label and result (a snooze, a retry, an auth failure).
    Stop(&'static str, Result<(), JobError>),
}

/// What stopped a pace hook.
enum Stopped {
    Wait(Duration),
    Db(String),
}

/// The calls of one integration's content step.
pub(super) struct Fetcher<'a> {
    pub ctx: &'a JobContext,
    pub integration: &'a Integration,
    pub connector: &'a dyn Connector,
    pub settings: &'a serde_json::Value,
    pub modeller: &'a Modeller,
    pub started: Instant,
}

impl Fetcher<'_> {
    /// Fetches the content of every item of the integration waiting for it, in `external_id`
    /// order, each tried once.
    pub(super) async fn run(&self, creds: &mut Credentials) -> Result<Step, JobError> {
        let s = &self.ctx.services;
        let pool = s.queue.pool();
        let platform = self.integration.platform;
        if !self.modeller.config().fetches_content(platform) {
            return Ok(Step::Done(0));
        }
        let batch = self.modeller.config().content_batch;
        let (mut after, mut stored, mut transient) = (String::new(), 0u64, 0u32);
        loop {
            let items = store::pending(pool, self.integration.id, &after, batch)
                .await
                .map_err(db)?;
            let Some(last) = items.last() else {
                return Ok(Step::Done(stored));
            };
            after = last.external_id.clone();
            for item in &items {
                match self.one(creds, item).await? {
                    One::Stored => {
                        stored += 1;
                        transient = 0;
                    }
                    One::Settled => transient = 0,
                    One::Transient => {
                        transient += 1;
                        if transient >= TRANSIENT_IN_A_ROW {
                            return Ok(Step::Done(stored));
                        }
                    }
                    One::Stop(outcome, result) => return Ok(Step::Stop(outcome, result)),
                }
            }
        }
    }

    async fn one(&self, creds: &mut Credentials, item: &Pending) -> Result<One, JobError> {
        let s = &self.ctx.services;
        let pool = s.queue.pool();
        let integration = self.integration;
        let p = integration.platform;
        let stopped: Arc<Mutex<Option<Stopped>>> = Arc::default();
        let pace = self.pace(stopped.clone());
        let fetched = crate::gate::with_fresh_token!(
            s,
            integration,
            *creds,
            self.ctx.id,
            self.connector
                .fetch_content(&*creds, &item.raw, self.settings, &*pace)
                .await
        );
        let why = stopped.lock().map(|mut g| g.take()).unwrap_or(None);
        match why {
            Some(Stopped::Wait(wait)) => {
                return Ok(One::Stop("rate_limited", Err(JobError::Snooze(wait))))
            }
            Some(Stopped::Db(e)) => return Err(JobError::Retry(format!("database error: {e}"))),
            None => {}
        }
        let e = match fetched {
            Ok(content) => {
                let m = self.modeller.row(
                    &Source {
                        platform: p,
                        account: integration.external_account_id.as_deref(),
                        web_base: integration.web_base.as_deref(),
                        external_id: &item.external_id,
                        raw: &item.raw,
                        content: Some(&content),
                        listed_at: None,
                    },
                    true,
                );
                if store::save(pool, integration, item, &m).await.map_err(db)? {
                    counter!(CONTENT_FETCHED, "platform" => p.as_str()).increment(1);
                    s.feed.wake(pool, &[integration.workspace_id]);
                    return Ok(One::Stored);
                }
                return Ok(One::Settled);
            }
            Err(e) => e,
        };
        if e.error_type == ErrorType::NotFound {
            let mut tx = items::begin(pool).await.map_err(db)?;
            let gone = items::tombstone(
                &mut tx,
                &[Tombstone {
                    integration_id: integration.id,
                    gone: Gone::Item(item.external_id.clone()),
                    reason: format!("{}: content_gone", p.as_str()),
                }],
            )
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
            gone.count("content");
            s.feed.wake(pool, &gone.workspaces);
            return Ok(One::Settled);
        }
        match e.action() {
            Action::Fail => {
                tracing::warn!(job_id = self.ctx.id, integration_id = %integration.id,
                    platform = p.as_str(), error = %e,
                    "content call failed for good: the item keeps its listing's model");
                let _ = sync::store::record_error(pool, integration, &e, self.ctx.id).await;
                store::give_up(pool, integration.id, item)
                    .await
                    .map_err(db)?;
                Ok(One::Settled)
            }
            Action::Retry => {
                tracing::info!(job_id = self.ctx.id, integration_id = %integration.id,
                    platform = p.as_str(), error = %e, "content call failed: left pending");
                let _ = sync::store::record_error(pool, integration, &e, self.ctx.id).await;
                Ok(One::Transient)
            }
            Action::Wait | Action::Reauth | Action::Revoked => {
                let (outcome, result) =
                    listing_failed(self.ctx, integration, e, self.started).await?;
                Ok(One::Stop(outcome, result))
            }
        }
    }

    /// The pace hook of one fetch: the tokens of the content method's bucket and of the
    /// integration's shared one, each call counted. A long wait or a database error stops the
    /// fetch, and says why in `stopped`.
    fn pace(&self, stopped: Arc<Mutex<Option<Stopped>>>) -> Box<Pace> {
        let s = &self.ctx.services;
        let pool = s.queue.pool().clone();
        let p = self.integration.platform;
        let id = self.integration.id;
        let method = s.config.sync.method_limit(self.connector.content_limit());
        let limit = s.config.sync.rate_limit(p);
        let max_wait = s.config.sync.max_inline_wait;
        Box::new(move || -> BoxFuture<'static, Result<(), ConnectorError>> {
            let (pool, stopped) = (pool.clone(), stopped.clone());
            Box::pin(async move {
                let why = match sync::take_tokens(&pool, p, id, method, limit, max_wait).await {
                    Ok(None) => {
                        counter!(CONTENT_CALLS, "platform" => p.as_str()).increment(1);
                        return Ok(());
                    }
                    Ok(Some(wait)) => Stopped::Wait(wait),
                    Err(e) => Stopped::Db(e.to_string()),
                };
                let wait = match &why {
                    Stopped::Wait(w) => Some(*w),
                    Stopped::Db(_) => None,
                };
                if let Ok(mut g) = stopped.lock() {
                    *g = Some(why);
                }
                let mut e = ConnectorError::new(
                    p,
                    ErrorType::RateLimited,
                    None,
                    Some(PACED.into()),
                    "stopped before the call: waiting for the rate-limit bucket",
                );
                e.retry_after = wait;
                Err(e)
            })
        })
    }
}

/// One item's fetch.
enum One {
    /// Its content and model are stored.
    Stored,
    /// Done with it otherwise (tombstoned, given up, or changed meanwhile).
    Settled,
    /// A transient failure: left pending.
    Transient,
    /// The run ends.
    Stop(&'static str, Result<(), JobError>),
}

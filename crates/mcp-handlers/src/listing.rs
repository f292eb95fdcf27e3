//! What every listing job (sync, reconcile) does around a list call: the bucket tokens first
//! (`bucket_token`: a token from the shared bucket and the method's, or a snooze), the call made
//! again once with a refreshed token (`Lister`), and a failure's outcome (`listing_failed`).

use std::time::Instant;

use crate::{JobContext, JobError, Services};
use mcp_daemon::integrations::{self, Integration};
use mcp_daemon::sync::{self, store};
use mcp_platforms::connectors::{
    Action, Connector, ConnectorError, Credentials, MethodLimit, Page,
};

/// A database error of a handler: worth another attempt.
pub(super) fn db<E: std::fmt::Display>(e: E) -> JobError {
    JobError::Retry(format!("database error: {e}"))
}

/// What a failed list call (of a sync or a reconcile) comes to: recorded in
/// `mcp.integration_errors`; a 429 blocks the bucket and snoozes the job, a transient failure
/// retries, an auth failure is recorded as the health check does (and the job ends), anything
/// else discards the job. Returns the run's outcome label and the job's result.
pub(super) async fn listing_failed(
    ctx: &JobContext,
    integration: &Integration,
    e: ConnectorError,
    started: Instant,
) -> Result<(&'static str, Result<(), JobError>), JobError> {
    let s = &ctx.services;
    let pool = s.queue.pool();
    let _ = store::record_error(pool, integration, &e, ctx.id).await;
    Ok(match e.action() {
        Action::Wait => {
            let wait = e.retry_after.unwrap_or(s.config.sync.default_retry_after);
            sync::block(pool, integration.id, wait).await.map_err(db)?;
            ("rate_limited", Err(JobError::Snooze(wait)))
        }
        Action::Retry => ("retry", Err(JobError::Retry(e.to_string()))),
        Action::Reauth | Action::Revoked => {
            integrations::record_health_check(
                pool,
                integration.id,
                Err(&e),
                started.elapsed(),
                s.config.health.breaker_threshold,
                Some(ctx.id),
            )
            .await
            .map_err(db)?;
            ("auth_failed", Ok(()))
        }
        Action::Fail => ("failed", Err(JobError::Discard(e.to_string()))),
    })
}

/// One listing job's calls (sync, reconcile): the bucket tokens first, then the page, made
/// again once with a refreshed access token when the platform refused the first.
pub(super) struct Lister<'a> {
    pub s: &'a Services,
    pub job_id: i64,
    pub integration: &'a Integration,
    pub connector: &'a dyn Connector,
    pub settings: &'a serde_json::Value,
    pub account: Option<&'a str>,
    pub creds: Credentials,
}

/// What the next call of a listing came to.
pub(super) enum Next {
    /// A bucket's wait is longer than a job sleeps: snooze this long.
    Snooze(std::time::Duration),
    Page(Result<Page, ConnectorError>),
}

impl<'a> Lister<'a> {
    pub(super) fn new(
        s: &'a Services,
        ctx: &JobContext,
        integration: &'a Integration,
        connector: &'a dyn Connector,
        settings: &'a serde_json::Value,
        creds: Credentials,
    ) -> Self {
        Lister {
            s,
            job_id: ctx.id,
            integration,
            connector,
            settings,
            account: integration.external_account_id.as_deref(),
            creds,
        }
    }

    pub(super) async fn next(&mut self, cursor: Option<&str>) -> Result<Next, JobError> {
        let method =
            (self.s.config.sync).method_limit(self.connector.method_limit(cursor, self.settings));
        if let Some(wait) = bucket_token(self.s, self.integration, method).await? {
            return Ok(Next::Snooze(wait));
        }
        let listed = crate::gate::with_fresh_token!(
            self.s,
            self.integration,
            self.creds,
            self.job_id,
            self.connector
                .list_page(&self.creds, cursor, self.settings, self.account)
                .await
        );
        Ok(Next::Page(listed))
    }
}

/// Takes a token from the integration's shared bucket before a list call, and from the bucket
/// of the method the call is (`method`, where the platform limits it on its own), sleeping for
/// a short wait: `Some(wait)` when a wait is longer than a job sleeps, and the job should
/// snooze (`sync::take_tokens`).
pub(super) async fn bucket_token(
    s: &Services,
    integration: &Integration,
    method: Option<MethodLimit>,
) -> Result<Option<std::time::Duration>, JobError> {
    let cfg = &s.config.sync;
    let (p, id) = (integration.platform, integration.id);
    sync::take_tokens(
        s.queue.pool(),
        p,
        id,
        method,
        cfg.rate_limit(p),
        cfg.max_inline_wait,
    )
    .await
    .map_err(db)
}

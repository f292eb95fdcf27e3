//! `webhook_renew` and `webhook_renew_sweep`: keep expiring webhook subscriptions alive (see
//! `webhooks::renew`). A refused renewal of an auth kind is recorded and not retried (the
//! integration's own checks move it to EXPIRED); transient failures retry with backoff.

use std::time::Duration;

use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::kinds::{WebhookRenew, WebhookRenewSweep};
use mcp_daemon::webhooks::renew::{self, RenewError};
use mcp_platforms::connectors::Action;

impl Job<Services> for WebhookRenew {
    /// Failing for good is told to the product (`webhook.subscription_lost`).
    async fn discarded(conn: &mut sqlx::PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
        mcp_daemon::notify::failed_for_good(conn, ids, mcp_daemon::notify::SUBSCRIPTION_LOST).await
    }

    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let s = &ctx.services;
        match renew::renew(
            s.queue.pool(),
            &s.vault,
            &s.connectors,
            &s.config.webhooks,
            p.webhook_id,
        )
        .await
        {
            Ok(until) => {
                tracing::info!(job_id = ctx.id, webhook_id = %p.webhook_id, %until, "webhook subscription renewed");
                Ok(())
            }
            Err(e) => Err(outcome_of(e)),
        }
    }
}

/// What a failed call to a platform's subscription API makes of the job: transient failures
/// and database errors retry, a rate limit snoozes for its wait, the rest (auth, bad request,
/// nothing to renew) is discarded with its reason.
pub(super) fn outcome_of(e: RenewError) -> JobError {
    match e {
        RenewError::Platform(e) => match e.action() {
            Action::Retry => JobError::Retry(e.to_string()),
            Action::Wait => JobError::Snooze(e.retry_after.unwrap_or(Duration::from_secs(60))),
            _ => JobError::Discard(e.to_string()),
        },
        e @ (RenewError::Db(_) | RenewError::Webhook(_)) => JobError::Retry(e.to_string()),
        e => JobError::Discard(e.to_string()),
    }
}

impl Job<Services> for WebhookRenewSweep {
    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let ahead = p
            .ahead_s
            .map(Duration::from_secs)
            .unwrap_or(ctx.services.config.webhooks.renew_ahead);
        let n = renew::enqueue_renew_sweep(ctx.services.queue.pool(), ahead)
            .await
            .map_err(|e| JobError::Retry(format!("renew sweep failed: {e}")))?;
        tracing::info!(job_id = ctx.id, enqueued = n, "webhook renew sweep");
        Ok(())
    }
}

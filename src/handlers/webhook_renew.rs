//! `webhook_renew` and `webhook_renew_sweep`: keep expiring webhook subscriptions alive (see
//! `webhooks::renew`). A refused renewal of an auth kind is recorded and not retried (the
//! integration's own checks move it to EXPIRED); transient failures retry with backoff.

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;

use super::{Handler, JobContext, JobError};
use crate::connectors::Action;
use crate::webhooks::renew::{self, RenewError};

pub struct WebhookRenew;
pub struct WebhookRenewSweep;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    webhook_id: uuid::Uuid,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SweepPayload {
    ahead_s: Option<u64>,
}

impl Handler for WebhookRenew {
    fn kind(&self) -> &'static str {
        "webhook_renew"
    }

    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let p: Payload = ctx.payload()?;
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
                Err(RenewError::Platform(e)) => match e.action() {
                    Action::Retry => Err(JobError::Retry(e.to_string())),
                    Action::Wait => Err(JobError::Snooze(
                        e.retry_after.unwrap_or(Duration::from_secs(60)),
                    )),
                    _ => Err(JobError::Discard(e.to_string())),
                },
                Err(e @ RenewError::Db(_)) => Err(JobError::Retry(e.to_string())),
                Err(e) => Err(JobError::Discard(e.to_string())),
            }
        })
    }
}

impl Handler for WebhookRenewSweep {
    fn kind(&self) -> &'static str {
        "webhook_renew_sweep"
    }

    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let p: SweepPayload = ctx.payload()?;
            let ahead = p
                .ahead_s
                .map(Duration::from_secs)
                .unwrap_or(ctx.services.config.webhooks.renew_ahead);
            let n = renew::enqueue_renew_sweep(ctx.services.queue.pool(), ahead)
                .await
                .map_err(|e| JobError::Retry(format!("renew sweep failed: {e}")))?;
            tracing::info!(job_id = ctx.id, enqueued = n, "webhook renew sweep");
            Ok(())
        })
    }
}

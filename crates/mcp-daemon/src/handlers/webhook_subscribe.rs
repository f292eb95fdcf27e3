//! `webhook_subscribe`: makes one integration's subscriptions at its platform (see
//! `webhooks::subscriptions`). Transient failures and rate limits retry; a refusal of an auth
//! kind is recorded and not retried (the integration's own checks move it to EXPIRED).

use std::time::Duration;

use serde::Deserialize;

use super::{Job, JobContext, JobError, Services};
use crate::webhooks::renew::RenewError;
use crate::webhooks::subscriptions;
use mcp_platforms::connectors::Action;

pub struct WebhookSubscribe;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    integration_id: uuid::Uuid,
}

impl Job<Services> for WebhookSubscribe {
    const KIND: &'static str = "webhook_subscribe";
    type Payload = Payload;

    async fn run(&self, ctx: JobContext, p: Payload) -> Result<(), JobError> {
        let s = &ctx.services;
        let id = p.integration_id;
        match subscriptions::subscribe(
            s.queue.pool(),
            &s.vault,
            &s.connectors,
            &s.config.webhooks,
            id,
        )
        .await
        {
            Ok(done) => {
                tracing::info!(
                    job_id = ctx.id,
                    integration_id = %id,
                    created = done.created,
                    existing = done.existing,
                    skipped = done.skipped.unwrap_or(""),
                    "webhook subscriptions"
                );
                Ok(())
            }
            Err(RenewError::Platform(e)) => match e.action() {
                Action::Retry => Err(JobError::Retry(e.to_string())),
                Action::Wait => Err(JobError::Snooze(
                    e.retry_after.unwrap_or(Duration::from_secs(60)),
                )),
                _ => Err(JobError::Discard(e.to_string())),
            },
            Err(e @ (RenewError::Db(_) | RenewError::Webhook(_))) => {
                Err(JobError::Retry(e.to_string()))
            }
            Err(e) => Err(JobError::Discard(e.to_string())),
        }
    }
}

//! `webhook_subscribe`: makes one integration's subscriptions at its platform (see
//! `webhooks::subscriptions`). Transient failures and rate limits retry; a refusal of an auth
//! kind is recorded and not retried (the integration's own checks move it to EXPIRED).

use serde::Deserialize;

use super::{Job, JobContext, JobError, Services};
use crate::webhooks::subscriptions;

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
            Err(e) => Err(super::webhook_renew::outcome_of(e)),
        }
    }
}

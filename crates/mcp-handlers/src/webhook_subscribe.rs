//! `webhook_subscribe`: makes one integration's subscriptions at its platform (see
//! `webhooks::subscriptions`). Transient failures and rate limits retry; a refusal of an auth
//! kind is recorded and not retried (the integration's own checks move it to EXPIRED).

use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::kinds::WebhookSubscribe;
use mcp_daemon::webhooks::subscriptions;

impl Job<Services> for WebhookSubscribe {
    /// Failing for good is told to the product (`webhook.subscription_lost`).
    async fn discarded(conn: &mut sqlx::PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
        mcp_daemon::notify::failed_for_good(conn, ids, mcp_daemon::notify::SUBSCRIPTION_LOST).await
    }

    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let s = &ctx.services;
        let id = p.integration_id;
        let maker = subscriptions::Maker {
            pool: s.queue.pool(),
            vault: &s.vault,
            connectors: &s.connectors,
            cfg: &s.config.webhooks,
        };
        match subscriptions::subscribe(&maker, id).await {
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
            Err(e) => Err(crate::webhook_renew::outcome_of(e)),
        }
    }
}

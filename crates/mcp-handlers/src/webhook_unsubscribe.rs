//! `webhook_unsubscribe`: removes a superseded integration's subscriptions at its platform with
//! its own token, then deletes the token. A takeover (the same account connected again in the
//! same workspace) enqueues it in the connect's transaction: the old integration is REVOKED at
//! once (no event of it is accepted), and this job tells the platform to stop sending. A failure
//! that may pass retries with backoff; on the last attempt, or when the platform refuses the
//! token, the failure is recorded in `mcp.integration_errors` and the token deleted anyway.

use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::integrations::{self, IntegrationState};
use mcp_daemon::kinds::WebhookUnsubscribe;
use mcp_daemon::webhooks::renew::RenewError;
use mcp_daemon::webhooks::subscriptions::{unsubscribe_all, Removal};
use mcp_queue::pg;

impl Job<Services> for WebhookUnsubscribe {
    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let s = &ctx.services;
        let pool = s.queue.pool();
        let id = p.integration_id;
        let state = integrations::load(pool, id)
            .await
            .map_err(|e| JobError::Discard(e.to_string()))?
            .state;
        if !matches!(state, IntegrationState::Revoked | IntegrationState::Deleted) {
            return Err(JobError::Discard(format!(
                "integration {id} is {state}: only a revoked or deleted integration's \
                 subscriptions are removed"
            )));
        }
        let done = unsubscribe_all(pool, &s.vault, &s.connectors, id, Removal::Takeover)
            .await
            .map_err(|e| JobError::Retry(format!("database: {e}")))?;
        if done.pending > 0 && ctx.attempt < ctx.max_attempts {
            let first = done.failures.first().map(ToString::to_string);
            return Err(JobError::Retry(format!(
                "{} subscription(s) not removed yet: {}",
                done.pending,
                first.unwrap_or_default()
            )));
        }
        for e in &done.failures {
            match e {
                RenewError::Platform(ce) => {
                    mcp_daemon::connections::record_error(
                        pool,
                        id,
                        ce,
                        "takeover: remove subscription",
                    )
                    .await
                }
                e => tracing::warn!(integration_id = %id, error = %e,
                    "cannot remove a superseded integration's subscription"),
            }
        }
        pg::query("DELETE FROM mcp.oauth_tokens WHERE integration_id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map_err(|e| JobError::Retry(format!("database: {e}")))?;
        tracing::info!(
            job_id = ctx.id,
            integration_id = %id,
            removed = done.removed,
            failed = done.failures.len(),
            "superseded integration's subscriptions removed"
        );
        Ok(())
    }
}

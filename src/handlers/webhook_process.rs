//! `webhook_process`: one stored webhook delivery. Reads what the platform says — access
//! withdrawn (token revoked, app uninstalled, subscription removed) moves the integration to
//! REVOKED with an event; anything else is news to fetch, so it asks for an incremental `sync`
//! of that integration, coalesced (a burst of events leaves one queued sync). Marks the event
//! processed and records how long it waited. Idempotent; never logs the event's payload.

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;

use super::{Handler, JobContext, JobError};
use crate::webhooks::process::Processed;

pub struct WebhookProcess;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    event_id: i64,
}

impl Handler for WebhookProcess {
    fn kind(&self) -> &'static str {
        "webhook_process"
    }

    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let p: Payload = ctx.payload()?;
            let pool = ctx.services.queue.pool();
            let retry =
                |e: sqlx::Error| JobError::Retry(format!("webhook event {}: {e}", p.event_id));
            let outcome = ctx
                .services
                .webhook_events
                .process(pool, p.event_id)
                .await
                .map_err(|e| JobError::Retry(format!("webhook event {}: {e}", p.event_id)))?;
            let (platform, waited) = match outcome {
                Processed::Missing => {
                    return Err(JobError::Discard(format!(
                        "webhook event {} does not exist",
                        p.event_id
                    )))
                }
                Processed::Changed { platform, waited } => (platform, waited),
                Processed::Revoked {
                    integration,
                    platform,
                    reason,
                } => {
                    let mut tx = pool.begin().await.map_err(retry)?;
                    sqlx::query(
                        "SELECT mcp.transition_integration_state($1, 'REVOKED', $2) \
                         FROM core.integrations WHERE id = $1 \
                           AND state IN ('CONNECTED', 'ACTIVE', 'DEGRADED', 'ERROR', 'EXPIRED')",
                    )
                    .bind(integration)
                    .bind(reason)
                    .execute(&mut *tx)
                    .await
                    .map_err(retry)?;
                    // Pending events of this integration still get marked processed.
                    crate::queue::cancel_integration_jobs(
                        &mut *tx,
                        integration,
                        Some("webhook_process"),
                    )
                    .await
                    .map_err(|e| JobError::Retry(e.to_string()))?;
                    let waited = mark_processed(&mut *tx, p.event_id).await.map_err(retry)?;
                    tx.commit().await.map_err(retry)?;
                    tracing::info!(job_id = ctx.id, integration_id = %integration, platform, reason, "access withdrawn by the platform");
                    let waited = Duration::from_secs_f64(waited.unwrap_or(0.0).max(0.0));
                    (platform, waited)
                }
            };
            crate::metrics::webhook_processed(&platform, waited);
            Ok(())
        })
    }
}

/// Sets `processed_at` (once) and returns how long the event waited for it.
async fn mark_processed(
    db: impl sqlx::PgExecutor<'_>,
    event_id: i64,
) -> Result<Option<f64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE mcp.webhook_events SET processed_at = COALESCE(processed_at, now()) \
         WHERE id = $1 RETURNING extract(epoch FROM processed_at - received_at)::float8",
    )
    .bind(event_id)
    .fetch_optional(db)
    .await
}

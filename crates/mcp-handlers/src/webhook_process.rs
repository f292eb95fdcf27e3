//! `webhook_process`: stored webhook deliveries of one integration. Reads what the platform says — access
//! withdrawn (token revoked, app uninstalled, subscription removed) moves the integration to
//! REVOKED with an event, except where an app-wide secret alone signs that news (Monday's
//! `uninstall`): then a `health_check` of the integration's token decides; anything else is news to fetch, so it asks for an incremental `sync`
//! of that integration, coalesced (a burst of events leaves one queued sync). Marks the event
//! processed and records how long it waited. Idempotent; never logs the event's payload.

use mcp_queue::pg;
use std::time::Duration;

use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::kinds::{HealthCheck, Kind, Sync, WebhookProcess, WebhookSubscribe};
use mcp_daemon::webhooks::process::{HandBack, Processed};

impl Job<Services> for WebhookProcess {
    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let mut ids = p.event_ids;
        ids.extend(p.event_id);
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Err(JobError::Discard(
                "invalid payload: names no event (event_id or event_ids)".into(),
            ));
        }
        let pool = ctx.services.queue.pool();
        let outcomes = ctx
            .services
            .webhook_events
            .process(
                pool,
                &ctx.services.feed,
                &crate::modeller(&ctx.services),
                ids,
            )
            .await
            .map_err(|e| JobError::Retry(format!("webhook events: {e}")))?;
        let mut missing = Vec::new();
        for (event_id, outcome) in &outcomes {
            match outcome {
                Processed::Missing => missing.push(*event_id),
                Processed::Changed { platform, waited } => {
                    mcp_daemon::metrics::webhook_processed(platform, *waited)
                }
                Processed::HandedBack {
                    integration,
                    platform,
                    reason,
                    action,
                } => {
                    let waited = hand_back(pool, *integration, reason, *action, *event_id)
                        .await
                        .map_err(|e| JobError::Retry(format!("webhook event {event_id}: {e}")))?;
                    tracing::info!(job_id = ctx.id, integration_id = %integration, platform, reason, ?action, "webhook event acted on by its attempt");
                    mcp_daemon::metrics::webhook_processed(platform, waited);
                }
            }
        }
        if missing.len() == outcomes.len() {
            return Err(JobError::Discard(format!(
                "webhook event {} does not exist",
                missing
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if !missing.is_empty() {
            tracing::warn!(
                job_id = ctx.id,
                ?missing,
                "webhook events gone (pruned?) were skipped"
            );
        }
        Ok(())
    }
}

/// An event says access was withdrawn, but only an app-wide secret signs it: a `health_check`
/// of the integration is asked for (keyed: a live one absorbs it) and the event marked
/// processed, in one transaction. The check calls the platform with the integration's token; a
/// refusal moves it to EXPIRED or REVOKED through `mcp.record_health_check`, a working token
/// What an event handed back asks for, done for its integration with the event marked processed,
/// in one transaction: a revocation (REVOKED, its pending work but webhook processing
/// cancelled), a check of its token (`health_check`), or a removed subscription made again (the
/// daemon-made webhook the event came by disabled and its secret erased; `webhook_subscribe`,
/// which makes one when none is live, and a `sync` for what was missed). Returns how long the
/// event waited.
async fn hand_back(
    pool: &mcp_queue::pg::Db,
    integration: uuid::Uuid,
    reason: &str,
    action: HandBack,
    event_id: i64,
) -> Result<Duration, String> {
    let integration_id = integration;
    let e = |e: sqlx::Error| e.to_string();
    let q = |e: mcp_queue::QueueError| e.to_string();
    let mut tx = pool.begin().await.map_err(e)?;
    match action {
        HandBack::Revoke => {
            mcp_daemon::integrations::revoke(&mut *tx, integration, reason)
                .await
                .map_err(e)?;
            mcp_daemon::integrations::cancel_jobs(
                &mut *tx,
                integration,
                Some(WebhookProcess::KIND),
            )
            .await
            .map_err(e)?;
        }
        HandBack::CheckAccess => {
            HealthCheck { integration_id }
                .enqueue(&mut *tx)
                .await
                .map_err(q)?;
        }
        HandBack::Resubscribe => {
            pg::query(
                "UPDATE mcp.webhooks w SET status = 'disabled', secret_ct = NULL, key_id = NULL \
                 FROM mcp.webhook_events ev \
                 WHERE ev.id = $1 AND w.id = ev.webhook_id AND w.created_by = 'daemon'",
            )
            .bind(event_id)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
            WebhookSubscribe { integration_id }
                .enqueue(&mut *tx)
                .await
                .map_err(q)?;
            Sync { integration_id }.enqueue(&mut *tx).await.map_err(q)?;
        }
    }
    let waited = mcp_daemon::webhooks::process::mark_processed(&mut *tx, event_id)
        .await
        .map_err(e)?;
    tx.commit().await.map_err(e)?;
    Ok(Duration::from_secs_f64(waited.unwrap_or(0.0).max(0.0)))
}

//! `webhook_process`: one stored webhook delivery. Reads what the platform says — access
//! withdrawn (token revoked, app uninstalled, subscription removed) moves the integration to
//! REVOKED with an event; anything else is news to fetch, so it asks for an incremental `sync`
//! of that integration, coalesced (a burst of events leaves one queued sync). Marks the event
//! processed and records how long it waited. Idempotent; never logs the event's payload.

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::{Handler, JobContext, JobError};

pub struct WebhookProcess;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    event_id: i64,
}

/// What an event means for its integration.
#[derive(Debug, PartialEq, Eq)]
pub enum Meaning {
    /// The user or an admin withdrew our access.
    Revoked(&'static str),
    /// Something changed at the platform: fetch it.
    Changed,
}

/// Classifies an event by platform, event type and payload.
pub fn meaning(platform: &str, event_type: Option<&str>, payload: &Value) -> Meaning {
    let s = |path: &[&str]| {
        let mut v = payload;
        for k in path {
            v = v.get(*k)?;
        }
        v.as_str()
    };
    match (platform, event_type) {
        ("slack", Some("tokens_revoked")) => Meaning::Revoked("slack: tokens revoked"),
        ("slack", Some("app_uninstalled")) => Meaning::Revoked("slack: app uninstalled"),
        ("zoom", Some("app_deauthorized")) => Meaning::Revoked("zoom: app deauthorized"),
        ("monday", Some("uninstall" | "app_uninstall")) => {
            Meaning::Revoked("monday: app uninstalled")
        }
        ("outlook", _)
            if s(&["value", "0", "lifecycleEvent"]) == Some("subscriptionRemoved")
                || first_lifecycle(payload) == Some("subscriptionRemoved") =>
        {
            Meaning::Revoked("outlook: subscription removed")
        }
        ("discord", _) if s(&["event", "type"]) == Some("APPLICATION_DEAUTHORIZED") => {
            Meaning::Revoked("discord: application deauthorized")
        }
        _ => Meaning::Changed,
    }
}

fn first_lifecycle(payload: &Value) -> Option<&str> {
    payload
        .get("value")?
        .as_array()?
        .first()?
        .get("lifecycleEvent")?
        .as_str()
}

/// How long a sync waits after the event that asked for it, so that a burst is one sync.
const SYNC_DEBOUNCE: Duration = Duration::from_secs(2);

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
            let row: Option<(uuid::Uuid, String, Option<String>, Value)> = sqlx::query_as(
                "SELECT integration_id, platform, event_type, payload FROM mcp.webhook_events WHERE id = $1",
            )
            .bind(p.event_id)
            .fetch_optional(pool)
            .await
            .map_err(retry)?;
            let Some((integration, platform, event_type, payload)) = row else {
                return Err(JobError::Discard(format!(
                    "webhook event {} does not exist",
                    p.event_id
                )));
            };
            let waited: Option<f64> = match meaning(&platform, event_type.as_deref(), &payload) {
                Meaning::Revoked(reason) => {
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
                    waited
                }
                // News to fetch: one queued sync per integration (a live one absorbs this
                // event), and the event marked processed, in one statement.
                Meaning::Changed => sqlx::query_scalar(
                    "WITH wanted AS ( \
                        INSERT INTO mcp.sync_jobs (kind, integration_id, payload, unique_key, run_at) \
                        SELECT 'sync', i.id, jsonb_build_object('integration_id', i.id), \
                               'sync:' || i.id, now() + $2 * interval '1 millisecond' \
                        FROM core.integrations i \
                        WHERE i.id = $1 AND i.state IN ('ACTIVE', 'DEGRADED') \
                          AND EXISTS (SELECT 1 FROM mcp.job_kinds WHERE kind = 'sync') \
                        ON CONFLICT DO NOTHING) \
                     UPDATE mcp.webhook_events SET processed_at = COALESCE(processed_at, now()) \
                     WHERE id = $3 \
                     RETURNING extract(epoch FROM processed_at - received_at)::float8",
                )
                .bind(integration)
                .bind(SYNC_DEBOUNCE.as_millis() as i64)
                .bind(p.event_id)
                .fetch_optional(pool)
                .await
                .map_err(retry)?,
            };
            crate::metrics::webhook_processed(
                &platform,
                Duration::from_secs_f64(waited.unwrap_or(0.0).max(0.0)),
            );
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn revocations_are_told_apart_from_changes() {
        assert_eq!(
            meaning("slack", Some("tokens_revoked"), &json!({})),
            Meaning::Revoked("slack: tokens revoked")
        );
        assert_eq!(
            meaning("zoom", Some("app_deauthorized"), &json!({})),
            Meaning::Revoked("zoom: app deauthorized")
        );
        assert_eq!(
            meaning(
                "outlook",
                None,
                &json!({"value": [{"lifecycleEvent": "subscriptionRemoved"}]})
            ),
            Meaning::Revoked("outlook: subscription removed")
        );
        assert_eq!(
            meaning("slack", Some("message"), &json!({})),
            Meaning::Changed
        );
        assert_eq!(meaning("gmail", None, &json!({})), Meaning::Changed);
    }
}

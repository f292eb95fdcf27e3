//! `webhook_process`: one stored webhook delivery. For now it marks the event processed and
//! records how long the event waited from intake to processed; parsing the platform's payload
//! into sync work comes later. It is idempotent (a second run leaves `processed_at` as it was)
//! and never logs the event's payload.

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;

use super::{Handler, JobContext, JobError};

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
            let row: Option<(String, f64)> = sqlx::query_as(
                "UPDATE mcp.webhook_events SET processed_at = COALESCE(processed_at, now()) \
                 WHERE id = $1 \
                 RETURNING platform, \
                           extract(epoch FROM processed_at - received_at)::float8",
            )
            .bind(p.event_id)
            .fetch_optional(ctx.services.queue.pool())
            .await
            .map_err(|e| JobError::Retry(format!("cannot mark event processed: {e}")))?;
            let Some((platform, waited)) = row else {
                return Err(JobError::Discard(format!(
                    "webhook event {} does not exist",
                    p.event_id
                )));
            };
            crate::metrics::webhook_processed(&platform, Duration::from_secs_f64(waited.max(0.0)));
            Ok(())
        })
    }
}

//! `notify_deliver`: one notification to one endpoint (see `notify::deliver`). Delivered is done;
//! a gone, disabled or refused endpoint discards the job with the reason; any other failure is
//! retried on the notification schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, ±20 %) or
//! after the endpoint's Retry-After, every attempt's error kept on the job.

use metrics::{counter, histogram};

use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::kinds::NotifyDeliver;
use mcp_daemon::metrics as m;
use mcp_daemon::notify::{deliver, Delivery};

impl Job<Services> for NotifyDeliver {
    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let s = &ctx.services;
        let deliverer = s
            .notifier
            .get(&s.config.notify)
            .map_err(|e| JobError::Retry(format!("cannot build the HTTP client: {e}")))?;
        let outcome = deliverer
            .deliver(s.queue.pool(), &s.vault, p.notification_id, p.endpoint_id)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        match outcome {
            Delivery::Delivered { latency } => {
                counter!(m::NOTIFICATIONS, "outcome" => "delivered").increment(1);
                histogram!(m::NOTIFICATION_LATENCY).record(latency.as_secs_f64());
                tracing::info!(job_id = ctx.id, notification_id = %p.notification_id, endpoint_id = %p.endpoint_id, latency_ms = latency.as_millis() as u64, "notification delivered");
                Ok(())
            }
            Delivery::Gone(reason) => {
                counter!(m::NOTIFICATIONS, "outcome" => "gone").increment(1);
                Err(JobError::Discard(reason))
            }
            Delivery::Retry { after, error } => {
                let last = ctx.attempt >= ctx.max_attempts;
                counter!(m::NOTIFICATIONS, "outcome" => if last { "exhausted" } else { "failed" })
                    .increment(1);
                let wait = after.unwrap_or_else(|| deliver::schedule(ctx.attempt.max(1) as u32));
                Err(JobError::RetryAfter(wait, error))
            }
        }
    }
}

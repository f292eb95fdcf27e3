//! `health_check`: one integration per job. Asks the circuit breaker, calls the platform's
//! identity endpoint through its connector, and records the result with
//! `mcp.record_health_check()`, which applies the state machine (EXPIRED/REVOKED on auth
//! failures, DEGRADED on rate limits, ERROR and the breaker on failures, ACTIVE on success).
//! Rate limits snooze the job until the platform's Retry-After; transient failures retry with
//! the kind's backoff; everything else is recorded and the job completes.

use mcp_queue::pg;
use std::time::Instant;

use metrics::{counter, histogram};

use crate::gate::Gate;
use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::integrations::{self, IntegrationError};
use mcp_daemon::kinds::HealthCheck;
use mcp_daemon::metrics as m;
use mcp_platforms::connectors::{Action, Identity};

impl Job<Services> for HealthCheck {
    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let s = &ctx.services;
        let pool = s.queue.pool();
        let health = &s.config.health;
        let db = |e: IntegrationError| JobError::Retry(e.to_string());
        let skipped = |platform: &str, outcome: &'static str| {
            counter!(m::HEALTH_CHECKS, "platform" => platform.to_string(), "outcome" => outcome)
                .increment(1);
        };
        let (integration, mut creds) = match crate::gate::gate(s, p.integration_id).await? {
            Gate::Call(i, c) => (i, c),
            Gate::Skip(i, outcome) => {
                skipped(i.platform.as_str(), outcome);
                tracing::info!(integration_id = %i.id, state = %i.state, outcome, "health check skipped");
                return Ok(());
            }
            Gate::Broken(i, reason) => {
                skipped(i.platform.as_str(), "credentials_error");
                return Err(JobError::Discard(reason));
            }
        };
        let platform = integration.platform.as_str();
        let connector = s.connectors.get(integration.platform);
        let started = Instant::now();
        let result = crate::gate::with_fresh_token!(
            s,
            &integration,
            creds,
            ctx.id,
            connector.health_check(&creds).await
        );
        let latency = started.elapsed();
        histogram!(m::HEALTH_CHECK_DURATION, "platform" => platform).record(latency.as_secs_f64());
        let recorded = integrations::record_health_check(
            pool,
            integration.id,
            result.as_ref().map(|_| ()),
            latency,
            health.breaker_threshold,
            Some(ctx.id),
        )
        .await
        .map_err(db)?;
        if let (Ok(identity), None) = (&result, &integration.external_account_id) {
            // Connected before its account was known (or its connect's identity call failed).
            if let Some(a) = &identity.account {
                fill_account(pool, integration.id, integration.platform, a).await;
            }
        }
        if let Ok(Identity {
            web_base: Some(w), ..
        }) = &result
        {
            if integration.web_base.as_deref() != Some(w.as_str()) {
                record_web_base(pool, integration.id, w).await;
            }
        }
        let outcome = match &result {
            Ok(_) => "healthy",
            Err(e) => e.error_type.as_str(),
        };
        counter!(m::HEALTH_CHECKS, "platform" => platform, "outcome" => outcome).increment(1);
        if let Err(e) = &result {
            counter!(m::INTEGRATION_ERRORS, "platform" => platform, "error_type" => e.error_type.as_str()).increment(1);
        }
        tracing::info!(
            job_id = ctx.id,
            integration_id = %integration.id,
            platform,
            outcome,
            latency_ms = latency.as_millis() as u64,
            state = %recorded.state,
            breaker = %recorded.circuit_breaker_state,
            "health check"
        );
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.action() {
                Action::Wait => Err(JobError::Snooze(
                    e.retry_after.unwrap_or(health.default_retry_after),
                )),
                // Another attempt only while the breaker lets calls through.
                Action::Retry if recorded.circuit_breaker_state == "closed" => {
                    Err(JobError::Retry(e.to_string()))
                }
                _ => Ok(()),
            },
        }
    }
}

/// Records the workspace's web address a health check learned (`settings.web_base`: Slack's
/// message links need it); items written from then on carry their links. Best effort: a
/// failure is logged.
pub(super) async fn record_web_base(pool: &mcp_queue::pg::Db, id: uuid::Uuid, web_base: &str) {
    let done = pg::query(
        "UPDATE core.integrations SET settings = jsonb_set(settings, '{web_base}', to_jsonb($2::text)) \
         WHERE id = $1 AND settings ->> 'web_base' IS DISTINCT FROM $2",
    )
    .bind(id)
    .bind(web_base)
    .execute(pool)
    .await;
    if let Err(e) = done {
        tracing::warn!(integration_id = %id, error = %e, "cannot record the workspace's web address");
    }
}

/// Records the account a health check learned, for an integration that has none yet. Best
/// effort: an account held by another workspace's integration is logged and left unset.
async fn fill_account(
    pool: &mcp_queue::pg::Db,
    id: uuid::Uuid,
    p: mcp_platforms::connectors::Platform,
    account: &str,
) {
    let account = mcp_platforms::accounts::normalise(p, account);
    let done = async {
        let mut tx = pool.begin().await?;
        use mcp_daemon::connections::account::{claim, Claim};
        claim(&mut tx, id, p, &account, Claim::Backfill).await?;
        tx.commit().await?;
        Ok::<_, mcp_daemon::connections::ConnectError>(())
    };
    if let Err(e) = done.await {
        tracing::warn!(integration_id = %id, platform = %p, error = %e, "cannot record the connected account");
    }
}

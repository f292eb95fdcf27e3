//! `health_check`: one integration per job. Asks the circuit breaker, calls the platform's
//! identity endpoint through its connector, and records the result with
//! `mcp.record_health_check()`, which applies the state machine (EXPIRED/REVOKED on auth
//! failures, DEGRADED on rate limits, ERROR and the breaker on failures, ACTIVE on success).
//! Rate limits snooze the job until the platform's Retry-After; transient failures retry with
//! the kind's backoff; everything else is recorded and the job completes.

use std::time::Instant;

use futures::future::BoxFuture;
use metrics::{counter, histogram};
use serde::Deserialize;

use super::{Handler, JobContext, JobError};
use crate::connectors::Action;
use crate::integrations::{self, IntegrationError, IN_SERVICE};
use crate::metrics as m;

pub struct HealthCheck;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    integration_id: uuid::Uuid,
}

impl Handler for HealthCheck {
    fn kind(&self) -> &'static str {
        "health_check"
    }

    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let p: Payload = ctx.payload()?;
            let s = &ctx.services;
            let pool = s.queue.pool();
            let health = &s.config.health;
            let db = |e: IntegrationError| JobError::Retry(e.to_string());
            let integration = match integrations::load(pool, p.integration_id).await {
                Ok(i) => i,
                Err(IntegrationError::NotFound(id)) => {
                    return Err(JobError::Discard(format!("integration {id} not found")))
                }
                Err(e) => return Err(db(e)),
            };
            let platform = integration.platform.as_str();
            if !IN_SERVICE.contains(&integration.state.as_str()) {
                counter!(m::HEALTH_CHECKS, "platform" => platform, "outcome" => "skipped_not_in_service").increment(1);
                tracing::info!(integration_id = %integration.id, state = %integration.state, "health check skipped: integration not in service");
                return Ok(());
            }
            if !integrations::can_execute_request(
                pool,
                integration.id,
                health.breaker_half_open_after,
            )
            .await
            .map_err(db)?
            {
                counter!(m::HEALTH_CHECKS, "platform" => platform, "outcome" => "skipped_breaker_open").increment(1);
                tracing::info!(integration_id = %integration.id, platform, "health check skipped: circuit breaker open");
                return Ok(());
            }
            let creds = match integrations::credentials(pool, &s.vault, integration.id).await {
                Ok(c) => c,
                Err(e @ (IntegrationError::NoCredentials(_) | IntegrationError::Vault { .. })) => {
                    // Nothing to call with: the integration is broken until reconnected.
                    let reason = e.to_string();
                    let _ = sqlx::query("SELECT mcp.transition_integration_state($1, 'ERROR', $2)")
                        .bind(integration.id)
                        .bind(&reason)
                        .execute(pool)
                        .await;
                    counter!(m::HEALTH_CHECKS, "platform" => platform, "outcome" => "credentials_error").increment(1);
                    return Err(JobError::Discard(reason));
                }
                Err(e) => return Err(db(e)),
            };
            let connector = s.connectors.get(integration.platform);
            let started = Instant::now();
            let result = connector.health_check(&creds).await;
            let latency = started.elapsed();
            histogram!(m::HEALTH_CHECK_DURATION, "platform" => platform)
                .record(latency.as_secs_f64());
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
        })
    }
}

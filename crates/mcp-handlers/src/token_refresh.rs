//! `token_refresh`: renews one integration's OAuth access token (see `credentials::refresh_token`
//! for the locking and store rules). A refusal that needs the user (`invalid_grant` and its
//! platform forms) moves the integration to EXPIRED with a reconnect event and is not retried;
//! transient failures retry with backoff; a rate limit snoozes until the platform's Retry-After.

use std::time::Instant;

use metrics::{counter, histogram};

use crate::{Job, JobContext, JobError, Services};
use mcp_daemon::credentials::{self, RefreshOutcome};
use mcp_daemon::kinds::TokenRefresh;
use mcp_daemon::metrics as m;
use mcp_platforms::connectors::Action;

impl Job<Services> for TokenRefresh {
    /// Failing for good is told to the product (`token.refresh_failed`).
    async fn discarded(conn: &mut sqlx::PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
        mcp_daemon::notify::failed_for_good(conn, ids, mcp_daemon::notify::TOKEN_REFRESH_FAILED)
            .await
    }

    async fn run(self, ctx: JobContext) -> Result<(), JobError> {
        let p = self;
        let s = &ctx.services;
        let pool = s.queue.pool();
        let id = p.integration_id;
        let started = Instant::now();
        let outcome = credentials::refresh_token(
            pool,
            &s.vault,
            &s.connectors,
            id,
            s.config.refresh.store_retry_for,
        )
        .await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(e @ credentials::CredentialError::Vault { .. }) => {
                let reason = e.to_string();
                let _ = mcp_daemon::integrations::mark_broken(pool, id, &reason).await;
                return Err(JobError::Discard(reason));
            }
            Err(e) => return Err(JobError::Retry(e.to_string())),
        };
        let log = |platform: &str, result: &str| {
            counter!(m::TOKEN_REFRESHES, "platform" => platform.to_string(), "outcome" => result.to_string()).increment(1);
            tracing::info!(job_id = ctx.id, integration_id = %id, platform, outcome = result, "token refresh");
        };
        match outcome {
            RefreshOutcome::Refreshed {
                platform, rotated, ..
            } => {
                histogram!(m::TOKEN_REFRESH_DURATION, "platform" => platform.as_str())
                    .record(started.elapsed().as_secs_f64());
                log(
                    platform.as_str(),
                    if rotated { "rotated" } else { "refreshed" },
                );
                Ok(())
            }
            RefreshOutcome::Busy => {
                tracing::info!(job_id = ctx.id, integration_id = %id, "token refresh skipped: another daemon is refreshing it");
                Ok(())
            }
            RefreshOutcome::Skipped(why) => {
                tracing::info!(job_id = ctx.id, integration_id = %id, why, "token refresh skipped");
                Ok(())
            }
            RefreshOutcome::StoreFailed { platform, error } => {
                log(platform.as_str(), "store_failed");
                Err(JobError::Discard(format!(
                    "new tokens were issued but could not be stored: {error}"
                )))
            }
            RefreshOutcome::Failed { platform, error } => {
                log(platform.as_str(), error.error_type.as_str());
                counter!(m::INTEGRATION_ERRORS, "platform" => platform.as_str(), "error_type" => error.error_type.as_str()).increment(1);
                credentials::record_refresh_failure(pool, id, &error, ctx.id)
                    .await
                    .map_err(|e| JobError::Retry(e.to_string()))?;
                match error.action() {
                    Action::Wait => Err(JobError::Snooze(
                        error
                            .retry_after
                            .unwrap_or(s.config.health.default_retry_after),
                    )),
                    Action::Retry => Err(JobError::Retry(error.to_string())),
                    Action::Reauth | Action::Revoked => Ok(()),
                    Action::Fail => Err(JobError::Discard(error.to_string())),
                }
            }
        }
    }
}

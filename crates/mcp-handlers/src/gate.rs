//! What every job that calls a platform does first, the same way: load the integration, skip it
//! when it is not in service or its circuit breaker says no, and open its credentials — a
//! credential that cannot be opened (missing, tampered, unknown key) moves the integration to
//! ERROR with the reason, since no call can succeed until it is reconnected. And what every
//! call does when the platform refuses its access token (`with_fresh_token`): access tokens
//! live an hour or so, so a refusal is refreshed once and the call made again; only a refused
//! refresh means the person must reconnect.

use metrics::counter;

use crate::{JobError, Services};
use mcp_daemon::credentials::{self, Renewed};
use mcp_daemon::integrations::{self, Integration, IntegrationError};
use mcp_daemon::metrics as m;
use mcp_platforms::connectors::{Action, ConnectorError, Credentials};

/// The gate's answer.
pub enum Gate {
    /// Go ahead: the integration and what to call with.
    Call(Integration, Credentials),
    /// Do not call; the outcome to count (`skipped_not_in_service`, `skipped_breaker_open`).
    Skip(Integration, &'static str),
    /// The credentials cannot be used; the integration is now in ERROR with this reason.
    Broken(Integration, String),
}

pub async fn gate(s: &Services, id: uuid::Uuid) -> Result<Gate, JobError> {
    let pool = s.queue.pool();
    let retry = |e: IntegrationError| JobError::Retry(e.to_string());
    let integration = match integrations::load(pool, id).await {
        Ok(i) => i,
        Err(IntegrationError::NotFound(id)) => {
            return Err(JobError::Discard(format!("integration {id} not found")))
        }
        Err(e) => return Err(retry(e)),
    };
    if !integration.state.in_service() {
        return Ok(Gate::Skip(integration, "skipped_not_in_service"));
    }
    let half_open = s.config.health.breaker_half_open_after;
    if !integrations::can_execute_request(pool, id, half_open)
        .await
        .map_err(retry)?
    {
        return Ok(Gate::Skip(integration, "skipped_breaker_open"));
    }
    match integrations::credentials(pool, &s.vault, id).await {
        Ok(creds) => Ok(Gate::Call(integration, creds)),
        Err(e @ (IntegrationError::NoCredentials(_) | IntegrationError::Vault { .. })) => {
            let reason = e.to_string();
            integrations::mark_broken(pool, id, &reason)
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?;
            Ok(Gate::Broken(integration, reason))
        }
        Err(e) => Err(retry(e)),
    }
}

/// What to do after a platform call failed (`after_refusal`).
pub enum Refused {
    /// The access token was refreshed (here or by another job or daemon): call again with it.
    Retry(Credentials),
    /// The refresh was refused or failed: this is the call's error now.
    Replace(ConnectorError),
    /// Not a refused access token, or nothing to refresh it with: keep the call's error.
    Keep,
}

/// After a call failed with `error`: when the platform refused the access token (an error
/// whose action is `Reauth`: Outlook's `InvalidAuthenticationToken`, Zoom's 124, Slack's
/// `token_expired`, Gmail's `authError`, a bare 401), refreshes it once — coalesced with every
/// other job and daemon (`credentials::refresh_refused`) — for the caller to call again. A
/// refresh the platform refuses is recorded as `token_refresh` records it (EXPIRED or
/// REVOKED, with the reconnect event) and becomes the call's error.
pub async fn after_refusal(
    s: &Services,
    integration: &Integration,
    creds: &Credentials,
    error: &ConnectorError,
    job_id: i64,
) -> Refused {
    if error.action() != Action::Reauth
        || !matches!(creds, Credentials::Bearer(_))
        || s.connectors.get(integration.platform).oauth().is_none()
    {
        return Refused::Keep;
    }
    let platform = integration.platform.as_str();
    let pool = s.queue.pool();
    let renewed = credentials::refresh_refused(
        pool,
        &s.vault,
        &s.connectors,
        integration.id,
        creds,
        s.config.refresh.store_retry_for,
    )
    .await;
    match renewed {
        Ok(Renewed::Fresh(new)) => {
            tracing::info!(job_id, integration_id = %integration.id, platform,
                refused = %error.error_type, "access token refused: refreshed, calling again");
            counter!(m::TOKEN_REFRESHES, "platform" => platform, "outcome" => "after_refusal")
                .increment(1);
            Refused::Retry(new)
        }
        Ok(Renewed::Failed(refusal)) => {
            counter!(m::TOKEN_REFRESHES, "platform" => platform, "outcome" => refusal.error_type.as_str())
                .increment(1);
            if let Err(e) =
                credentials::record_refresh_failure(pool, integration.id, &refusal, job_id).await
            {
                tracing::warn!(job_id, integration_id = %integration.id, platform, error = %e,
                    "cannot record the refused refresh");
            }
            Refused::Replace(refusal)
        }
        Ok(Renewed::Unavailable(why)) => {
            tracing::info!(job_id, integration_id = %integration.id, platform, why,
                "access token refused and cannot be refreshed");
            Refused::Keep
        }
        Ok(Renewed::StoreFailed(e)) => {
            tracing::error!(job_id, integration_id = %integration.id, platform, error = %e,
                "refreshed tokens could not be stored");
            Refused::Keep
        }
        Err(e) => {
            tracing::warn!(job_id, integration_id = %integration.id, platform, error = %e,
                "refresh after a refused access token failed");
            Refused::Keep
        }
    }
}

/// `$call` (an expression using `$creds`, a `Credentials` place) made once, and once more with
/// a refreshed access token when the platform refused the first (`after_refusal`).
macro_rules! with_fresh_token {
    ($s:expr, $integration:expr, $creds:expr, $job_id:expr, $call:expr) => {{
        let mut result = $call;
        if let Err(e) = &result {
            match crate::gate::after_refusal($s, $integration, &$creds, e, $job_id).await {
                crate::gate::Refused::Retry(new) => {
                    $creds = new;
                    result = $call;
                }
                crate::gate::Refused::Replace(err) => result = Err(err),
                crate::gate::Refused::Keep => {}
            }
        }
        result
    }};
}
pub(crate) use with_fresh_token;

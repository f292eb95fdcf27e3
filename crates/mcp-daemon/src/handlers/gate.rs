//! What every job that calls a platform does first, the same way: load the integration, skip it
//! when it is not in service or its circuit breaker says no, and open its credentials — a
//! credential that cannot be opened (missing, tampered, unknown key) moves the integration to
//! ERROR with the reason, since no call can succeed until it is reconnected.

use super::{JobError, Services};
use crate::integrations::{self, Integration, IntegrationError};
use mcp_platforms::connectors::Credentials;

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

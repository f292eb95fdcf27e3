//! The error taxonomy: every failed platform call is one of these 13 types, and each type maps
//! to one recovery action. The names are what `mcp.integration_errors.error_type` stores and
//! what the `error_type` metric label carries; docs/INTEGRATIONS.md lists them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// The access token has expired (and a refresh did not or could not help).
    AuthExpired,
    /// The credentials are not accepted (`invalid_grant`, bad API key, 401 without detail).
    AuthInvalid,
    /// The user or an admin revoked access, or the app was uninstalled.
    AuthRevoked,
    /// The token works but lacks a scope/permission the call needs (403).
    InsufficientScope,
    /// Too many requests right now (429 and its platform forms).
    RateLimited,
    /// A longer budget is spent (daily quota, complexity budget).
    QuotaExceeded,
    /// No answer in time.
    Timeout,
    /// Could not reach the platform (connect, DNS, TLS, connection reset).
    Network,
    /// The platform failed (5xx other than 503).
    ServerError,
    /// The platform says it is down or in maintenance (503).
    ServiceUnavailable,
    /// The platform refused the request as malformed (400, 422): a bug on our side.
    BadRequest,
    /// The resource (or a sync cursor) is gone (404, 410).
    NotFound,
    /// The answer could not be understood (unexpected body, bad JSON).
    InvalidResponse,
}

/// What the caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The user must reconnect: integration → EXPIRED.
    Reauth,
    /// Access is gone for good: integration → REVOKED.
    Revoked,
    /// Wait (Retry-After), integration → DEGRADED; not a failure of the attempt.
    Wait,
    /// Try again with backoff; counts toward the circuit breaker.
    Retry,
    /// Record and fail; retrying will not help.
    Fail,
}

impl ErrorType {
    pub const ALL: [ErrorType; 13] = [
        ErrorType::AuthExpired,
        ErrorType::AuthInvalid,
        ErrorType::AuthRevoked,
        ErrorType::InsufficientScope,
        ErrorType::RateLimited,
        ErrorType::QuotaExceeded,
        ErrorType::Timeout,
        ErrorType::Network,
        ErrorType::ServerError,
        ErrorType::ServiceUnavailable,
        ErrorType::BadRequest,
        ErrorType::NotFound,
        ErrorType::InvalidResponse,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::AuthExpired => "auth_expired",
            ErrorType::AuthInvalid => "auth_invalid",
            ErrorType::AuthRevoked => "auth_revoked",
            ErrorType::InsufficientScope => "insufficient_scope",
            ErrorType::RateLimited => "rate_limited",
            ErrorType::QuotaExceeded => "quota_exceeded",
            ErrorType::Timeout => "timeout",
            ErrorType::Network => "network",
            ErrorType::ServerError => "server_error",
            ErrorType::ServiceUnavailable => "service_unavailable",
            ErrorType::BadRequest => "bad_request",
            ErrorType::NotFound => "not_found",
            ErrorType::InvalidResponse => "invalid_response",
        }
    }

    pub fn action(self) -> Action {
        match self {
            ErrorType::AuthExpired | ErrorType::AuthInvalid => Action::Reauth,
            ErrorType::AuthRevoked => Action::Revoked,
            ErrorType::RateLimited | ErrorType::QuotaExceeded => Action::Wait,
            ErrorType::Timeout
            | ErrorType::Network
            | ErrorType::ServerError
            | ErrorType::ServiceUnavailable => Action::Retry,
            ErrorType::InsufficientScope
            | ErrorType::BadRequest
            | ErrorType::NotFound
            | ErrorType::InvalidResponse => Action::Fail,
        }
    }
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

//! Gmail: OAuth 2.0 (Google), health check `GET /gmail/v1/users/me/profile`, and Google's
//! error forms (403 `rateLimitExceeded` is a rate limit, `dailyLimitExceeded` a quota).
//! It must never put the access token or a whole response body into an error.

use serde_json::Value;

use super::base::{connector_impl, Base, ClientAuth, Defaults, OAuthDefaults};
use super::http::{self, RawResponse};
use super::{AuthKind, ConnectorError, Credentials, ErrorType, Identity};

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://gmail.googleapis.com",
        identity_path: "/gmail/v1/users/me/profile",
        api_version: None,
        oauth: Some(OAuthDefaults {
            authorize_url: "https://accounts.google.com/o/oauth2/v2/auth",
            token_url: "https://oauth2.googleapis.com/token",
            revoke_url: Some("https://oauth2.googleapis.com/revoke"),
            client_auth: ClientAuth::Body,
            rotates_refresh_tokens: false,
            pkce: true,
            scopes: &["https://www.googleapis.com/auth/gmail.readonly"],
            extra_authorize_params: &[("access_type", "offline"), ("prompt", "consent")],
        }),
    }
}

pub struct Gmail(pub Base);

impl Gmail {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        self.0
            .get_identity(&self.0.identity_path, creds, &[], "/emailAddress", classify)
            .await
    }
}

connector_impl!(Gmail, AuthKind::OAuth2);

/// Google's error body: `{"error": {"code", "status", "errors": [{"reason"}]}}`.
pub fn classify(base: &Base, resp: &RawResponse) -> ConnectorError {
    let body = resp.json().unwrap_or(Value::Null);
    let reason = body
        .pointer("/error/errors/0/reason")
        .and_then(Value::as_str)
        .or_else(|| body.pointer("/error/status").and_then(Value::as_str));
    let p = base.platform;
    let t = match reason {
        Some("rateLimitExceeded" | "userRateLimitExceeded" | "RESOURCE_EXHAUSTED") => {
            Some(ErrorType::RateLimited)
        }
        Some("dailyLimitExceeded" | "quotaExceeded") => Some(ErrorType::QuotaExceeded),
        Some("insufficientPermissions" | "ACCESS_TOKEN_SCOPE_INSUFFICIENT") => {
            Some(ErrorType::InsufficientScope)
        }
        Some("failedPrecondition") => Some(ErrorType::BadRequest),
        _ => None,
    };
    match (t, reason) {
        (Some(t), Some(code)) => {
            http::coded(p, t, resp, code).with_retry_after(resp.header_retry_after())
        }
        _ => http::classify_status(p, resp, reason),
    }
}

//! Outlook: Microsoft identity platform v2 OAuth, health check `GET /v1.0/me` on Microsoft
//! Graph, and Graph's error form (`{"error": {"code": …}}`; 401 `InvalidAuthenticationToken`
//! means the access token expired). It must never put a token or a body into an error.

use serde_json::Value;

use super::base::{connector_impl, Base, ClientAuth, Defaults, OAuthDefaults};
use super::http::{self, RawResponse};
use super::{AuthKind, ConnectorError, Credentials, ErrorType, Identity};

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://graph.microsoft.com",
        identity_path: "/v1.0/me",
        api_version: None,
        oauth: Some(OAuthDefaults {
            authorize_url: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
            token_url: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
            // Microsoft identity has no token revocation endpoint for OAuth clients.
            revoke_url: None,
            client_auth: ClientAuth::Body,
            // Each refresh returns a new refresh token that should replace the stored one.
            rotates_refresh_tokens: true,
            pkce: true,
            scopes: &["offline_access", "User.Read", "Mail.Read"],
            extra_authorize_params: &[("response_mode", "query")],
        }),
    }
}

pub struct Outlook(pub Base);

impl Outlook {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        self.0
            .get_identity(&self.0.identity_path, creds, &[], "/id", classify)
            .await
    }
}

connector_impl!(Outlook, AuthKind::OAuth2);

pub fn classify(base: &Base, resp: &RawResponse) -> ConnectorError {
    let body = resp.json().unwrap_or(Value::Null);
    let code = body.pointer("/error/code").and_then(Value::as_str);
    let p = base.platform;
    let t = match (resp.status, code) {
        (401, Some("InvalidAuthenticationToken")) => Some(ErrorType::AuthExpired),
        (_, Some("ErrorAccessDenied" | "Authorization_RequestDenied" | "accessDenied")) => {
            Some(ErrorType::InsufficientScope)
        }
        (_, Some("ApplicationThrottled" | "TooManyRequests" | "activityLimitReached")) => {
            Some(ErrorType::RateLimited)
        }
        (_, Some("syncStateNotFound" | "resyncRequired" | "SyncStateNotFound")) => {
            Some(ErrorType::NotFound)
        }
        _ => None,
    };
    match (t, code) {
        (Some(t), Some(c)) => {
            http::coded(p, t, resp, c).with_retry_after(resp.header_retry_after())
        }
        _ => http::classify_status(p, resp, code),
    }
}

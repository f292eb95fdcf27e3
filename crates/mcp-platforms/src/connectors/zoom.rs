//! Zoom: OAuth 2.0 with HTTP Basic client auth and a refresh token that rotates on every
//! refresh, health check `GET /v2/users/me`, and Zoom's error form `{"code", "message"}`
//! (401 code 124: invalid or expired access token). Never puts a token or body in an error.

use serde_json::Value;

use super::base::{connector_impl, Base, ClientAuth, Defaults, OAuthDefaults};
use super::http::{self, RawResponse};
use super::{AuthKind, ConnectorError, Credentials, ErrorType, Identity};

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://api.zoom.us",
        identity_path: "/v2/users/me",
        api_version: None,
        oauth: Some(OAuthDefaults {
            authorize_url: "https://zoom.us/oauth/authorize",
            token_url: "https://zoom.us/oauth/token",
            revoke_url: Some("https://zoom.us/oauth/revoke"),
            client_auth: ClientAuth::Basic,
            rotates_refresh_tokens: true,
            pkce: true,
            scopes: &[],
            extra_authorize_params: &[],
        }),
    }
}

pub struct Zoom(pub Base);

impl Zoom {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        self.0
            .get_identity(&self.0.identity_path, creds, &[], "/id", classify)
            .await
    }
}

connector_impl!(Zoom, AuthKind::OAuth2);

pub fn classify(base: &Base, resp: &RawResponse) -> ConnectorError {
    let body = resp.json().unwrap_or(Value::Null);
    let code = body.get("code").and_then(Value::as_u64);
    let code_s = code.map(|c| c.to_string());
    let mut e = http::classify_status(base.platform, resp, code_s.as_deref());
    match (resp.status, code) {
        // 124: "Invalid access token" — what an expired token gets.
        (401 | 400, Some(124)) => e.error_type = ErrorType::AuthExpired,
        // 4700/4711 family: token does not carry the scopes the call needs.
        (_, Some(4711 | 4700)) if resp.status == 400 || resp.status == 403 => {
            e.error_type = ErrorType::InsufficientScope
        }
        (_, Some(429)) => e.error_type = ErrorType::RateLimited,
        _ => {}
    }
    e
}

//! Discord: OAuth 2.0, health check `GET /api/v10/users/@me`, and Discord's rate-limit form
//! (429 with JSON `retry_after` in float seconds and `X-RateLimit-*` headers).
//! It must never put a token or a whole body into an error.

use serde_json::Value;

use super::base::{connector_impl, Base, ClientAuth, Defaults, OAuthDefaults};
use super::http::{self, RawResponse};
use super::{ratelimit, AuthKind, ConnectorError, Credentials, ErrorType, Identity};

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://discord.com",
        identity_path: "/api/v10/users/@me",
        api_version: None,
        oauth: Some(OAuthDefaults {
            authorize_url: "https://discord.com/oauth2/authorize",
            token_url: "https://discord.com/api/oauth2/token",
            revoke_url: Some("https://discord.com/api/oauth2/token/revoke"),
            client_auth: ClientAuth::Basic,
            // A refresh returns a new refresh token; keep the newest.
            rotates_refresh_tokens: true,
            pkce: true,
            scopes: &["identify", "guilds"],
            extra_authorize_params: &[],
        }),
    }
}

pub struct Discord(pub Base);

impl Discord {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        self.0
            .get_identity(&self.0.identity_path, creds, &[], "/id", classify)
            .await
    }
}

connector_impl!(Discord, AuthKind::OAuth2);

/// Discord's body `{"message", "code"}`; on 429 `{"retry_after", "global"}`.
pub fn classify(base: &Base, resp: &RawResponse) -> ConnectorError {
    let body = resp.json().unwrap_or(Value::Null);
    let code = body
        .get("code")
        .and_then(Value::as_u64)
        .map(|c| c.to_string());
    let mut e = http::classify_status(base.platform, resp, code.as_deref());
    if resp.status == 429 {
        let global = body.get("global").and_then(Value::as_bool) == Some(true);
        e.code = Some(if global { "global" } else { "ratelimited" }.into());
        e.retry_after = ratelimit::discord_body(&body).or(e.retry_after);
    }
    if e.error_type == ErrorType::AuthInvalid && resp.status != 401 {
        e.error_type = ErrorType::InsufficientScope;
    }
    e
}

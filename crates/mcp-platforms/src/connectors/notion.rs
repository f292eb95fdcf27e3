//! Notion: OAuth 2.0 with HTTP Basic client auth, `Notion-Version` on every call, health check
//! `GET /v1/users/me`, and Notion's error form `{"object": "error", "status", "code"}`.
//! It must never put a token or a whole body into an error.

use serde_json::Value;

use super::base::{connector_impl, Base, ClientAuth, Defaults, OAuthDefaults};
use super::http::{self, RawResponse};
use super::{AuthKind, ConnectorError, Credentials, ErrorType, Identity};

/// The `Notion-Version` sent when the config sets none.
pub const DEFAULT_VERSION: &str = "2022-06-28";

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://api.notion.com",
        identity_path: "/v1/users/me",
        api_version: Some(DEFAULT_VERSION),
        oauth: Some(OAuthDefaults {
            authorize_url: "https://api.notion.com/v1/oauth/authorize",
            token_url: "https://api.notion.com/v1/oauth/token",
            revoke_url: Some("https://api.notion.com/v1/oauth/revoke"),
            client_auth: ClientAuth::Basic,
            rotates_refresh_tokens: false,
            pkce: false,
            scopes: &[],
            extra_authorize_params: &[("owner", "user")],
        }),
    }
}

pub struct Notion(pub Base);

impl Notion {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        let version = self.0.api_version.as_deref().unwrap_or(DEFAULT_VERSION);
        let headers = [("Notion-Version", version)];
        self.0
            .get_identity(&self.0.identity_path, creds, &headers, "/id", classify)
            .await
    }
}

connector_impl!(Notion, AuthKind::OAuth2);

pub fn error_type(code: &str) -> Option<ErrorType> {
    Some(match code {
        "unauthorized" | "invalid_grant" => ErrorType::AuthInvalid,
        "restricted_resource" => ErrorType::InsufficientScope,
        "object_not_found" => ErrorType::NotFound,
        "rate_limited" => ErrorType::RateLimited,
        "invalid_json"
        | "invalid_request_url"
        | "invalid_request"
        | "validation_error"
        | "missing_version" => ErrorType::BadRequest,
        "conflict_error" | "internal_server_error" => ErrorType::ServerError,
        "service_unavailable" | "database_connection_unavailable" | "gateway_timeout" => {
            ErrorType::ServiceUnavailable
        }
        _ => return None,
    })
}

pub fn classify(base: &Base, resp: &RawResponse) -> ConnectorError {
    let body = resp.json().unwrap_or(Value::Null);
    let code = body.get("code").and_then(Value::as_str);
    match code.and_then(|c| error_type(c).map(|t| (c, t))) {
        Some((c, t)) => {
            http::coded(base.platform, t, resp, c).with_retry_after(resp.header_retry_after())
        }
        None => http::classify_status(base.platform, resp, code),
    }
}

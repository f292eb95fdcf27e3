//! Slack: OAuth v2 (refresh only with token rotation on), health check `POST /api/auth.test`,
//! and Slack's error form: HTTP 200 with `{"ok": false, "error": "<code>"}`, 429 +
//! `Retry-After`. It must never put a token or a whole body into an error.

use serde_json::Value;

use super::base::{connector_impl, Base, ClientAuth, Defaults, OAuthDefaults};
use super::http::{self, RawResponse};
use super::{AuthKind, ConnectorError, Credentials, ErrorType, Identity};

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://slack.com",
        identity_path: "/api/auth.test",
        api_version: None,
        oauth: Some(OAuthDefaults {
            authorize_url: "https://slack.com/oauth/v2/authorize",
            token_url: "https://slack.com/api/oauth.v2.access",
            revoke_url: Some("https://slack.com/api/auth.revoke"),
            client_auth: ClientAuth::Body,
            // With token rotation on, every refresh returns a new refresh token.
            rotates_refresh_tokens: true,
            pkce: false,
            scopes: &["channels:history", "channels:read", "users:read"],
            extra_authorize_params: &[],
        }),
    }
}

pub struct Slack(pub Base);

impl Slack {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        let req = http::authorize(
            self.0.request(reqwest::Method::POST, &self.0.identity_path),
            creds,
        );
        let resp = self.0.send(req).await?;
        if !resp.is_success() {
            return Err(classify(&self.0, &resp));
        }
        let v = resp
            .json()
            .ok_or_else(|| http::invalid_response(self.0.platform, &resp, "not JSON"))?;
        if v.get("ok").and_then(Value::as_bool) != Some(true) {
            return Err(classify(&self.0, &resp));
        }
        Ok(Identity {
            account_id: http::json_id(&v, "/user_id").or_else(|| http::json_id(&v, "/team_id")),
        })
    }
}

connector_impl!(Slack, AuthKind::OAuth2);

/// The type of a Slack `error` code.
pub fn error_type(code: &str) -> ErrorType {
    match code {
        "invalid_auth"
        | "not_authed"
        | "invalid_client_id"
        | "bad_client_secret"
        | "invalid_grant"
        | "invalid_refresh_token" => ErrorType::AuthInvalid,
        "token_revoked" | "account_inactive" | "app_uninstalled" | "team_disabled"
        | "org_login_required" => ErrorType::AuthRevoked,
        "token_expired" => ErrorType::AuthExpired,
        "missing_scope" | "no_permission" | "not_allowed_token_type" | "ekm_access_denied" => {
            ErrorType::InsufficientScope
        }
        "ratelimited" | "rate_limited" => ErrorType::RateLimited,
        "channel_not_found" | "not_in_channel" | "user_not_found" => ErrorType::NotFound,
        "invalid_cursor" | "invalid_arguments" | "invalid_arg_name" | "missing_argument" => {
            ErrorType::BadRequest
        }
        "service_unavailable" | "fatal_error" | "internal_error" | "request_timeout" => {
            ErrorType::ServerError
        }
        _ => ErrorType::InvalidResponse,
    }
}

pub fn classify(base: &Base, resp: &RawResponse) -> ConnectorError {
    let body = resp.json().unwrap_or(Value::Null);
    let code = body.get("error").and_then(Value::as_str);
    let p = base.platform;
    match code {
        Some(c) if resp.is_success() || error_type(c) != ErrorType::InvalidResponse => {
            let mut t = error_type(c);
            if resp.status == 429 {
                t = ErrorType::RateLimited;
            } else if resp.status >= 500 {
                t = http::error_type_for_status(resp.status);
            }
            http::coded(p, t, resp, c).with_retry_after(resp.header_retry_after())
        }
        _ => http::classify_status(p, resp, code),
    }
}

//! OAuth 2.0 with the platforms: the authorize URL (with PKCE S256 and a random `state`, built
//! by the `oauth2` crate), and the token endpoint calls — code exchange, refresh, revocation —
//! made through the connectors' shared HTTP client so that their failures are classified like any
//! other platform call (Retry-After, Slack's HTTP-200 `ok: false`, `invalid_grant` and its
//! platform equivalents). Tokens exist here only as `Secret`; nothing here logs.

use std::time::{Duration, SystemTime};

use oauth2::{CsrfToken, PkceCodeChallenge};
use serde_json::Value;

use crate::connectors::http::{self, RawResponse};
use crate::connectors::{ClientAuth, ConnectorError, ErrorType, OAuthSpec, Platform};
use crate::secret::Secret;

/// `[oauth]`: the connect flow of the integration endpoints.
#[derive(Clone, serde::Deserialize, serde::Serialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthConfig {
    /// Public base URL that the platforms redirect the user's browser back to (the company's
    /// gateway, e.g. `https://gateway.example.com/mcp`). The redirect URI registered at each
    /// platform is `{redirect_base}/integrations/callback/{platform}`. Required when
    /// `http.api_token` is set.
    pub redirect_base: String,
    /// How long a started connect may wait for its callback.
    #[serde(with = "humantime_serde")]
    pub state_ttl: Duration,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        OAuthConfig {
            redirect_base: String::new(),
            state_ttl: Duration::from_secs(600),
        }
    }
}

impl OAuthConfig {
    /// Checks the values; `endpoints_enabled` is whether `http.api_token` is set.
    /// The error is (key, message).
    pub fn validate(&self, endpoints_enabled: bool) -> Result<(), (String, String)> {
        let invalid = |key: &str, message: &str| (key.to_string(), message.to_string());
        if self.state_ttl.is_zero() {
            return Err(invalid("oauth.state_ttl", "must be longer than zero"));
        }
        if self.redirect_base.is_empty() {
            if endpoints_enabled {
                return Err(invalid(
                    "oauth.redirect_base",
                    "must be set when http.api_token is set (the public URL the platforms redirect back to)",
                ));
            }
            return Ok(());
        }
        let ok = url::Url::parse(&self.redirect_base)
            .map(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.query().is_none()
                    && u.fragment().is_none()
            })
            .unwrap_or(false);
        if !ok {
            return Err(invalid(
                "oauth.redirect_base",
                "must be an http:// or https:// URL without query or fragment",
            ));
        }
        Ok(())
    }

    /// The redirect URI of a platform: `{redirect_base}/integrations/callback/{platform}`.
    pub fn redirect_uri(&self, platform: Platform) -> String {
        format!(
            "{}/integrations/callback/{}",
            self.redirect_base.trim_end_matches('/'),
            platform
        )
    }
}

/// What a token endpoint granted.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: Secret,
    /// A new refresh token (on connect, and on refresh where the platform rotates them).
    pub refresh_token: Option<Secret>,
    pub expires_in: Option<Duration>,
    pub scopes: Option<Vec<String>>,
    /// The account the grant is for, where the token answer names it (Slack's team or
    /// enterprise, Notion's workspace, Discord's guild): see `crate::accounts`.
    pub account: Option<String>,
}

/// The start of a connect: where to send the user, and what to keep until the callback.
#[derive(Debug)]
pub struct AuthorizeStart {
    pub url: String,
    pub state: Secret,
    pub pkce_verifier: Option<Secret>,
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0} has no OAuth client configured (platforms.{0}.client_id)")]
    NoClient(Platform),
    #[error("{platform}: invalid {what} URL")]
    BadUrl {
        platform: Platform,
        what: &'static str,
    },
}

/// The URL to send the user to, with `state` and (where supported) a PKCE S256 challenge.
pub fn authorize_url(
    platform: Platform,
    spec: &OAuthSpec,
    redirect_uri: &str,
) -> Result<AuthorizeStart, OAuthError> {
    let client_id = spec
        .client_id
        .as_deref()
        .ok_or(OAuthError::NoClient(platform))?;
    let mut url = url::Url::parse(&spec.authorize_url).map_err(|_| OAuthError::BadUrl {
        platform,
        what: "authorize",
    })?;
    let state = CsrfToken::new_random();
    let mut verifier = None;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state.secret());
        if !spec.scopes.is_empty() {
            q.append_pair("scope", &spec.scopes.join(spec.scope_separator));
        }
        for (k, v) in &spec.extra_authorize_params {
            q.append_pair(k, v);
        }
        if spec.pkce {
            let (challenge, v) = PkceCodeChallenge::new_random_sha256();
            q.append_pair("code_challenge", challenge.as_str())
                .append_pair("code_challenge_method", "S256");
            verifier = Some(Secret::new(v.secret().clone()));
        }
    }
    Ok(AuthorizeStart {
        url: url.to_string(),
        state: Secret::new(state.secret().clone()),
        pkce_verifier: verifier,
    })
}

/// Exchanges an authorization code for tokens.
pub async fn exchange_code(
    client: &reqwest::Client,
    platform: Platform,
    spec: &OAuthSpec,
    code: &Secret,
    redirect_uri: &str,
    pkce_verifier: Option<&Secret>,
) -> Result<TokenSet, ConnectorError> {
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", code.expose()),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(v) = pkce_verifier {
        form.push(("code_verifier", v.expose()));
    }
    token_call(client, platform, spec, form).await
}

/// Trades a refresh token for a new access token (and, where the platform rotates them, a new
/// refresh token: the old one is dead once this returns).
pub async fn refresh(
    client: &reqwest::Client,
    platform: Platform,
    spec: &OAuthSpec,
    refresh_token: &Secret,
) -> Result<TokenSet, ConnectorError> {
    let form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
    ];
    token_call(client, platform, spec, form).await
}

/// Revokes a token where the platform has a revocation endpoint; `Ok(false)` where it has none.
pub async fn revoke(
    client: &reqwest::Client,
    platform: Platform,
    spec: &OAuthSpec,
    token: &Secret,
) -> Result<bool, ConnectorError> {
    let Some(url) = &spec.revoke_url else {
        return Ok(false);
    };
    let req = with_client_auth(client.post(url), spec, &mut vec![("token", token.expose())]);
    let resp = http::send(platform, req).await?;
    if resp.is_success() && slack_ok(&resp) {
        return Ok(true);
    }
    Err(classify_token_error(platform, &resp))
}

async fn token_call(
    client: &reqwest::Client,
    platform: Platform,
    spec: &OAuthSpec,
    mut form: Vec<(&str, &str)>,
) -> Result<TokenSet, ConnectorError> {
    let req = with_client_auth(client.post(&spec.token_url), spec, &mut form);
    let resp = http::send(platform, req).await?;
    if !resp.is_success() || !slack_ok(&resp) {
        return Err(classify_token_error(platform, &resp));
    }
    let v = resp
        .json()
        .ok_or_else(|| http::invalid_response(platform, &resp, "token answer is not JSON"))?;
    let mut set = parse_tokens(&v)
        .ok_or_else(|| http::invalid_response(platform, &resp, "no access_token"))?;
    set.account = crate::accounts::from_token_answer(platform, &v);
    Ok(set)
}

fn with_client_auth<'a>(
    req: reqwest::RequestBuilder,
    spec: &'a OAuthSpec,
    form: &mut Vec<(&'a str, &'a str)>,
) -> reqwest::RequestBuilder {
    let id = spec.client_id.as_deref().unwrap_or_default();
    let secret = spec.client_secret.as_ref().map(|s| s.expose());
    let req = match spec.client_auth {
        ClientAuth::Basic => req.basic_auth(id, secret),
        ClientAuth::Body => {
            form.push(("client_id", id));
            if let Some(s) = secret {
                form.push(("client_secret", s));
            }
            req
        }
    };
    req.form(&form)
}

/// Slack answers errors with HTTP 200 and `"ok": false`.
fn slack_ok(resp: &RawResponse) -> bool {
    resp.json()
        .and_then(|v| v.get("ok").and_then(Value::as_bool))
        .unwrap_or(true)
}

/// Reads a token answer. Slack's user tokens sit under `authed_user`.
fn parse_tokens(v: &Value) -> Option<TokenSet> {
    let root = if v.get("access_token").is_some() {
        v
    } else {
        v.get("authed_user")?
    };
    let s = |k: &str| root.get(k).and_then(Value::as_str).map(str::to_string);
    let expires_in = root.get("expires_in").and_then(|e| {
        e.as_u64()
            .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
    });
    Some(TokenSet {
        access_token: Secret::new(s("access_token")?),
        refresh_token: s("refresh_token").map(Secret::new),
        expires_in: expires_in.map(Duration::from_secs),
        scopes: s("scope").map(|sc| {
            sc.split([' ', ','])
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        }),
        account: None,
    })
}

/// A failed token endpoint call: `invalid_grant` and its platform forms need a reconnect.
pub fn classify_token_error(platform: Platform, resp: &RawResponse) -> ConnectorError {
    let body = resp.json().unwrap_or(Value::Null);
    let code = body
        .get("error")
        .and_then(|e| {
            e.as_str()
                .map(str::to_string)
                .or_else(|| e.get("code").and_then(Value::as_str).map(str::to_string))
        })
        .or_else(|| {
            body.get("reason")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let reauth = [
        "invalid_grant",
        "invalid_refresh_token",
        "invalid_code",
        "bad_refresh_token",
        "token_expired",
        "expired_token",
    ];
    // Microsoft identity platform: the person must sign in or consent again (MFA, Conditional
    // Access, a new permission), which only an interactive authorize can do
    // (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#error-codes-for-token-endpoint-errors).
    let interactive = ["interaction_required", "consent_required"];
    let revoked = ["token_revoked", "account_inactive", "app_uninstalled"];
    match code.as_deref() {
        Some(c) if reauth.contains(&c) || interactive.contains(&c) => {
            http::coded(platform, ErrorType::AuthInvalid, resp, c)
        }
        // The same table: a passing failure of the token service; try again shortly.
        Some(c @ ("temporarily_unavailable" | "server_error")) => {
            http::coded(platform, ErrorType::ServiceUnavailable, resp, c)
                .with_retry_after(resp.header_retry_after())
        }
        Some(c) if revoked.contains(&c) => http::coded(platform, ErrorType::AuthRevoked, resp, c),
        Some(c @ ("invalid_client" | "unauthorized_client")) => {
            http::coded(platform, ErrorType::BadRequest, resp, c)
        }
        Some(c @ ("ratelimited" | "rate_limited")) => {
            http::coded(platform, ErrorType::RateLimited, resp, c).with_retry_after(
                crate::connectors::ratelimit::from_headers(&resp.headers, SystemTime::now()),
            )
        }
        _ => http::classify_status(platform, resp, code.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::{registry, PlatformOverride};

    fn resp(status: u16, body: &str) -> RawResponse {
        RawResponse {
            status,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// Microsoft's token endpoint errors, in the shape of the documented error response
    /// (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#error-codes-for-token-endpoint-errors):
    /// `interaction_required` and `consent_required` send the person back to `/authorize`,
    /// `temporarily_unavailable` is retried after a small delay.
    #[test]
    fn microsoft_token_errors_are_classified_as_the_docs_advise() {
        let body = |code: &str, aadsts: &str| {
            format!(
                r#"{{"error": "{code}", "error_description": "{aadsts}: The request requires user interaction.\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\nCorrelation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2016-01-09 02:02:12Z",
                "error_codes": [50076], "timestamp": "2016-01-09 02:02:12Z",
                "trace_id": "0000aaaa-11bb-cccc-dd22-eeeeee333333",
                "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd"}}"#
            )
        };
        for code in ["interaction_required", "consent_required", "invalid_grant"] {
            let e = classify_token_error(Platform::Outlook, &resp(400, &body(code, "AADSTS50076")));
            assert_eq!(e.error_type, ErrorType::AuthInvalid, "{code}");
            assert_eq!(e.action(), crate::connectors::Action::Reauth, "{code}");
            assert_eq!(e.code.as_deref(), Some(code));
        }
        let e = classify_token_error(
            Platform::Outlook,
            &resp(400, &body("temporarily_unavailable", "AADSTS90033")),
        );
        assert_eq!(e.action(), crate::connectors::Action::Retry);
        // The documented example itself: a bad scope is our bug, not the person's.
        let e = classify_token_error(
            Platform::Outlook,
            &resp(400, &body("invalid_scope", "AADSTS70011")),
        );
        assert_ne!(e.action(), crate::connectors::Action::Reauth);
    }

    /// Slack's v2 authorize takes `scope` comma-separated
    /// (https://docs.slack.dev/authentication/installing-with-oauth); the others follow
    /// RFC 6749 §3.3 (space-delimited).
    #[test]
    fn authorize_urls_join_scopes_with_the_platforms_separator() {
        let spec = |p: Platform| {
            let o = PlatformOverride {
                client_id: Some("client".into()),
                ..Default::default()
            };
            crate::connectors::base::Base::new(
                p,
                reqwest::Client::new(),
                &registry::defaults(p),
                &o,
            )
            .oauth
            .expect("oauth")
        };
        let scope = |p: Platform| {
            let start = authorize_url(p, &spec(p), "https://gw.example/cb").expect("url");
            let u = url::Url::parse(&start.url).expect("parse");
            u.query_pairs()
                .find(|(k, _)| k == "scope")
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(
            scope(Platform::Slack).as_deref(),
            Some("channels:history,channels:read,users:read")
        );
        assert_eq!(
            scope(Platform::Gmail).as_deref(),
            Some("https://www.googleapis.com/auth/gmail.readonly")
        );
        assert_eq!(
            scope(Platform::Outlook).as_deref(),
            Some("offline_access User.Read Mail.Read")
        );
        assert_eq!(scope(Platform::Discord).as_deref(), Some("identify bot"));
    }

    #[test]
    fn token_answers_are_read_with_their_platform_shapes() {
        let t = parse_tokens(&serde_json::json!({
            "access_token": "a", "refresh_token": "r", "expires_in": "3600", "scope": "x y"
        }))
        .unwrap();
        assert_eq!(t.access_token.expose(), "a");
        assert_eq!(t.refresh_token.unwrap().expose(), "r");
        assert_eq!(t.expires_in, Some(Duration::from_secs(3600)));
        assert_eq!(t.scopes.unwrap(), ["x", "y"]);
        let slack = parse_tokens(&serde_json::json!({
            "ok": true, "authed_user": {"access_token": "xoxp", "scope": "a,b"}
        }))
        .unwrap();
        assert_eq!(slack.access_token.expose(), "xoxp");
        assert!(parse_tokens(&serde_json::json!({"ok": true})).is_none());
    }
}

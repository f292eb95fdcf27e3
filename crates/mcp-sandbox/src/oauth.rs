//! The sandbox's OAuth 2.0 endpoints per platform: authorize (redirects back with `code` and
//! `state`), token (`authorization_code` with PKCE, `refresh_token` with rotation where the
//! platform rotates) and revoke. Test double only: clients are `sandbox-<platform>`.

use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::forms::{self, json_response};
use super::req::{parse_query, presented, Req};
use super::state::{Code, FaultKind, State, TokenKind};
use crate::facts::{ClientForm, OAuthFacts, Refresh};
use mcp_platforms::connectors::Platform;

pub fn client_id(p: Platform) -> String {
    format!("sandbox-{}", p.as_str())
}

pub fn client_secret(p: Platform) -> String {
    format!("sandbox-{}-secret", p.as_str())
}

fn oauth_error(p: Platform, status: u16, code: &str) -> Response {
    match p {
        Platform::Slack => json_response(200, json!({"ok": false, "error": code}), &[]),
        // The documented error response of the Microsoft identity platform
        // (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#error-response-1).
        Platform::Outlook => json_response(
            status,
            json!({"error": code,
                "error_description": format!("AADSTS50076: {code} (sandbox).\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\nCorrelation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2016-01-09 02:02:12Z"),
                "error_codes": [50076], "timestamp": "2016-01-09 02:02:12Z",
                "trace_id": "0000aaaa-11bb-cccc-dd22-eeeeee333333",
                "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd"}),
            &[],
        ),
        _ => json_response(status, json!({"error": code}), &[]),
    }
}

pub async fn handle(st: &State, r: &Req) -> Response {
    let p = r.platform;
    let Some(facts) = crate::facts::oauth(p) else {
        return json_response(404, json!({"error": "this platform has no OAuth"}), &[]);
    };
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/oauth/authorize") => authorize(st, r, &facts),
        ("POST", "/oauth/token") => {
            if let Some(f) = st.take_fault_at(p, None, true) {
                match f.fault {
                    FaultKind::Revoked | FaultKind::Unauthorized => {
                        return oauth_error(p, 400, "invalid_grant")
                    }
                    FaultKind::OauthError => {
                        let code = f.code.as_deref().unwrap_or("invalid_request");
                        // RFC 6749 §5.2: token endpoint errors are 400 unless said otherwise.
                        return oauth_error(p, 400, code);
                    }
                    FaultKind::Timeout => tokio::time::sleep(st.hang()).await,
                    _ => {}
                }
                return forms::fault_response(p, f.fault, f.retry_after_secs);
            }
            token(st, r, facts)
        }
        ("POST", "/oauth/revoke") => {
            let form = parse_query(std::str::from_utf8(&r.body).ok());
            let tok = form
                .get("token")
                .cloned()
                .or_else(|| presented(p, &r.headers).map(|(v, _)| v));
            match tok {
                Some(t) => {
                    st.revoke(&t);
                    if p == Platform::Slack {
                        return json_response(200, json!({"ok": true, "revoked": true}), &[]);
                    }
                    json_response(200, json!({}), &[])
                }
                None => oauth_error(p, 400, "invalid_request"),
            }
        }
        _ => json_response(404, json!({"error": "not_found"}), &[]),
    }
}

/// The scopes of an authorize request, split by the platform's separator; `None` when the
/// text holds the other separator (a space-separated list sent to Slack, a comma-separated one
/// to a platform that splits on spaces): the platform refuses it as `invalid_scope`.
fn scopes(facts: &OAuthFacts, scope: Option<&str>) -> Option<Vec<String>> {
    let scope = scope.unwrap_or("");
    let other = if facts.scope_separator == ',' {
        ' '
    } else {
        ','
    };
    if scope.contains(other) {
        return None;
    }
    Some(
        scope
            .split(facts.scope_separator)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

fn authorize(st: &State, r: &Req, facts: &OAuthFacts) -> Response {
    let p = r.platform;
    if r.q("client_id") != Some(client_id(p).as_str()) {
        return oauth_error(p, 400, "invalid_client");
    }
    let Some(redirect) = r.q("redirect_uri").and_then(|u| url::Url::parse(u).ok()) else {
        return oauth_error(p, 400, "invalid_request");
    };
    let mut to = redirect.clone();
    let Some(scopes) = scopes(facts, r.q("scope")) else {
        // As an OAuth server does: back to the client with the error (RFC 6749 §4.1.2.1).
        to.query_pairs_mut().append_pair("error", "invalid_scope");
        if let Some(s) = r.q("state") {
            to.query_pairs_mut().append_pair("state", s);
        }
        return (axum::http::StatusCode::FOUND, [(LOCATION, to.to_string())]).into_response();
    };
    let challenge = r.q("code_challenge").map(String::from);
    if challenge.is_some() && r.q("code_challenge_method").unwrap_or("plain") != "S256" {
        return oauth_error(p, 400, "invalid_request");
    }
    let code = st.new_code(Code {
        platform: p,
        account: r.q("login_hint").unwrap_or("user").to_string(),
        redirect_uri: Some(redirect.to_string()),
        challenge,
        scopes,
        used: false,
    });
    to.query_pairs_mut().append_pair("code", &code);
    if let Some(s) = r.q("state") {
        to.query_pairs_mut().append_pair("state", s);
    }
    (axum::http::StatusCode::FOUND, [(LOCATION, to.to_string())]).into_response()
}

fn client_ok(
    r: &Req,
    form: &std::collections::HashMap<String, String>,
    accepted: ClientForm,
) -> bool {
    let p = r.platform;
    let basic = match presented(p, &r.headers) {
        Some((id, Some(secret))) => Some((id, secret)),
        _ => None,
    };
    let body = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => None,
    };
    let shown = match accepted {
        ClientForm::Basic => basic,
        ClientForm::Body => body,
        ClientForm::Either => basic.or(body),
    };
    shown.is_some_and(|(id, secret)| id == client_id(p) && secret == client_secret(p))
}

pub fn pkce_s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn token(st: &State, r: &Req, facts: OAuthFacts) -> Response {
    let p = r.platform;
    let form = parse_query(std::str::from_utf8(&r.body).ok());
    if !client_ok(r, &form, facts.client) {
        return oauth_error(p, 401, "invalid_client");
    }
    let mut facts = facts;
    let mut scopes: Vec<String> = Vec::new();
    let (account, old_refresh) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(c) = form.get("code").and_then(|c| st.take_code(c)) else {
                return oauth_error(p, 400, "invalid_grant");
            };
            if c.platform != p
                || c.redirect_uri.as_deref() != form.get("redirect_uri").map(String::as_str)
            {
                return oauth_error(p, 400, "invalid_grant");
            }
            if let Some(ch) = &c.challenge {
                let ok = form
                    .get("code_verifier")
                    .is_some_and(|v| &pkce_s256(v) == ch);
                if !ok {
                    return oauth_error(p, 400, "invalid_grant");
                }
                if p == Platform::Monday {
                    // monday's OAuth 2.1 flow (PKCE): expiring tokens with a refresh token.
                    facts.access_ttl = Some(3600);
                    facts.refresh = Refresh::Rotating;
                }
            }
            scopes = c.scopes;
            (c.account, None)
        }
        Some("refresh_token") => {
            let value = form.get("refresh_token").cloned().unwrap_or_default();
            match st.get(&value) {
                Some(t)
                    if t.platform == p && t.kind == TokenKind::Refresh && !t.revoked && !t.used =>
                {
                    if p == Platform::Monday {
                        // Only the OAuth 2.1 flow issues refresh tokens.
                        facts.access_ttl = Some(3600);
                        facts.refresh = Refresh::Rotating;
                    }
                    (t.account, Some(value))
                }
                _ => return oauth_error(p, 400, "invalid_grant"),
            }
        }
        _ => return oauth_error(p, 400, "unsupported_grant_type"),
    };
    let (access, new_refresh) = st.mint_as(p, &account, Some(facts));
    let refresh = match (old_refresh, facts.refresh) {
        (Some(old), Refresh::Rotating) => {
            st.mark_used(&old);
            Some(new_refresh)
        }
        (Some(_), Refresh::NewPairOldValid) => Some(new_refresh),
        (Some(_), _) => {
            // A refresh answers no new refresh token: the spent one stays.
            st.revoke_single(&new_refresh);
            None
        }
        (None, Refresh::None) => None,
        (None, _) => Some(new_refresh),
    };
    if old_refresh_spent(&form) {
        st.count_refresh(p);
    }
    let mut v: Value = json!({"access_token": access, "token_type": "Bearer"});
    if let Some(ttl) = st.access_ttl(&facts) {
        v["expires_in"] = json!(ttl);
    }
    if let Some(rt) = refresh {
        v["refresh_token"] = json!(rt);
    }
    if !scopes.is_empty() {
        let sep = facts.scope_separator.to_string();
        v["scope"] = json!(scopes.join(&sep));
    }
    // Where the platform names the account in its token answer.
    let of = super::req::account_of(p, &account);
    match p {
        Platform::Slack => {
            v["ok"] = json!(true);
            v["team"] = json!({"id": of, "name": "Sandbox"});
            v["enterprise"] = Value::Null;
            v["is_enterprise_install"] = json!(false);
        }
        Platform::Notion => {
            v["workspace_id"] = json!(of);
            v["bot_id"] = json!(super::req::account_id(p, &account));
        }
        // Only a bot install (`bot` through the code grant) names the guild:
        // https://discord.com/developers/docs/topics/oauth2#advanced-bot-authorization
        Platform::Discord if scopes.iter().any(|s| s == "bot") => {
            let guild = st.installs.install_bot(&account);
            v["guild"] = json!({"id": guild, "name": "Sandbox"});
        }
        _ => {}
    }
    json_response(200, v, &[("cache-control", "no-store".into())])
}

fn old_refresh_spent(form: &std::collections::HashMap<String, String>) -> bool {
    form.get("grant_type").map(String::as_str) == Some("refresh_token")
}

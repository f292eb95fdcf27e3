//! The sandbox's OAuth 2.0 endpoints per platform: authorize (redirects back with `code` and
//! `state`), token (`authorization_code` with PKCE, `refresh_token` with rotation where the
//! platform rotates) and revoke. Test double only: clients are `sandbox-<platform>`.

use std::sync::atomic::Ordering;

use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::api::{parse_query, presented, Req};
use super::forms::{self, json_response};
use super::state::{Code, FaultKind, State, TokenKind};
use mcp_platforms::connectors::{registry, ClientAuth, Platform};

pub fn client_id(p: Platform) -> String {
    format!("sandbox-{}", p.as_str())
}

pub fn client_secret(p: Platform) -> String {
    format!("sandbox-{}-secret", p.as_str())
}

fn oauth_error(p: Platform, status: u16, code: &str) -> Response {
    if p == Platform::Slack {
        return json_response(200, json!({"ok": false, "error": code}), &[]);
    }
    json_response(status, json!({"error": code}), &[])
}

pub async fn handle(st: &State, r: &Req) -> Response {
    let p = r.platform;
    let Some(spec) = registry::defaults(p).oauth else {
        return json_response(404, json!({"error": "this platform has no OAuth"}), &[]);
    };
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/oauth/authorize") => authorize(st, r),
        ("POST", "/oauth/token") => {
            if let Some(f) = st.take_fault(p, None) {
                match f.fault {
                    FaultKind::Revoked | FaultKind::Unauthorized => {
                        return oauth_error(p, 400, "invalid_grant")
                    }
                    FaultKind::Timeout => tokio::time::sleep(st.hang()).await,
                    _ => {}
                }
                return forms::fault_response(p, f.fault, f.retry_after_secs);
            }
            token(st, r, spec.client_auth, spec.rotates_refresh_tokens)
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

fn authorize(st: &State, r: &Req) -> Response {
    let p = r.platform;
    if r.q("client_id") != Some(client_id(p).as_str()) {
        return oauth_error(p, 400, "invalid_client");
    }
    let Some(redirect) = r.q("redirect_uri").and_then(|u| url::Url::parse(u).ok()) else {
        return oauth_error(p, 400, "invalid_request");
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
        used: false,
    });
    let mut to = redirect;
    to.query_pairs_mut().append_pair("code", &code);
    if let Some(s) = r.q("state") {
        to.query_pairs_mut().append_pair("state", s);
    }
    (axum::http::StatusCode::FOUND, [(LOCATION, to.to_string())]).into_response()
}

fn client_ok(r: &Req, form: &std::collections::HashMap<String, String>, auth: ClientAuth) -> bool {
    let p = r.platform;
    let (id, secret) = match auth {
        ClientAuth::Basic => match presented(p, &r.headers) {
            Some((id, Some(secret))) => (id, secret),
            _ => return false,
        },
        ClientAuth::Body => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone()),
            _ => return false,
        },
    };
    id == client_id(p) && secret == client_secret(p)
}

pub fn pkce_s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn token(st: &State, r: &Req, auth: ClientAuth, rotates: bool) -> Response {
    let p = r.platform;
    let form = parse_query(std::str::from_utf8(&r.body).ok());
    if !client_ok(r, &form, auth) {
        return oauth_error(p, 401, "invalid_client");
    }
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
            }
            (c.account, None)
        }
        Some("refresh_token") => {
            let value = form.get("refresh_token").cloned().unwrap_or_default();
            match st.get(&value) {
                Some(t)
                    if t.platform == p && t.kind == TokenKind::Refresh && !t.revoked && !t.used =>
                {
                    (t.account, Some(value))
                }
                _ => return oauth_error(p, 400, "invalid_grant"),
            }
        }
        _ => return oauth_error(p, 400, "unsupported_grant_type"),
    };
    let (access, new_refresh) = st.mint(p, &account);
    let refresh = match old_refresh {
        Some(old) if rotates => {
            st.mark_used(&old);
            new_refresh
        }
        Some(old) => {
            // Not rotating: the minted refresh token is dropped, the old one stays.
            st.revoke_single(&new_refresh);
            old
        }
        None => new_refresh,
    };
    let expires_in = st.expires_in.load(Ordering::Relaxed);
    let mut v: Value = json!({"access_token": access, "token_type": "Bearer",
        "expires_in": expires_in, "refresh_token": refresh,
        "scope": form.get("scope").cloned().unwrap_or_default()});
    // Where the platform names the account in its token answer.
    let of = super::api::account_of(p, &account);
    match p {
        Platform::Slack => {
            v["ok"] = json!(true);
            v["team"] = json!({"id": of, "name": "Sandbox"});
        }
        Platform::Notion => {
            v["workspace_id"] = json!(of);
            v["bot_id"] = json!(super::api::account_id(p, &account));
        }
        Platform::Discord => v["guild"] = json!({"id": of, "name": "Sandbox"}),
        _ => {}
    }
    json_response(200, v, &[("cache-control", "no-store".into())])
}

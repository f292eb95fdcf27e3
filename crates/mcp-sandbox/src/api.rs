//! The sandbox's platform endpoints: one handler for `/{platform}/{*path}` that counts the
//! call, applies armed faults, checks the credential in the platform's own way and answers
//! the identity call, a list page or a content call (`content`). Test double only: it must never call out anywhere.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::{json, Value};

use super::forms::{self, json_response, AuthFailure};
use super::state::{FaultKind, State, TokenKind};
use super::{lists, oauth};
use mcp_platforms::connectors::Platform;

pub use crate::req::{account_id, account_of, parse_query, presented, Req};

/// Checks the credential: the account it belongs to, or why it is refused.
fn authenticate(st: &State, r: &Req) -> Result<String, AuthFailure> {
    let (value, basic) = presented(r.platform, &r.headers).ok_or(AuthFailure::Missing)?;
    let t = st.get(&value).ok_or(AuthFailure::Unknown)?;
    if t.platform != r.platform {
        return Err(AuthFailure::Unknown);
    }
    let kind_ok = match t.kind {
        TokenKind::Access | TokenKind::ApiKey => basic.is_none(),
        TokenKind::AccountSid => basic.is_some() && basic == t.secret,
        TokenKind::Refresh => false,
    };
    if !kind_ok {
        return Err(AuthFailure::Unknown);
    }
    if t.revoked {
        return Err(AuthFailure::Revoked);
    }
    if t.expires_at.is_some_and(|e| e <= std::time::Instant::now()) {
        return Err(AuthFailure::Expired);
    }
    Ok(t.account)
}

pub async fn handle(
    AxState(st): AxState<Arc<State>>,
    Path((platform, path)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(p) = Platform::parse(&platform) else {
        return json_response(404, json!({"error": "no such platform"}), &[]);
    };
    st.count_call(p);
    let latency = st.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let r = Req {
        platform: p,
        method,
        path: format!("/{path}"),
        query: parse_query(raw.as_deref()),
        raw_query: raw,
        headers,
        body,
    };
    if r.path.starts_with("/oauth/") {
        return oauth::handle(&st, &r).await;
    }
    if p == Platform::Zoom && r.path.starts_with(crate::content::zoom::STORAGE_PREFIX) {
        // The storage host a download redirects to: not Zoom's API, no token, no API faults.
        return crate::content::zoom::storage(&st, &r);
    }
    let shown = presented(p, &r.headers).map(|(v, _)| v);
    if let Some(f) = st.take_fault(p, shown.as_deref()) {
        if f.fault == FaultKind::Timeout {
            tokio::time::sleep(st.hang()).await;
        }
        return forms::fault_response(p, f.fault, f.retry_after_secs);
    }
    if p == Platform::Discord && lists::discord_bot_path(&r.path) {
        // Guilds and channels are read as the app's bot, never with a person's token.
        return lists::discord_bot(&st, &r);
    }
    let account = match authenticate(&st, &r) {
        Ok(a) => a,
        Err(why) => return forms::auth_failure(p, why),
    };
    if let Some(resp) = crate::content::route(&st, &r, &account).await {
        return resp;
    }
    route(&st, &r, &account)
}

fn not_found(p: Platform) -> Response {
    match p {
        Platform::Slack => json_response(200, json!({"ok": false, "error": "unknown_method"}), &[]),
        Platform::ZeroVoice => json_response(
            404,
            json!({"code": 20404, "message": "The requested resource was not found", "status": 404}),
            &[],
        ),
        _ => json_response(404, json!({"error": "not_found"}), &[]),
    }
}

fn route(st: &State, r: &Req, account: &str) -> Response {
    let p = r.platform;
    let id = account_id(p, account);
    let m = &r.method;
    let ok = |v: Value| json_response(200, v, &[]);
    match (p, m.as_str(), r.path.as_str()) {
        // Webhook subscriptions that expire: Gmail's watch (7 days), Graph subscriptions.
        (Platform::Gmail, "POST", "/gmail/v1/users/me/watch") => {
            let topic = r.json()["topicName"].as_str().unwrap_or("").to_string();
            st.subscribe(p, account, &topic, "INBOX");
            let until = chrono::Utc::now() + chrono::Duration::days(7);
            ok(
                json!({"historyId": lists::gmail_latest(st, account).to_string(),
                      "expiration": until.timestamp_millis().to_string()}),
            )
        }
        (Platform::Gmail, "POST", "/gmail/v1/users/me/stop") => {
            st.unsubscribe(p, account, None);
            json_response(204, json!(null), &[])
        }
        (Platform::Outlook, "POST", "/v1.0/subscriptions") => {
            let b = r.json();
            let field = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let (url, resource) = (field("notificationUrl"), field("resource"));
            if url.is_empty() || resource.is_empty() || field("clientState").is_empty() {
                return json_response(
                    400,
                    json!({"error": {"code": "InvalidRequest",
                        "message": "notificationUrl, resource and clientState are required"}}),
                    &[],
                );
            }
            let sub = st.subscribe(p, account, &url, &resource);
            let until = b
                .get("expirationDateTime")
                .cloned()
                .unwrap_or(json!(
                    (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339()
                ));
            json_response(
                201,
                json!({"id": sub, "resource": resource, "changeType": field("changeType"),
                       "notificationUrl": url, "expirationDateTime": until}),
                &[],
            )
        }
        (Platform::Outlook, "DELETE", path) if path.starts_with("/v1.0/subscriptions/") => {
            let id = path.trim_start_matches("/v1.0/subscriptions/");
            if st.unsubscribe(p, account, Some(id)) {
                json_response(204, json!(null), &[])
            } else {
                json_response(
                    404,
                    json!({"error": {"code": "ResourceNotFound",
                    "message": "subscription not found"}}),
                    &[],
                )
            }
        }
        (Platform::Outlook, "PATCH", path) if path.starts_with("/v1.0/subscriptions/") => {
            let asked = r.json()["expirationDateTime"].as_str().map(str::to_string);
            let until = asked
                .unwrap_or_else(|| (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339());
            ok(
                json!({"id": path.trim_start_matches("/v1.0/subscriptions/"),
                      "expirationDateTime": until}),
            )
        }
        (Platform::Gmail, "GET", "/gmail/v1/users/me/profile") => ok(json!({
            "emailAddress": format!("{account}@sandbox.test"), "messagesTotal": 42,
            "threadsTotal": 17, "historyId": lists::gmail_latest(st, account).to_string()})),
        (Platform::Outlook, "GET", "/v1.0/me") => ok(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            "id": id, "displayName": account, "userPrincipalName": format!("{account}@sandbox.test"),
            "mail": format!("{account}@sandbox.test")})),
        (Platform::Slack, _, "/api/auth.test") => ok(json!({
            "ok": true, "url": "https://sandbox.slack.test/", "team": "Sandbox", "user": account,
            "team_id": account_of(p, account), "user_id": id})),
        (Platform::Discord, "GET", "/api/v10/users/@me") => ok(json!({
            "id": id, "username": account, "global_name": account, "discriminator": "0"})),
        (Platform::Zoom, "GET", "/v2/users/me") => ok(json!({
            "id": id, "email": format!("{account}@sandbox.test"), "type": 2,
            "account_id": account_of(p, account), "status": "active"})),
        (Platform::Notion, "GET", "/v1/users/me") => {
            if r.headers.get("notion-version").is_none() {
                return json_response(
                    400,
                    json!({"object": "error", "status": 400,
                    "code": "missing_version", "message": "Notion-Version header is required."}),
                    &[],
                );
            }
            ok(
                json!({"object": "user", "id": id, "type": "bot", "name": account,
                "bot": {"owner": {"type": "workspace", "workspace": true}}}),
            )
        }
        (Platform::Monday, "POST", "/v2") => {
            lists::monday(r, &id, account, &account_of(p, account), st)
        }
        (Platform::Fireflies, "POST", "/graphql") => lists::fireflies(r, &id, account, st),
        (Platform::ZeroVoice, "GET", path) if path.starts_with("/2010-04-01/Accounts/") => {
            lists::twilio(st, r, account)
        }
        (
            Platform::Otter | Platform::Loom | Platform::Granola | Platform::ZeroDb,
            "GET",
            "/v1/me",
        ) => ok(json!({"id": id, "name": account})),
        _ => lists::route(st, r, account).unwrap_or_else(|| not_found(p)),
    }
}

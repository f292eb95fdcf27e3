//! Gmail: OAuth 2.0 (Google), health check `GET /gmail/v1/users/me/profile`, Google's error
//! forms (403 `rateLimitExceeded` is a rate limit, `dailyLimitExceeded` a quota), the history
//! listing and the content call `users.messages.get?format=full`.
//! It must never put the access token or a whole response body into an error.

use super::event::{Read, Refusal};
use super::http::Api;
use super::spec::{Accounts, Scheme, Spec, Webhooks};
use super::Platform;
use base64::Engine;
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use super::base::{connector_impl, Base, ClientAuth, Defaults, OAuthDefaults};
use super::content::{self, ContentRequest};
use super::http::{self, RawResponse};
use super::lists::{call, items, no_error, query, text, PAGE_SIZE};
use super::page::{item, Page, PageRequest, SyncItem};
use super::{AuthKind, ConnectorError, Credentials, ErrorType, Identity, MethodLimit};

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://gmail.googleapis.com",
        identity_path: "/gmail/v1/users/me/profile",
        api_version: None,
        // Gmail: 250 quota units per user per second; messages.list costs 5 units and
        // history.list 2, so 10 calls/s spend at most 50 units/s.
        rate: (20.0, 10.0),
        oauth: Some(OAuthDefaults {
            authorize_url: "https://accounts.google.com/o/oauth2/v2/auth",
            token_url: "https://oauth2.googleapis.com/token",
            revoke_url: Some("https://oauth2.googleapis.com/revoke"),
            client_auth: ClientAuth::Body,
            rotates_refresh_tokens: false,
            pkce: true,
            scopes: &["https://www.googleapis.com/auth/gmail.readonly"],
            scope_separator: " ",
            extra_authorize_params: &[("access_type", "offline"), ("prompt", "consent")],
        }),
    }
}

pub struct Gmail(pub Base);

impl Gmail {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        self.0
            .identity(creds, "/emailAddress", Some("/emailAddress"), classify)
            .await
    }
}

connector_impl!(Gmail, AuthKind::OAuth2; content);

/// A listed message (`messages.list`, `history.list`: `id`, `threadId`, at most `labelIds`)
/// has no headers or body: it needs its content unless it already carries a `payload`.
fn needs_content(_: &Base, raw: &Value) -> bool {
    raw.get("payload").is_none() && http::json_id(raw, "/id").is_some()
}

/// `GET /gmail/v1/users/me/messages/{id}?format=full`
/// (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/get):
/// the `Message` with its parsed `payload` (headers, MIME tree, bodies base64url; attachments
/// only named by `attachmentId`, never fetched). One call. A message deleted meanwhile is
/// Google's 404 `notFound`: `NotFound`.
async fn fetch_content(base: &Base, req: ContentRequest<'_>) -> Result<Value, ConnectorError> {
    let id = content::id(base, req.raw, "/id")?;
    let path = format!("/gmail/v1/users/me/messages/{}", content::segment(&id));
    let q = [("format", "full".to_string())];
    let get = query(base, &path, req.creds, &q);
    content::call(classify, base, req.pace, get, no_error).await
}

/// No bucket of its own: `messages.get` costs 5 quota units, as `messages.list` does, against
/// the 15,000 a user may spend a minute (250 a second;
/// https://developers.google.com/workspace/gmail/api/reference/quota), so the integration's
/// bucket (10 calls a second, 50 units) holds content calls under the limit too.
fn content_limit(_: &Base) -> Option<MethodLimit> {
    None
}

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
    http::coded_or_status(p, resp, t, reason)
}

/// Gmail: no cursor → `list:` (the profile's history id first, so nothing added during the
/// listing is missed), then `messages.list` pages (`list:<historyId>:<pageToken>`), then
/// `history.list?startHistoryId=` (`<historyId>[:<pageToken>]`) of added and deleted
/// messages; 404 there = too old.
pub(super) async fn page(base: &Base, req: PageRequest<'_>) -> Result<Page, ConnectorError> {
    let PageRequest { creds, cursor, .. } = req;
    let p = base.platform;
    let Some(cursor) = cursor else {
        let v = call(
            classify,
            base,
            query(base, &base.identity_path, creds, &[]),
            no_error,
        )
        .await?;
        let hid = http::json_id(&v, "/historyId").ok_or_else(|| {
            ConnectorError::new(p, ErrorType::InvalidResponse, None, None, "no historyId")
        })?;
        return Ok(Page {
            items: vec![],
            next_cursor: Some(format!("list:{hid}:")),
            done: false,
            deleted: vec![],
        });
    };
    if let Some(rest) = cursor.strip_prefix("list:") {
        let (hid, token) = rest.split_once(':').unwrap_or((rest, ""));
        let mut q = vec![("maxResults", PAGE_SIZE.to_string())];
        if !token.is_empty() {
            q.push(("pageToken", token.to_string()));
        }
        let v = call(
            classify,
            base,
            query(base, "/gmail/v1/users/me/messages", creds, &q),
            no_error,
        )
        .await?;
        let items = items(&v, "/messages", "message", "/id", None);
        return Ok(match text(&v, "/nextPageToken") {
            Some(t) => Page {
                items,
                next_cursor: Some(format!("list:{hid}:{t}")),
                done: false,
                deleted: vec![],
            },
            None => Page {
                items,
                next_cursor: Some(hid.to_string()),
                done: true,
                deleted: vec![],
            },
        });
    }
    let (start, token) = cursor.split_once(':').unwrap_or((cursor, ""));
    // `historyTypes` repeated: Gmail takes one value per parameter.
    let mut q = vec![
        ("startHistoryId", start.to_string()),
        ("historyTypes", "messageAdded".to_string()),
        ("historyTypes", "messageDeleted".to_string()),
        ("maxResults", PAGE_SIZE.to_string()),
    ];
    if !token.is_empty() {
        q.push(("pageToken", token.to_string()));
    }
    let resp = base
        .send(query(base, "/gmail/v1/users/me/history", creds, &q))
        .await?;
    if resp.status == 404 {
        return Err(ConnectorError::cursor_expired(p, &resp));
    }
    let v = http::json_or(p, &resp, |r| classify(base, r))?;
    let (items, deleted) = history_changes(&v);
    Ok(match text(&v, "/nextPageToken") {
        Some(t) => Page {
            items,
            next_cursor: Some(format!("{start}:{t}")),
            done: false,
            deleted,
        },
        None => Page {
            items,
            next_cursor: Some(http::json_id(&v, "/historyId").unwrap_or_else(|| start.to_string())),
            done: true,
            deleted,
        },
    })
}

/// The entries of `key` (`messagesAdded`, `messagesDeleted`) in every record of a
/// `history.list` answer.
fn entries<'a>(v: &'a Value, key: &'a str) -> impl Iterator<Item = &'a Value> {
    v.get("history")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(move |h| h.get(key).and_then(Value::as_array))
        .flatten()
}

/// The messages a `history.list` page adds (`messagesAdded[].message`) and the ids it deletes
/// (`messagesDeleted[].message.id`). A message deleted within the page is only deleted.
fn history_changes(v: &Value) -> (Vec<SyncItem>, Vec<String>) {
    let mut gone = HashSet::new();
    let deleted: Vec<String> = entries(v, "messagesDeleted")
        .filter_map(|m| http::json_id(m, "/message/id"))
        .filter(|id| gone.insert(id.clone()))
        .collect();
    let items = entries(v, "messagesAdded")
        .filter_map(|m| {
            let mut it = item(m, "message", "/message/id", None)?;
            it.raw = m.get("message").cloned().unwrap_or(Value::Null);
            Some(it)
        })
        .filter(|it| !gone.contains(&it.external_id))
        .collect();
    (items, deleted)
}

/// `users.watch` (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users/watch):
/// pushes of the mailbox's INBOX changes to the Pub/Sub `topic`; returns when the watch
/// expires (`expiration`, epoch milliseconds as a string). Calling it again renews the watch.
pub async fn watch(api: &Api<'_>, topic: &str) -> Result<DateTime<Utc>, ConnectorError> {
    let p = Platform::Gmail;
    let req = api
        .request(reqwest::Method::POST, "/gmail/v1/users/me/watch")
        .json(&serde_json::json!({"topicName": topic, "labelIds": ["INBOX"]}));
    let resp = http::send(p, req).await?;
    let v = http::ok_json(p, &resp)?;
    let ms = v
        .get("expiration")
        .and_then(|e| {
            e.as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .or(e.as_i64())
        })
        .ok_or_else(|| http::invalid_response(p, &resp, "no expiration"))?;
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| http::invalid_response(p, &resp, "bad expiration"))
}

/// `users.stop`: no more pushes for the mailbox (Gmail keeps one watch per mailbox and app).
pub async fn stop(api: &Api<'_>) -> Result<(), ConnectorError> {
    let p = Platform::Gmail;
    let resp = http::send(
        p,
        api.request(reqwest::Method::POST, "/gmail/v1/users/me/stop"),
    )
    .await?;
    if !resp.is_success() {
        return Err(http::classify_status(p, &resp, None));
    }
    Ok(())
}

/// Gmail: its connector, and its mailbox watch's pushes through Pub/Sub, verified by Google's
/// OIDC token and delivered for every mailbox to one URL.
pub const SPEC: Spec = Spec {
    webhooks: Some(Webhooks {
        read: read_event,
        ..Webhooks::signed(Scheme::GmailJwt)
    }),
    accounts: Accounts {
        app_level: true,
        from_event: event_accounts,
        case_insensitive: true,
        ..Accounts::NONE
    },
    ..Spec::new(defaults, |b| Arc::new(Gmail(b)), crate::items::gmail::model)
};

/// A Pub/Sub push is keyed by its `message.messageId`.
fn read_event(payload: &Value, _secret: Option<&[u8]>) -> Result<Read, Refusal> {
    Ok(Read::Event {
        id: http::json_id(payload, "/message/messageId"),
        event_type: None,
    })
}

/// The mailbox a push names: `emailAddress` in the base64 JSON of the Pub/Sub `message.data`
/// (`{"emailAddress": …, "historyId": …}`), in lower case.
fn event_accounts(payload: &Value) -> Vec<String> {
    let account = || {
        let data = payload.pointer("/message/data")?.as_str()?;
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE,
        ];
        let bytes = engines.iter().find_map(|e| e.decode(data).ok())?;
        let inner: Value = serde_json::from_slice(&bytes).ok()?;
        http::json_id(&inner, "/emailAddress").map(|a| a.to_ascii_lowercase())
    };
    account().into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn history_adds_and_deletes() {
        let v = json!({"historyId": "12", "history": [
            {"id": "10", "messagesAdded": [{"message": {"id": "a", "threadId": "t"}},
                                          {"message": {"id": "b", "threadId": "t"}}]},
            {"id": "11", "messagesDeleted": [{"message": {"id": "b"}}, {"message": {"id": "c"}}]},
            {"id": "12", "messagesDeleted": [{"message": {"id": "c"}}, {"message": {}}, 7]},
        ]});
        let (items, deleted) = history_changes(&v);
        let ids: Vec<&str> = items.iter().map(|i| i.external_id.as_str()).collect();
        assert_eq!(ids, ["a"]);
        assert_eq!(items[0].raw, json!({"id": "a", "threadId": "t"}));
        assert_eq!(deleted, ["b", "c"]);
    }

    #[test]
    fn history_without_records() {
        for v in [
            json!({}),
            json!({"history": 3}),
            json!({"history": [{"messagesDeleted": {}}]}),
        ] {
            let (items, deleted) = history_changes(&v);
            assert!(items.is_empty() && deleted.is_empty(), "{v}");
        }
    }
}

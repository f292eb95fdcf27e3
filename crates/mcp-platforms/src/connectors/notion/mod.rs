//! Notion: OAuth 2.0 with HTTP Basic client auth, `Notion-Version` on every call, health check
//! `GET /v1/users/me`, Notion's error form `{"object": "error", "status", "code"}`, and the
//! search listing (the content call, a page's blocks, is `notion_blocks`).
//! It must never put a token or a whole body into an error.

use serde_json::{json, Value};
use std::sync::Arc;

use super::base::{connector_impl, Base, ClientAuth, Defaults, OAuthDefaults};
use super::event::{ids_at, one, str_at, str_of, Deletion, Gone, Read, Refusal};
use super::http::{self, RawResponse};
use super::lists::{call, items, no_error, text, PAGE_SIZE};
use super::page::{Page, PageRequest};
use super::spec::{Accounts, Scheme, Spec, Webhooks};
use super::watermark::{self, Listing};
use super::{AuthKind, ConnectorError, Credentials, ErrorType, Identity};
use blocks::{content_limit, fetch_content, needs_content};

mod blocks;

/// The `Notion-Version` sent when the config sets none.
pub const DEFAULT_VERSION: &str = "2022-06-28";

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://api.notion.com",
        identity_path: "/v1/users/me",
        api_version: Some(DEFAULT_VERSION),
        // An average of 3 requests per second per integration, some bursts allowed.
        rate: (3.0, 3.0),
        oauth: Some(OAuthDefaults {
            authorize_url: "https://api.notion.com/v1/oauth/authorize",
            token_url: "https://api.notion.com/v1/oauth/token",
            revoke_url: Some("https://api.notion.com/v1/oauth/revoke"),
            client_auth: ClientAuth::Basic,
            // https://developers.notion.com/reference/refresh-a-token: a refresh answers a new
            // access and refresh token pair; keep the newest.
            rotates_refresh_tokens: true,
            pkce: false,
            scopes: &[],
            scope_separator: " ",
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
            .get_identity(
                &self.0.identity_path,
                creds,
                &headers,
                "/id",
                None,
                classify,
            )
            .await
    }
}

connector_impl!(Notion, AuthKind::OAuth2; content);

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

/// Notion: `POST /v1/search` sorted by `last_edited_time` descending with
/// `start_cursor`/`next_cursor`, stopping at the previous watermark (items edited at or after
/// it are kept: Notion's times are rounded to the minute).
pub(super) async fn page(base: &Base, req: PageRequest<'_>) -> Result<Page, ConnectorError> {
    let PageRequest { creds, cursor, .. } = req;
    let mut c = Listing::parse(cursor);
    if c.is_legacy() {
        // A cursor of the old ascending search does not fit the descending one.
        c = Listing::default();
    }
    let mut body = json!({"page_size": PAGE_SIZE,
        "sort": {"timestamp": "last_edited_time", "direction": "descending"}});
    if let Some(p) = &c.page {
        body["start_cursor"] = json!(p);
    }
    let version = base.api_version.as_deref().unwrap_or(DEFAULT_VERSION);
    let req = base
        .request(reqwest::Method::POST, "/v1/search")
        .header("Notion-Version", version)
        .json(&body);
    let v = call(classify, base, http::authorize(req, creds), no_error).await?;
    let mut items = items(&v, "/results", "page", "/id", Some("/last_edited_time"));
    let since = c.since.as_deref().and_then(watermark::parse_stamp);
    let before = items.len();
    if let Some(since) = since {
        items.retain(|it| it.occurred_at.is_none_or(|t| t >= since));
    }
    let reached = items.len() < before;
    c.see(watermark::newest_time(&items).map(watermark::stamp));
    let next =
        text(&v, "/next_cursor").filter(|_| v.get("has_more") == Some(&json!(true)) && !reached);
    Ok(Page::advanced(items, c.advance(next)))
}

/// Notion: its connector, and a public integration's webhook subscription, one URL for every
/// workspace, `X-Notion-Signature` an HMAC of the body alone (no signed time,
/// https://developers.notion.com/reference/webhooks).
pub const SPEC: Spec = Spec {
    webhooks: Some(Webhooks {
        untimed: true,
        read: read_event,
        deletion_event_types: &["page.deleted"],
        deletions,
        ..Webhooks::signed(Scheme::BodyHmac {
            header: Some("x-notion-signature"),
        })
    }),
    accounts: Accounts {
        app_level: true,
        from_token_answer: token_account,
        from_event: event_accounts,
        case_insensitive: false,
    },
    ..Spec::new(
        defaults,
        |b| Arc::new(Notion(b)),
        |raw, content, _| crate::items::notion::model(raw, content),
    )
};

/// An event is keyed by its `id`; its type is `type`.
fn read_event(payload: &Value, _secret: Option<&[u8]>) -> Result<Read, Refusal> {
    Ok(Read::Event {
        id: http::json_id(payload, "/id"),
        event_type: str_of(payload, "/type").map(String::from),
    })
}

/// A deleted page.
fn deletions(event_type: Option<&str>, payload: &Value) -> Vec<Deletion> {
    if event_type != Some("page.deleted") {
        return Vec::new();
    }
    // The Notion connector's ids are the page ids as the API writes them (dashed);
    // webhook events write them the same way.
    let is_page = payload
        .pointer("/entity/type")
        .is_none_or(|t| t.as_str() == Some("page"));
    let id = str_at(payload, "/entity/id").filter(|_| is_page);
    one(id.map(Gone::Item), "notion: page deleted")
}

/// The token answer's `workspace_id`.
fn token_account(answer: &Value) -> Option<String> {
    http::json_id(answer, "/workspace_id")
}

/// The event's `workspace_id`.
fn event_accounts(payload: &Value) -> Vec<String> {
    ids_at(payload, &["/workspace_id"])
}

//! Monday: OAuth 2.0, GraphQL at `/v2` with an `API-Version` header, health check
//! `query { me { id } }`, and Monday's error forms: GraphQL `errors[].extensions.code` (often
//! with HTTP 200), the complexity budget error with its retry seconds, 401 and 429.
//! It must never put a token or a whole body into an error.

use super::event::{first_str, json_handshake, one, Deletion, Gone, Read, Refusal};
use super::http::Api;
use super::meaning::Meaning;
use super::spec::{Scheme, Spec, Webhooks};
use serde_json::{json, Value};
use std::sync::Arc;

use super::base::{connector_impl, Base, ClientAuth, Defaults, OAuthDefaults};
use super::http::{self, RawResponse};
use super::lists::{call, graphql_errors, items, text, PAGE_SIZE};
use super::page::{Page, PageRequest};
use super::{ratelimit, AuthKind, ConnectorError, Credentials, ErrorType, Identity, Platform};

/// The `API-Version` sent when the config sets none.
pub const DEFAULT_VERSION: &str = "2025-04";

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://api.monday.com",
        identity_path: "/v2",
        api_version: Some(DEFAULT_VERSION),
        // A complexity budget per minute (and a per-minute request cap by plan); one
        // items_page query of 100 items at 5/s (300 per minute) stays inside it, and a
        // ComplexityException names its own wait.
        rate: (5.0, 5.0),
        oauth: Some(OAuthDefaults {
            authorize_url: "https://auth.monday.com/oauth2/authorize",
            token_url: "https://auth.monday.com/oauth2/token",
            revoke_url: None,
            client_auth: ClientAuth::Body,
            rotates_refresh_tokens: false,
            pkce: false,
            scopes: &["me:read", "boards:read"],
            scope_separator: " ",
            extra_authorize_params: &[],
        }),
    }
}

pub struct Monday(pub Base);

impl Monday {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        let version = self.0.api_version.as_deref().unwrap_or(DEFAULT_VERSION);
        let req = self
            .0
            .request(reqwest::Method::POST, &self.0.identity_path)
            .header("API-Version", version)
            .json(&json!({ "query": "query { me { id account { id } } }" }));
        // Monday takes the token itself in `Authorization` (no scheme).
        let req = match creds {
            Credentials::Bearer(t) | Credentials::ApiKey(t) => {
                req.header(reqwest::header::AUTHORIZATION, t.expose())
            }
            other => http::authorize(req, other),
        };
        let resp = self.0.send(req).await?;
        let body = resp.json();
        let has_errors = body.as_ref().is_some_and(|b| {
            b.get("errors").is_some()
                || b.get("error_code").is_some()
                || b.get("error_message").is_some()
        });
        if !resp.is_success() || has_errors {
            return Err(classify(&self.0, &resp));
        }
        let v = body.ok_or_else(|| http::invalid_response(self.0.platform, &resp, "not JSON"))?;
        http::json_id(&v, "/data/me/id")
            .map(|id| Identity {
                account_id: Some(id),
                account: http::json_id(&v, "/data/me/account/id"),
                web_base: None,
            })
            .ok_or_else(|| http::invalid_response(self.0.platform, &resp, "no data.me.id"))
    }
}

connector_impl!(Monday, AuthKind::OAuth2);

fn error_code(body: &Value) -> Option<&str> {
    body.pointer("/errors/0/extensions/code")
        .and_then(Value::as_str)
        .or_else(|| body.get("error_code").and_then(Value::as_str))
}

pub fn classify(_base: &Base, resp: &RawResponse) -> ConnectorError {
    classify_response(resp)
}

/// `classify` for a caller without the connector (the daemon's board webhooks).
pub fn classify_response(resp: &RawResponse) -> ConnectorError {
    let body = resp.json().unwrap_or(Value::Null);
    let p = Platform::Monday;
    if ratelimit::is_monday_complexity(&body) {
        let wait = ratelimit::monday_complexity(&body).or_else(|| resp.header_retry_after());
        let code = error_code(&body).unwrap_or("ComplexityException");
        return http::coded(p, ErrorType::RateLimited, resp, code).with_retry_after(wait);
    }
    let code = error_code(&body);
    let t = match code {
        Some("DAILY_LIMIT_EXCEEDED") => Some(ErrorType::QuotaExceeded),
        Some("RATE_LIMIT_EXCEEDED" | "maxConcurrencyExceeded" | "IP_RATE_LIMIT_EXCEEDED") => {
            Some(ErrorType::RateLimited)
        }
        Some("UserUnauthorizedException" | "missingRequiredPermissions") => {
            Some(ErrorType::InsufficientScope)
        }
        Some("Unauthorized" | "UNAUTHENTICATED" | "NotAuthenticated") => {
            Some(ErrorType::AuthInvalid)
        }
        Some("ResourceNotFoundException" | "InvalidBoardIdException") => Some(ErrorType::NotFound),
        Some("InternalServerException") => Some(ErrorType::ServerError),
        _ => None,
    };
    match (t, code) {
        (Some(t), Some(c)) => {
            http::coded(p, t, resp, c).with_retry_after(resp.header_retry_after())
        }
        _ if resp.is_success() => http::coded(
            p,
            ErrorType::BadRequest,
            resp,
            code.unwrap_or("graphql_error"),
        ),
        _ => http::classify_status(p, resp, code),
    }
}

/// The item fields the item model reads, asked in the listing itself (Monday has no separate
/// content call; the `Item`, `ColumnValue` and `Update` types of monday's published schema,
/// github.com/mondaycom/monday-graphql-api `packages/api-types`, and
/// https://developer.monday.com/api-reference/reference/items,
/// https://developer.monday.com/api-reference/reference/updates): the item's `url`, board,
/// creator and times; every column's `text` (and raw `value`) with its title and type (people
/// columns name participants); the newest 10 updates (`text_body`, and the HTML `body` where
/// an update has no text). Complexity grows with the nested updates: a query may spend 5M
/// points and an app token 5M reads a minute
/// (https://developer.monday.com/api-reference/docs/rate-limits); a ComplexityException names
/// its own wait. Subitems, assets and update replies are not asked.
pub const ITEM_FIELDS: &str = "id name url created_at updated_at board { id } \
creator { id name email } column_values { id type text value column { title } } \
updates(limit: 10) { id text_body body created_at creator { id name email } }";

/// Monday: `items_page` of the first board, then `next_items_page` with its cursor. Monday
/// offers no "changed since" filter on `items_page` (and its cursor expires after 60
/// minutes), so every sync is a full listing; a finished listing stores no cursor.
pub(super) async fn page(base: &Base, req: PageRequest<'_>) -> Result<Page, ConnectorError> {
    let PageRequest { creds, cursor, .. } = req;
    let (q, ptr) = match cursor {
        None => (
            format!("query ($limit: Int!) {{ boards(limit: 1) {{ items_page(limit: $limit) {{ cursor items {{ {ITEM_FIELDS} }} }} }} }}"),
            "/data/boards/0/items_page",
        ),
        Some(_) => (
            format!("query ($limit: Int!, $cursor: String!) {{ next_items_page(limit: $limit, cursor: $cursor) {{ cursor items {{ {ITEM_FIELDS} }} }} }}"),
            "/data/next_items_page",
        ),
    };
    let version = base.api_version.as_deref().unwrap_or(DEFAULT_VERSION);
    let req = base
        .request(reqwest::Method::POST, &base.identity_path)
        .header("API-Version", version)
        .json(&json!({"query": q, "variables": {"limit": PAGE_SIZE, "cursor": cursor}}));
    let req = match creds {
        Credentials::Bearer(t) | Credentials::ApiKey(t) => {
            req.header(reqwest::header::AUTHORIZATION, t.expose())
        }
        other => http::authorize(req, other),
    };
    let v = call(classify, base, req, graphql_errors).await?;
    let items = items(
        &v,
        &format!("{ptr}/items"),
        "item",
        "/id",
        Some("/updated_at"),
    );
    let next = text(&v, &format!("{ptr}/cursor"));
    Ok(Page {
        items,
        done: next.is_none(),
        next_cursor: next,
        deleted: vec![],
    })
}

/// What a Monday event means. An app lifecycle webhook (`uninstall`,
/// https://developer.monday.com/apps/docs/webhooks) is signed with an app-wide secret, the same
/// for every customer: whoever holds it could forge one for any account. It asks for a check of
/// the token (a genuinely uninstalled app's token is refused), never revokes by itself.
pub fn event_meaning(event_type: Option<&str>, _payload: &Value) -> Meaning {
    match event_type {
        Some("uninstall" | "app_uninstall") => {
            Meaning::CheckAccess("monday: app uninstalled (token to be checked)")
        }
        _ => Meaning::Changed,
    }
}

/// A GraphQL call with the integration's token (Monday takes it without a scheme,
/// https://developer.monday.com/api-reference/docs/authentication); an answer with `errors`
/// or `error_code` is classified as Monday's listing classifies it.
pub async fn graphql(
    api: &Api<'_>,
    query: &str,
    variables: Value,
) -> Result<Value, ConnectorError> {
    let p = Platform::Monday;
    let req = api
        .client
        .post(http::join(&api.api_base, "/v2"))
        .header(reqwest::header::AUTHORIZATION, api.token.expose())
        .json(&json!({"query": query, "variables": variables}));
    let resp = http::send(p, req).await?;
    let v = http::ok_json(p, &resp)?;
    if v.get("errors").is_some() || v.get("error_code").is_some() {
        return Err(classify_response(&resp));
    }
    Ok(v)
}

/// `create_webhook` (https://developer.monday.com/api-reference/reference/webhooks): a board
/// webhook of `event` to `url`; returns its id.
pub async fn create_webhook(
    api: &Api<'_>,
    board: &str,
    url: &str,
    event: &str,
) -> Result<String, ConnectorError> {
    let v = graphql(
        api,
        "mutation ($board: ID!, $url: String!, $event: WebhookEventType!) { \
         create_webhook (board_id: $board, url: $url, event: $event) { id board_id } }",
        json!({"board": board, "url": url, "event": event}),
    )
    .await?;
    http::json_id(&v, "/data/create_webhook/id").ok_or_else(|| {
        ConnectorError::new(
            Platform::Monday,
            ErrorType::InvalidResponse,
            None,
            None,
            "create_webhook returned no id",
        )
    })
}

/// `delete_webhook`: removes board webhook `id`.
pub async fn delete_webhook(api: &Api<'_>, id: &str) -> Result<(), ConnectorError> {
    graphql(
        api,
        "mutation ($id: ID!) { delete_webhook (id: $id) { id board_id } }",
        json!({ "id": id }),
    )
    .await
    .map(|_| ())
}

/// Monday: its connector, and its webhooks, each carrying a JWT signed with the app's signing
/// secret (board webhooks: https://developer.monday.com/api-reference/reference/webhooks; app
/// lifecycle webhooks: https://developer.monday.com/apps/docs/webhooks).
pub const SPEC: Spec = Spec {
    webhooks: Some(Webhooks {
        read: read_event,
        meaning: event_meaning,
        deletion_event_types: &["delete_pulse"],
        deletions,
        ..Webhooks::signed(Scheme::MondayJwt)
    }),
    ..Spec::new(
        defaults,
        |b| Arc::new(Monday(b)),
        crate::items::monday::model,
    )
};

/// A `challenge` is echoed; board webhooks are `{"event": {"type", "triggerUuid", …}}`, app
/// lifecycle webhooks `{"type": "install" | "uninstall" | …, "data": {…}}`.
fn read_event(payload: &Value, _secret: Option<&[u8]>) -> Result<Read, Refusal> {
    if let Some(c) = payload.get("challenge") {
        return Ok(Read::Answer(json_handshake(json!({ "challenge": c }))));
    }
    Ok(Read::Event {
        id: http::json_id(payload, "/event/triggerUuid"),
        event_type: first_str(payload, &["/event/type", "/type"]),
    })
}

/// A deleted item (`delete_pulse`).
fn deletions(event_type: Option<&str>, payload: &Value) -> Vec<Deletion> {
    if event_type != Some("delete_pulse") {
        return Vec::new();
    }
    // Item ids as the Monday connector's GraphQL `id`s: the number as text.
    let id = http::json_id(payload, "/event/pulseId")
        .or_else(|| http::json_id(payload, "/event/itemId"));
    one(id.map(Gone::Item), "monday: item deleted")
}

//! The incremental list call of each platform, one page per call, with the platform's own
//! cursor form. A page's failure is classified by the platform's `classify`; a cursor the
//! platform refuses as too old is `ConnectorError::cursor_expired`. It never follows a link
//! to another host than the platform's (a credential goes only where the platform lives) and
//! never puts a credential into an error.

use serde_json::{json, Value};

use super::base::Base;
use super::http::{self, RawResponse};
use super::page::{item, Page, SyncItem};
use super::{
    discord, fireflies, gmail, monday, notion, outlook, slack, unconfirmed, zerovoice, zoom,
};
use super::{ConnectorError, Credentials, ErrorType, Platform};

/// Items asked per page (each platform caps it at its own maximum).
pub const PAGE_SIZE: u32 = 100;
/// The Slack channel and Discord channel read until per-integration channels are configured.
pub const DEFAULT_CHANNEL: &str = "general";

pub(super) type Classify = fn(&Base, &RawResponse) -> ConnectorError;

pub(super) fn classifier(p: Platform) -> Classify {
    match p {
        Platform::Gmail => gmail::classify,
        Platform::Outlook => outlook::classify,
        Platform::Slack => slack::classify,
        Platform::Discord => discord::classify,
        Platform::Zoom => zoom::classify,
        Platform::Fireflies => fireflies::classify,
        Platform::Monday => monday::classify,
        Platform::Notion => notion::classify,
        Platform::ZeroVoice => zerovoice::classify,
        Platform::Otter | Platform::Loom | Platform::Granola | Platform::ZeroDb => {
            unconfirmed::classify
        }
    }
}

/// One page of `base.platform`'s listing from `cursor` (the beginning when `None`).
pub async fn list_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    match base.platform {
        Platform::Gmail => super::lists_mail::gmail_page(base, creds, cursor).await,
        Platform::Outlook => super::lists_mail::outlook_page(base, creds, cursor).await,
        Platform::Slack => slack_page(base, creds, cursor).await,
        Platform::Discord => discord_page(base, creds, cursor).await,
        Platform::Zoom => zoom_page(base, creds, cursor).await,
        Platform::Notion => notion_page(base, creds, cursor).await,
        Platform::Monday => monday_page(base, creds, cursor).await,
        Platform::Fireflies => fireflies_page(base, creds, cursor).await,
        Platform::ZeroVoice => twilio_page(base, creds, cursor).await,
        Platform::Otter | Platform::Loom | Platform::Granola | Platform::ZeroDb => {
            generic_page(base, creds, cursor).await
        }
    }
}

/// Sends; a non-success answer (or `bad(body)`) is classified; the body must be JSON.
pub(super) async fn call(
    base: &Base,
    req: reqwest::RequestBuilder,
    bad: fn(&Value) -> bool,
) -> Result<Value, ConnectorError> {
    let resp = base.send(req).await?;
    let body = resp.json();
    if !resp.is_success() || body.as_ref().is_some_and(bad) {
        return Err(classifier(base.platform)(base, &resp));
    }
    body.ok_or_else(|| http::invalid_response(base.platform, &resp, "not JSON"))
}

pub(super) fn no_error(_: &Value) -> bool {
    false
}

pub(super) fn items(
    v: &Value,
    list: &str,
    kind: &str,
    id: &str,
    time: Option<&str>,
) -> Vec<SyncItem> {
    v.pointer(list)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| item(x, kind, id, time)).collect())
        .unwrap_or_default()
}

pub(super) fn text(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

pub(super) fn query(
    base: &Base,
    path: &str,
    creds: &Credentials,
    q: &[(&str, String)],
) -> reqwest::RequestBuilder {
    http::authorize(base.request(reqwest::Method::GET, path).query(q), creds)
}

/// Slack: `conversations.history` with `response_metadata.next_cursor`.
async fn slack_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let mut q = vec![
        ("channel", DEFAULT_CHANNEL.to_string()),
        ("limit", PAGE_SIZE.to_string()),
    ];
    if let Some(c) = cursor {
        q.push(("cursor", c.to_string()));
    }
    let not_ok = |v: &Value| v.get("ok").and_then(Value::as_bool) != Some(true);
    let v = call(
        base,
        query(base, "/api/conversations.history", creds, &q),
        not_ok,
    )
    .await?;
    let items = items(&v, "/messages", "message", "/ts", Some("/ts"));
    let next = text(&v, "/response_metadata/next_cursor");
    Ok(Page {
        items,
        done: next.is_none(),
        next_cursor: next,
    })
}

/// Discord: channel messages `after` a snowflake; the cursor is the newest id seen.
async fn discord_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let after = cursor.unwrap_or("0");
    let path = format!("/api/v10/channels/{DEFAULT_CHANNEL}/messages");
    let q = [
        ("after", after.to_string()),
        ("limit", PAGE_SIZE.to_string()),
    ];
    let v = call(base, query(base, &path, creds, &q), no_error).await?;
    let items = items(&v, "", "message", "/id", Some("/timestamp"));
    let newest = items
        .iter()
        .filter_map(|i| i.external_id.parse::<u64>().ok())
        .max();
    Ok(Page {
        done: items.len() < PAGE_SIZE as usize,
        next_cursor: newest
            .map(|n| n.to_string())
            .or_else(|| cursor.map(String::from)),
        items,
    })
}

/// Zoom: cloud recordings with `next_page_token` (a full listing each sync).
async fn zoom_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let mut q = vec![("page_size", "300".to_string())];
    if let Some(c) = cursor {
        q.push(("next_page_token", c.to_string()));
    }
    let v = call(
        base,
        query(base, "/v2/users/me/recordings", creds, &q),
        no_error,
    )
    .await?;
    let items = items(&v, "/meetings", "recording", "/uuid", Some("/start_time"));
    let next = text(&v, "/next_page_token");
    Ok(Page {
        items,
        done: next.is_none(),
        next_cursor: next,
    })
}

/// Notion: `POST /v1/search` sorted by `last_edited_time`, `start_cursor`/`next_cursor`.
async fn notion_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let mut body = json!({"page_size": PAGE_SIZE,
        "sort": {"timestamp": "last_edited_time", "direction": "ascending"}});
    if let Some(c) = cursor {
        body["start_cursor"] = json!(c);
    }
    let version = base
        .api_version
        .as_deref()
        .unwrap_or(notion::DEFAULT_VERSION);
    let req = base
        .request(reqwest::Method::POST, "/v1/search")
        .header("Notion-Version", version)
        .json(&body);
    let v = call(base, http::authorize(req, creds), no_error).await?;
    let items = items(&v, "/results", "page", "/id", Some("/last_edited_time"));
    let next = text(&v, "/next_cursor").filter(|_| v.get("has_more") == Some(&json!(true)));
    Ok(Page {
        items,
        done: next.is_none(),
        next_cursor: next,
    })
}

fn graphql_errors(v: &Value) -> bool {
    v.get("errors").is_some() || v.get("error_code").is_some()
}

/// Monday: `items_page` of the first board, then `next_items_page` with its cursor.
async fn monday_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let (q, ptr) = match cursor {
        None => ("query ($limit: Int!) { boards(limit: 1) { items_page(limit: $limit) { cursor items { id name updated_at } } } }",
                 "/data/boards/0/items_page"),
        Some(_) => ("query ($limit: Int!, $cursor: String!) { next_items_page(limit: $limit, cursor: $cursor) { cursor items { id name updated_at } } }",
                    "/data/next_items_page"),
    };
    let version = base
        .api_version
        .as_deref()
        .unwrap_or(monday::DEFAULT_VERSION);
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
    let v = call(base, req, graphql_errors).await?;
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
    })
}

/// Fireflies: `transcripts(limit, skip)`; the cursor is the number of transcripts skipped.
async fn fireflies_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    const LIMIT: u64 = 50;
    let skip: u64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
    let q = "query ($limit: Int, $skip: Int) { transcripts(limit: $limit, skip: $skip) { id title date } }";
    let req = base
        .request(reqwest::Method::POST, &base.identity_path)
        .json(&json!({"query": q, "variables": {"limit": LIMIT, "skip": skip}}));
    let v = call(base, http::authorize(req, creds), graphql_errors).await?;
    let items = items(&v, "/data/transcripts", "transcript", "/id", Some("/date"));
    let n = items.len() as u64;
    Ok(Page {
        done: n < LIMIT,
        next_cursor: (n == LIMIT).then(|| (skip + n).to_string()),
        items,
    })
}

/// Twilio: the account's recordings; the cursor is `next_page_uri` (a path on the API host).
async fn twilio_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let p = base.platform;
    let Credentials::Basic { user, .. } = creds else {
        return Err(ConnectorError::new(
            p,
            ErrorType::AuthInvalid,
            None,
            None,
            "Twilio needs Basic credentials (AccountSid and auth token)",
        ));
    };
    let req = match cursor {
        Some(uri) if uri.starts_with("/2010-04-01/Accounts/") => {
            http::authorize(base.request(reqwest::Method::GET, uri), creds)
        }
        Some(_) => {
            return Err(ConnectorError::new(
                p,
                ErrorType::BadRequest,
                None,
                Some("foreign_link".into()),
                "next_page_uri is not an account resource",
            ))
        }
        None => query(
            base,
            &format!("/2010-04-01/Accounts/{user}/Recordings.json"),
            creds,
            &[("PageSize", PAGE_SIZE.to_string())],
        ),
    };
    let v = call(base, req, no_error).await?;
    let items = items(
        &v,
        "/recordings",
        "recording",
        "/sid",
        Some("/date_created"),
    );
    let next = text(&v, "/next_page_uri");
    Ok(Page {
        items,
        done: next.is_none(),
        next_cursor: next,
    })
}

/// Otter, Loom, Granola, ZeroDB (unconfirmed APIs): `GET /v1/items?cursor=&limit=`.
async fn generic_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let mut q = vec![("limit", PAGE_SIZE.to_string())];
    if let Some(c) = cursor {
        q.push(("cursor", c.to_string()));
    }
    let v = call(base, query(base, "/v1/items", creds, &q), no_error).await?;
    let items = items(&v, "/items", "item", "/id", Some("/updated_at"));
    let next = text(&v, "/next_cursor");
    Ok(Page {
        items,
        done: next.is_none(),
        next_cursor: next,
    })
}

//! The incremental lists of the mail platforms, whose cursors have the most states: Gmail
//! (message listing, then history from a history id; 404 = too old) and Outlook (delta query:
//! next link, then delta link; 410 or `syncStateNotFound` = too old). Like `lists`, it never
//! follows a link to another host and never puts a credential into an error.

use serde_json::Value;

use super::base::Base;
use super::http;
use super::lists::{call, items, no_error, query, text, PAGE_SIZE};
use super::page::{item, Page};
use super::{gmail, outlook, ConnectorError, Credentials, ErrorType};

/// Gmail: no cursor → `list:` (the profile's history id first, so nothing added during the
/// listing is missed), then `messages.list` pages (`list:<historyId>:<pageToken>`), then
/// `history.list?startHistoryId=` (`<historyId>[:<pageToken>]`); 404 there = too old.
pub(super) async fn gmail_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let p = base.platform;
    let Some(cursor) = cursor else {
        let v = call(base, query(base, &base.identity_path, creds, &[]), no_error).await?;
        let hid = http::json_id(&v, "/historyId").ok_or_else(|| {
            ConnectorError::new(p, ErrorType::InvalidResponse, None, None, "no historyId")
        })?;
        return Ok(Page {
            items: vec![],
            next_cursor: Some(format!("list:{hid}:")),
            done: false,
        });
    };
    if let Some(rest) = cursor.strip_prefix("list:") {
        let (hid, token) = rest.split_once(':').unwrap_or((rest, ""));
        let mut q = vec![("maxResults", PAGE_SIZE.to_string())];
        if !token.is_empty() {
            q.push(("pageToken", token.to_string()));
        }
        let v = call(
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
            },
            None => Page {
                items,
                next_cursor: Some(hid.to_string()),
                done: true,
            },
        });
    }
    let (start, token) = cursor.split_once(':').unwrap_or((cursor, ""));
    let mut q = vec![
        ("startHistoryId", start.to_string()),
        ("historyTypes", "messageAdded".to_string()),
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
    if !resp.is_success() {
        return Err(gmail::classify(base, &resp));
    }
    let v = resp
        .json()
        .ok_or_else(|| http::invalid_response(p, &resp, "not JSON"))?;
    let mut out = Vec::new();
    for h in v
        .get("history")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for m in h
            .get("messagesAdded")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.extend(item(m, "message", "/message/id", None).map(|mut it| {
                it.raw = m.get("message").cloned().unwrap_or(Value::Null);
                it
            }));
        }
    }
    Ok(match text(&v, "/nextPageToken") {
        Some(t) => Page {
            items: out,
            next_cursor: Some(format!("{start}:{t}")),
            done: false,
        },
        None => Page {
            items: out,
            next_cursor: Some(http::json_id(&v, "/historyId").unwrap_or_else(|| start.to_string())),
            done: true,
        },
    })
}

/// Outlook: the inbox delta query; the cursor is the `@odata.nextLink` (more now) or the
/// `@odata.deltaLink` (caught up). An expired delta link (410, `syncStateNotFound`,
/// `resyncRequired`) is too old.
pub(super) async fn outlook_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let p = base.platform;
    let req = match cursor {
        None => query(
            base,
            "/v1.0/me/mailFolders/inbox/messages/delta",
            creds,
            &[],
        ),
        Some(link) => {
            let prefix = format!("{}/", base.api_base.trim_end_matches('/'));
            if !link.starts_with(&prefix) {
                return Err(ConnectorError::new(
                    p,
                    ErrorType::BadRequest,
                    None,
                    Some("foreign_link".into()),
                    "delta link points outside the platform",
                ));
            }
            http::authorize(base.client.get(link), creds)
        }
    };
    let resp = base.send(req).await?;
    let code = resp.json().and_then(|b| text(&b, "/error/code"));
    if cursor.is_some()
        && (resp.status == 410
            || matches!(
                code.as_deref(),
                Some("syncStateNotFound" | "resyncRequired" | "SyncStateNotFound")
            ))
    {
        return Err(ConnectorError::cursor_expired(p, &resp));
    }
    if !resp.is_success() {
        return Err(outlook::classify(base, &resp));
    }
    let v = resp
        .json()
        .ok_or_else(|| http::invalid_response(p, &resp, "not JSON"))?;
    let items = items(&v, "/value", "message", "/id", Some("/receivedDateTime"));
    Ok(
        match (text(&v, "/@odata.nextLink"), text(&v, "/@odata.deltaLink")) {
            (Some(next), _) => Page {
                items,
                next_cursor: Some(next),
                done: false,
            },
            (None, delta) => Page {
                items,
                next_cursor: delta,
                done: true,
            },
        },
    )
}

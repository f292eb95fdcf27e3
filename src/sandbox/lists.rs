//! Synthetic, deterministic list endpoints with each platform's own cursor form, plus the two
//! GraphQL endpoints (Monday, Fireflies) and Twilio's account resources. Test double only:
//! items are made up from the account name and an index, never from real data.

use std::sync::atomic::Ordering;

use axum::response::Response;
use serde_json::{json, Value};

use super::api::{account_id, presented, Req};
use super::forms::json_response;
use super::state::State;
use crate::connectors::Platform;

/// Gmail history ids run from `GMAIL_OLDEST` (older is "too old": 404) to this.
pub const GMAIL_LATEST: u64 = 10_000;
const GMAIL_OLDEST: u64 = 9_000;
const TS0: u64 = 1_700_000_000;

fn total(st: &State) -> u64 {
    st.items_per_account.load(Ordering::Relaxed)
}

/// (offset, limit) → the page's item indexes and the next offset if any.
fn page(offset: u64, limit: u64, total: u64) -> (std::ops::Range<u64>, Option<u64>) {
    let limit = limit.clamp(1, 1000);
    let end = (offset + limit).min(total);
    let start = offset.min(end);
    (start..end, (end < total).then_some(end))
}

fn num(s: Option<&str>, default: u64) -> u64 {
    s.and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn ok(v: Value) -> Response {
    json_response(200, v, &[])
}

pub fn route(st: &State, r: &Req, account: &str) -> Option<Response> {
    let n = total(st);
    let id = account_id(r.platform, account);
    let resp = match (r.platform, r.path.as_str()) {
        (Platform::Slack, "/api/conversations.history") => {
            let off = r
                .q("cursor")
                .and_then(|c| c.strip_prefix("c"))
                .map_or(0, |c| num(Some(c), 0));
            let (items, next) = page(off, num(r.q("limit"), 100), n);
            ok(json!({"ok": true, "has_more": next.is_some(),
                "messages": items.map(|i| json!({"type": "message", "user": id,
                    "text": format!("message {i} of {account}"), "ts": format!("{}.{:06}", TS0 + i, i)})).collect::<Vec<_>>(),
                "response_metadata": {"next_cursor": next.map(|o| format!("c{o}")).unwrap_or_default()}}))
        }
        (Platform::Gmail, "/gmail/v1/users/me/history") => {
            let start = num(r.q("startHistoryId"), 0);
            if start < GMAIL_OLDEST {
                return Some(json_response(
                    404,
                    json!({"error": {"code": 404,
                    "message": "Requested entity was not found.", "status": "NOT_FOUND",
                    "errors": [{"domain": "global", "reason": "notFound"}]}}),
                    &[],
                ));
            }
            let first = GMAIL_LATEST - n.min(GMAIL_LATEST - GMAIL_OLDEST);
            let from = start.max(first);
            let off = num(r.q("pageToken"), from - first);
            let (items, next) = page(off, num(r.q("maxResults"), 100), GMAIL_LATEST - first);
            let mut v = json!({"historyId": GMAIL_LATEST.to_string(),
                "history": items.map(|i| { let h = first + i + 1; json!({"id": h.to_string(),
                    "messagesAdded": [{"message": {"id": format!("m{h:x}"), "threadId": format!("t{h:x}")}}]}) }).collect::<Vec<_>>()});
            if let Some(o) = next {
                v["nextPageToken"] = json!(o.to_string());
            }
            ok(v)
        }
        (Platform::Gmail, "/gmail/v1/users/me/messages") => {
            let first = GMAIL_LATEST - n.min(GMAIL_LATEST - GMAIL_OLDEST);
            let off = num(r.q("pageToken"), 0);
            let (items, next) = page(off, num(r.q("maxResults"), 100), GMAIL_LATEST - first);
            let mut v = json!({"resultSizeEstimate": GMAIL_LATEST - first,
                "messages": items.map(|i| { let h = first + i + 1;
                    json!({"id": format!("m{h:x}"), "threadId": format!("t{h:x}")}) }).collect::<Vec<_>>()});
            if let Some(o) = next {
                v["nextPageToken"] = json!(o.to_string());
            }
            ok(v)
        }
        (Platform::Notion, "/v1/search") => {
            let b = r.json();
            let off = num(b.get("start_cursor").and_then(Value::as_str), 0);
            let (items, next) = page(
                off,
                b.get("page_size")
                    .and_then(Value::as_u64)
                    .unwrap_or(100)
                    .min(100),
                n,
            );
            ok(
                json!({"object": "list", "type": "page_or_database", "has_more": next.is_some(),
                "next_cursor": next.map(|o| o.to_string()),
                "results": items.map(|i| json!({"object": "page", "id": format!("{:08x}-0000-4000-8000-{:012x}", i, i),
                    "last_edited_time": format!("2025-01-01T00:{:02}:{:02}.000Z", (i / 60) % 60, i % 60)})).collect::<Vec<_>>()}),
            )
        }
        (Platform::Discord, path)
            if path.starts_with("/api/v10/channels/") && path.ends_with("/messages") =>
        {
            const BASE: u64 = 1_100_000_000_000_000_000;
            let after = num(r.q("after"), 0);
            let off = after.saturating_sub(BASE).min(n);
            let off = if after >= BASE { off + 1 } else { 0 };
            let (items, _) = page(off, num(r.q("limit"), 50).min(100), n);
            ok(Value::Array(
                items
                    .map(|i| {
                        json!({"id": (BASE + i).to_string(), "type": 0,
                "content": format!("message {i}"), "author": {"id": id}})
                    })
                    .collect(),
            ))
        }
        (Platform::Zoom, "/v2/users/me/recordings") => {
            let off = num(r.q("next_page_token"), 0);
            let size = num(r.q("page_size"), 30);
            let (items, next) = page(off, size, n);
            ok(json!({"page_size": size, "total_records": n,
                "next_page_token": next.map(|o| o.to_string()).unwrap_or_default(),
                "meetings": items.map(|i| json!({"uuid": format!("rec{i}=="), "id": 80_000_000 + i,
                    "topic": format!("meeting {i}"), "recording_count": 1})).collect::<Vec<_>>()}))
        }
        (
            Platform::Outlook,
            "/v1.0/me/mailFolders/inbox/messages/delta" | "/v1.0/me/messages/delta",
        ) => {
            let link = format!("{}/outlook{}", st.base_url, r.path);
            if r.q("$deltatoken").is_some() {
                return Some(ok(
                    json!({"value": [], "@odata.deltaLink": format!("{link}?$deltatoken=d{n}")}),
                ));
            }
            let off = r
                .q("$skiptoken")
                .and_then(|s| s.strip_prefix("s"))
                .map_or(0, |s| num(Some(s), 0));
            let (items, next) = page(off, 10, n);
            let mut v = json!({"value": items.map(|i| json!({"id": format!("AAMk{i:08}"),
                "subject": format!("mail {i}"), "receivedDateTime": "2025-01-01T00:00:00Z"})).collect::<Vec<_>>()});
            match next {
                Some(o) => v["@odata.nextLink"] = json!(format!("{link}?$skiptoken=s{o}")),
                None => v["@odata.deltaLink"] = json!(format!("{link}?$deltatoken=d{n}")),
            }
            ok(v)
        }
        (
            Platform::Otter
            | Platform::Loom
            | Platform::Granola
            | Platform::ZeroDb
            | Platform::Monday
            | Platform::Fireflies,
            "/v1/items",
        ) => {
            let off = num(r.q("cursor"), 0);
            let (items, next) = page(off, num(r.q("limit"), 50), n);
            ok(
                json!({"items": items.map(|i| json!({"id": format!("{}-{i}", r.platform), "title": format!("item {i}"),
                "updated_at": TS0 + i})).collect::<Vec<_>>(), "next_cursor": next.map(|o| o.to_string())}),
            )
        }
        _ => return None,
    };
    Some(resp)
}

/// Monday GraphQL: `me`, `items_page`/`next_items_page` with a cursor.
pub fn monday(r: &Req, id: &str, st: &State) -> Response {
    let b = r.json();
    let q = b.get("query").and_then(Value::as_str).unwrap_or("");
    if q.contains("items_page") {
        let cursor = b.pointer("/variables/cursor").and_then(Value::as_str);
        let off = num(cursor, 0);
        let limit = b
            .pointer("/variables/limit")
            .and_then(Value::as_u64)
            .unwrap_or(25);
        let (items, next) = page(off, limit.min(500), total(st));
        let items_page = json!({"cursor": next.map(|o| o.to_string()),
            "items": items.map(|i| json!({"id": (5_000 + i).to_string(), "name": format!("item {i}")})).collect::<Vec<_>>()});
        return ok(if q.contains("next_items_page") {
            json!({"data": {"next_items_page": items_page}})
        } else {
            json!({"data": {"boards": [{"items_page": items_page}]}})
        });
    }
    if q.contains("me") {
        return ok(json!({"data": {"me": {"id": id}}, "account_id": 1}));
    }
    json_response(
        200,
        json!({"errors": [{"message": "Unsupported query in the sandbox",
        "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]}),
        &[],
    )
}

/// Fireflies GraphQL: `user`, `transcripts(limit, skip)`.
pub fn fireflies(r: &Req, id: &str, st: &State) -> Response {
    let b = r.json();
    let q = b.get("query").and_then(Value::as_str).unwrap_or("");
    if q.contains("transcripts") {
        let skip = b
            .pointer("/variables/skip")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let limit = b
            .pointer("/variables/limit")
            .and_then(Value::as_u64)
            .unwrap_or(50);
        let (items, _) = page(skip, limit.min(50), total(st));
        return ok(
            json!({"data": {"transcripts": items.map(|i| json!({"id": format!("tr{i}"),
            "title": format!("call {i}"), "date": (TS0 + i) * 1000})).collect::<Vec<_>>()}}),
        );
    }
    if q.contains("user") {
        return ok(json!({"data": {"user": {"user_id": id, "name": "sandbox"}}}));
    }
    json_response(
        200,
        json!({"errors": [{"message": "Unsupported query in the sandbox",
        "code": "invalid_arguments"}]}),
        &[],
    )
}

/// Twilio: `Accounts/{Sid}.json` and `Accounts/{Sid}/Recordings.json` (PageToken paging).
pub fn twilio(st: &State, r: &Req, account: &str) -> Response {
    let sid = presented(r.platform, &r.headers)
        .map(|(v, _)| v)
        .unwrap_or_default();
    let prefix = format!("/2010-04-01/Accounts/{sid}");
    let not_found = || {
        json_response(
            404,
            json!({"code": 20404, "status": 404,
        "message": "The requested resource was not found"}),
            &[],
        )
    };
    let Some(rest) = r.path.strip_prefix(&prefix) else {
        return not_found();
    };
    match rest {
        ".json" => {
            ok(json!({"sid": sid, "friendly_name": account, "status": "active", "type": "Full"}))
        }
        "/Recordings.json" => {
            let size = num(r.q("PageSize"), 50);
            let off = r
                .q("PageToken")
                .and_then(|t| t.strip_prefix("PA"))
                .map_or(0, |t| num(Some(t), 0));
            let (items, next) = page(off, size, total(st));
            let page_no = num(r.q("Page"), 0);
            ok(json!({"page": page_no, "page_size": size, "start": off,
                "uri": format!("{prefix}/Recordings.json?PageSize={size}&Page={page_no}"),
                "next_page_uri": next.map(|o| format!("{prefix}/Recordings.json?PageSize={size}&Page={}&PageToken=PA{o}", page_no + 1)),
                "recordings": items.map(|i| json!({"sid": format!("RE{i:032x}"), "account_sid": sid,
                    "duration": "12", "status": "completed"})).collect::<Vec<_>>()}))
        }
        _ => not_found(),
    }
}

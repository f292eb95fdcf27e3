//! The two GraphQL list endpoints of the sandbox (Monday, Fireflies), on the same synthetic,
//! deterministic items as the REST listings of the parent module, removals included.

use axum::response::Response;
use serde_json::{json, Value};

use super::*;

/// Monday GraphQL: `me`, `items_page`/`next_items_page` with a cursor. `login` is the
/// token's, `account` the Monday account.
pub fn monday(r: &Req, id: &str, login: &str, account: &str, st: &State) -> Response {
    let b = r.json();
    let q = b.get("query").and_then(Value::as_str).unwrap_or("");
    let var = |k: &str| match b.pointer(&format!("/variables/{k}")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if q.contains("create_webhook") {
        let (board, url, event) = (var("board"), var("url"), var("event"));
        if board.is_empty() || url.is_empty() || event.is_empty() {
            return ok(
                json!({"errors": [{"message": "board_id, url and event are required",
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]}),
            );
        }
        let sub = st.subscribe(r.platform, id, &url, &format!("board {board} {event}"));
        let n = u64::from_str_radix(&sub[..12], 16).unwrap_or(1);
        return ok(json!({"data": {"create_webhook": {"id": n.to_string(), "board_id": board}}}));
    }
    if q.contains("delete_webhook") {
        let hook = var("id");
        let found = st.subscriptions().into_iter().find(|s| {
            u64::from_str_radix(&s.id[..12], 16)
                .ok()
                .map(|n| n.to_string())
                == Some(hook.clone())
        });
        return match found {
            Some(s) => {
                st.unsubscribe(r.platform, id, Some(&s.id));
                ok(json!({"data": {"delete_webhook": {"id": hook, "board_id": null}}}))
            }
            None => ok(json!({"errors": [{"message": "Webhook not found",
                "extensions": {"code": "ResourceNotFoundException"}}]})),
        };
    }
    if q.contains("items_page") {
        let cursor = b.pointer("/variables/cursor").and_then(Value::as_str);
        let off = num(cursor, 0);
        let limit = b
            .pointer("/variables/limit")
            .and_then(Value::as_u64)
            .unwrap_or(25);
        let rm = st.removed(r.platform, login);
        let (items, next) = page_kept(off, limit.min(500), total(st), rm.as_deref());
        st.count_served(r.platform, items.len() as u64);
        let items_page = json!({"cursor": next.map(|o| o.to_string()),
            "items": items.iter().map(|&i| crate::content::monday::item(i, q.contains("column_values"))).collect::<Vec<_>>()});
        return ok(if q.contains("next_items_page") {
            json!({"data": {"next_items_page": items_page}})
        } else {
            json!({"data": {"boards": [{"items_page": items_page}]}})
        });
    }
    if q.contains("me") {
        return ok(
            json!({"data": {"me": {"id": id, "account": {"id": account}}}, "account_id": 1}),
        );
    }
    json_response(
        200,
        json!({"errors": [{"message": "Unsupported query in the sandbox",
        "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]}),
        &[],
    )
}

/// Fireflies GraphQL: `user`, `transcripts(limit, skip, fromDate)`.
pub fn fireflies(r: &Req, id: &str, login: &str, st: &State) -> Response {
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
        // `fromDate` is inclusive; transcripts are a second apart.
        let since = secs(b.pointer("/variables/fromDate").and_then(Value::as_str));
        let rm = st.removed(r.platform, login);
        let all: Vec<u64> = (0..total(st))
            .filter(|&i| since.is_none_or(|s| TS0 + i >= s))
            .filter(|&i| rm.as_deref().is_none_or(|rm| rm.keeps(i)))
            .collect();
        let (got, _) = slice(&all, skip, limit.min(50));
        st.count_served(r.platform, got.len() as u64);
        return ok(
            json!({"data": {"transcripts": got.iter().map(|&i| json!({"id": format!("tr{i}"),
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

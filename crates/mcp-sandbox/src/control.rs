//! The sandbox's own control endpoints under `/_sandbox/`: arm, list and clear faults (and
//! faults of content calls only), remove and restore items from a login's listings, make
//! items' content large, list the subscriptions made, read the counters. Test
//! double only: nothing here is a platform's API.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State as AxState};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::forms;
use crate::state::{FaultSpec, State};
use mcp_platforms::connectors::Platform;

/// The `/_sandbox/*` routes.
pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route(
            "/_sandbox/faults",
            post(add_fault).delete(clear_faults).get(list_faults),
        )
        .route("/_sandbox/faults/content", post(add_content_fault))
        .route("/_sandbox/items/enlarge", post(enlarge_items))
        .route("/_sandbox/stats", get(stats))
        .route("/_sandbox/items/remove", post(remove_items))
        .route("/_sandbox/items/restore", post(restore_items))
        .route("/_sandbox/subscriptions", get(subscriptions))
}

/// `POST /_sandbox/faults/content`: a fault that counts and fires on content calls only.
async fn add_content_fault(AxState(st): AxState<Arc<State>>, Json(f): Json<FaultSpec>) -> Response {
    if f.platform != "*" && Platform::parse(&f.platform).is_none() {
        return bad_request("no such platform");
    }
    st.content.add_fault(f);
    let n = st.content.faults().len();
    forms::json_response(200, json!({"ok": true, "content_faults": n}), &[])
}

/// `POST /_sandbox/items/enlarge`: `{"platform", "account": <login>, "indexes": [i, …],
/// "bytes": n}`: those items' content becomes about `n` bytes long.
#[derive(serde::Deserialize)]
struct EnlargeBody {
    #[serde(flatten)]
    items: ItemsBody,
    bytes: usize,
}

async fn enlarge_items(AxState(st): AxState<Arc<State>>, Json(b): Json<EnlargeBody>) -> Response {
    match b.items.checked() {
        Ok((p, Some(ix))) => {
            st.content.enlarge(p, &b.items.account, ix, b.bytes);
            forms::json_response(200, json!({"ok": true, "count": ix.len()}), &[])
        }
        Ok((_, None)) => bad_request("indexes are required"),
        Err(why) => bad_request(why),
    }
}

async fn add_fault(AxState(st): AxState<Arc<State>>, Json(f): Json<FaultSpec>) -> Response {
    if f.platform != "*" && Platform::parse(&f.platform).is_none() {
        return forms::json_response(400, json!({"error": "no such platform"}), &[]);
    }
    st.add_fault(f);
    forms::json_response(200, json!({"ok": true, "faults": st.faults().len()}), &[])
}

#[derive(serde::Deserialize)]
struct ClearQuery {
    platform: Option<String>,
}

async fn clear_faults(AxState(st): AxState<Arc<State>>, Query(q): Query<ClearQuery>) -> Response {
    let p = q.platform.as_deref().and_then(Platform::parse);
    st.clear_faults(p);
    st.content.clear_faults(p);
    forms::json_response(200, json!({"ok": true}), &[])
}

async fn list_faults(AxState(st): AxState<Arc<State>>) -> Response {
    forms::json_response(
        200,
        json!({"faults": st.faults(), "content_faults": st.content.faults()}),
        &[],
    )
}

/// `POST /_sandbox/items/remove` and `/restore`: `{"platform", "account": <login>,
/// "indexes": [i, …]}` (restore without `indexes`: all of the login's).
#[derive(serde::Deserialize)]
struct ItemsBody {
    platform: String,
    account: String,
    #[serde(default)]
    indexes: Option<Vec<u64>>,
}

impl ItemsBody {
    /// The platform and the indexes (`None`: not given), or why the body is refused.
    fn checked(&self) -> Result<(Platform, Option<&[u64]>), &'static str> {
        if self.account.is_empty() {
            return Err("account is required");
        }
        let p = Platform::parse(&self.platform).ok_or("no such platform")?;
        Ok((p, self.indexes.as_deref()))
    }
}

fn bad_request(why: &str) -> Response {
    forms::json_response(400, json!({ "error": why }), &[])
}

/// Answers `{"ok": true, "count": <items changed>, "removed": <items now removed>}`.
async fn remove_items(AxState(st): AxState<Arc<State>>, Json(b): Json<ItemsBody>) -> Response {
    match b.checked() {
        Ok((p, Some(ix))) => {
            let n = st.remove_items(p, &b.account, ix);
            items_answer(&st, p, &b.account, n)
        }
        Ok((_, None)) => bad_request("indexes are required"),
        Err(why) => bad_request(why),
    }
}

async fn restore_items(AxState(st): AxState<Arc<State>>, Json(b): Json<ItemsBody>) -> Response {
    match b.checked() {
        Ok((p, ix)) => {
            let n = st.restore_items(p, &b.account, ix);
            items_answer(&st, p, &b.account, n)
        }
        Err(why) => bad_request(why),
    }
}

fn items_answer(st: &State, p: Platform, login: &str, n: u64) -> Response {
    let now = st.removed(p, login).map_or(0, |rm| rm.at.len());
    forms::json_response(200, json!({"ok": true, "count": n, "removed": now}), &[])
}

async fn subscriptions(AxState(st): AxState<Arc<State>>) -> Response {
    forms::json_response(200, json!(st.subscriptions()), &[])
}

async fn stats(AxState(st): AxState<Arc<State>>) -> Response {
    let calls: BTreeMap<&str, u64> = Platform::ALL
        .into_iter()
        .map(|p| (p.as_str(), st.calls(p)))
        .collect();
    let (served, with_auth) = st.content.downloads();
    forms::json_response(
        200,
        json!({"calls": calls, "faults": st.faults(), "content_faults": st.content.faults(),
            "zoom_storage": {"downloads": served, "with_authorization": with_auth}}),
        &[],
    )
}

//! The sandbox's content calls, served as the platforms serve them (each platform's in its
//! file): Gmail's `messages.get`, Zoom's transcript download with its redirect to a storage
//! host, Fireflies' `transcript(id:)` and Notion's block children; and the fuller records the
//! Outlook and Monday listings carry when asked. Plus what tests arm on them: faults that count
//! content calls only, items made very large, the record of storage downloads.
//!
//! Everything is made from the login and the item's index, the same on every call; an item
//! removed from the login's listings (`State::remove_items`) answers the platform's "not
//! found". Test double only: it never calls out, and holds no real content.

pub mod fireflies;
pub mod gmail;
pub mod monday;
pub mod notion;
pub mod outlook;
#[cfg(test)]
mod tests;
pub mod zoom;

use std::sync::atomic::Ordering;

use axum::response::Response;

use crate::faults::FaultKind;
use crate::forms;
use crate::req::{presented, Req};
use crate::state::State;
use mcp_platforms::connectors::Platform;

pub use crate::content_state::ContentState;

/// Answers a content call (after its credential was accepted), or `None` when the request is
/// not one. A content fault armed on the platform fires first.
pub async fn route(st: &State, r: &Req, login: &str) -> Option<Response> {
    let p = r.platform;
    let path = r.path.as_str();
    let is_content = match (p, r.method.as_str()) {
        (Platform::Gmail, "GET") => gmail::message_id(path).is_some(),
        (Platform::Zoom, "GET") => path.starts_with(zoom::DOWNLOAD_PREFIX),
        (Platform::Notion, "GET") => notion::block_of(path).is_some(),
        (Platform::Fireflies, "POST") => path == "/graphql" && fireflies::asks_transcript(r),
        _ => false,
    };
    if !is_content {
        return None;
    }
    st.content.count_call(p);
    let shown = presented(p, &r.headers).map(|(v, _)| v);
    if let Some(f) = st.content.take_fault(p, shown.as_deref()) {
        if f.fault == FaultKind::Timeout {
            tokio::time::sleep(st.hang()).await;
        }
        return Some(forms::fault_response(p, f.fault, f.retry_after_secs));
    }
    Some(match p {
        Platform::Gmail => gmail::get(st, r, login),
        Platform::Zoom => zoom::download(st, r, login),
        Platform::Notion => notion::children(st, r, login),
        _ => fireflies::transcript(st, r, login),
    })
}

/// The index of an item of `login`'s listings on `p`, if it is listed (below the listing's
/// size and not removed).
pub fn listed(st: &State, p: Platform, login: &str, i: u64) -> bool {
    let n = st.items_per_account.load(Ordering::Relaxed);
    i < n && st.removed(p, login).is_none_or(|rm| rm.keeps(i))
}

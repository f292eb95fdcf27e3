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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use axum::response::Response;

use crate::api::{presented, Req};
use crate::faults::{self, FaultKind, FaultSpec};
use crate::forms;
use crate::state::State;
use mcp_platforms::connectors::Platform;

/// The content calls' own state: faults armed on content calls only, the items made large, and
/// the downloads served by Zoom's storage host.
#[derive(Default)]
pub struct ContentState {
    faults: Mutex<Vec<FaultSpec>>,
    any_fault: AtomicBool,
    /// (platform, login, item index) → the size its content is padded to, in bytes.
    large: Mutex<HashMap<(Platform, String, u64), usize>>,
    any_large: AtomicBool,
    /// Files served by Zoom's storage host, and how many of those requests carried an
    /// `Authorization` header (a token that should have stayed with Zoom's API host).
    downloads: AtomicU64,
    downloads_with_auth: AtomicU64,
    /// Content calls received, by platform (answered or faulted).
    calls: Mutex<HashMap<Platform, u64>>,
}

impl ContentState {
    /// Arms a fault that counts and fires on content calls only.
    pub fn add_fault(&self, f: FaultSpec) {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(f);
        self.any_fault.store(true, Ordering::Release);
    }

    pub fn clear_faults(&self, p: Option<Platform>) {
        let mut g = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        match p {
            None => g.clear(),
            Some(p) => g.retain(|f| f.platform != p.as_str()),
        }
    }

    pub fn faults(&self) -> Vec<FaultSpec> {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn take_fault(&self, p: Platform, presented: Option<&str>) -> Option<FaultSpec> {
        if !self.any_fault.load(Ordering::Acquire) {
            return None;
        }
        let mut g = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        faults::take(&mut g, p, presented, false)
    }

    /// Makes the content of items (by index) of a login's about `bytes` long.
    pub fn enlarge(&self, p: Platform, login: &str, indexes: &[u64], bytes: usize) {
        let mut g = self.large.lock().unwrap_or_else(|e| e.into_inner());
        for &i in indexes {
            g.insert((p, login.to_string(), i), bytes);
        }
        self.any_large.store(true, Ordering::Release);
    }

    /// The size item `i`'s content is padded to, if it was made large.
    pub fn large(&self, p: Platform, login: &str, i: u64) -> Option<usize> {
        if !self.any_large.load(Ordering::Acquire) {
            return None;
        }
        let g = self.large.lock().unwrap_or_else(|e| e.into_inner());
        g.get(&(p, login.to_string(), i)).copied()
    }

    pub fn count_download(&self, with_auth: bool) {
        self.downloads.fetch_add(1, Ordering::Relaxed);
        if with_auth {
            self.downloads_with_auth.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Content calls received on `p` (a subset of the sandbox's calls of `p`).
    pub fn calls(&self, p: Platform) -> u64 {
        let g = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        g.get(&p).copied().unwrap_or(0)
    }

    fn count_call(&self, p: Platform) {
        let mut g = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        *g.entry(p).or_insert(0) += 1;
    }

    /// (files served by Zoom's storage host, requests of those that carried a token).
    pub fn downloads(&self) -> (u64, u64) {
        (
            self.downloads.load(Ordering::Relaxed),
            self.downloads_with_auth.load(Ordering::Relaxed),
        )
    }
}

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

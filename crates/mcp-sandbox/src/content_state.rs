//! What the sandbox keeps about its content calls (`content`), apart from the calls
//! themselves: faults armed on content calls only, the items made very large, the storage
//! host's downloads and the calls received per platform. Test double only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::faults::{self, FaultSpec};
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

    pub(crate) fn take_fault(&self, p: Platform, presented: Option<&str>) -> Option<FaultSpec> {
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

    pub(crate) fn count_call(&self, p: Platform) {
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

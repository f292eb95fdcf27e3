//! The connectors' content calls against the sandbox on loopback: each content call comes back
//! in the shape the item model reads, and `mcp_platforms::connectors::model` on the listed record
//! and its content gives the words the platform holds (`calls`); Notion's paging and depth,
//! Zoom's redirect without the token, a 429 in the middle of a fetch, an item deleted
//! meanwhile, a very large item and the pace (`faults`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mcp_daemon::config::Config;
use mcp_platforms::connectors::{
    Connector, ConnectorError, Connectors, Credentials, Pace, Platform, SyncItem,
};
use mcp_platforms::items::{Context, Model};
use mcp_sandbox::{self as sandbox, Sandbox};
use serde_json::{json, Value};

mod calls;
mod faults;

pub const LOGIN: &str = "content";

/// The sandbox with a few items per account, and connectors pointed at it.
pub async fn setup() -> (Sandbox, Connectors) {
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    sb.set_items_per_account(6);
    let c = connectors(&sb, None);
    (sb, c)
}

/// Connectors for `sb`, trusting `ca` (a PEM file) when given.
pub fn connectors(sb: &Sandbox, ca: Option<std::path::PathBuf>) -> Connectors {
    let mut cfg = Config::default();
    cfg.http_client.timeout = Duration::from_secs(20);
    cfg.http_client.extra_root_certs = ca.into_iter().collect();
    cfg.platforms = sb.config_overrides();
    cfg.connectors().expect("connectors")
}

pub fn creds(sb: &Sandbox, p: Platform) -> Credentials {
    sb.mint_credentials(p, LOGIN).0
}

/// Every item of a whole listing of `LOGIN`'s (at most 60 pages).
pub async fn listed(c: &dyn Connector, creds: &Credentials) -> Vec<SyncItem> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..60 {
        let page = c
            .list_page(creds, cursor.as_deref(), &json!({}), None)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", c.platform()));
        items.extend(page.items);
        if page.done || page.next_cursor.is_none() {
            break;
        }
        cursor = page.next_cursor;
    }
    items
}

/// A pace that counts its calls, and fails from call `fail_at` on (1-based) when given.
pub fn pace(fail_at: Option<u64>) -> (Arc<AtomicU64>, Box<Pace>) {
    let n = Arc::new(AtomicU64::new(0));
    let counted = n.clone();
    let pace: Box<Pace> = Box::new(move || {
        let k = counted.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move {
            match fail_at {
                Some(at) if k >= at => Err(ConnectorError::new(
                    Platform::Notion,
                    mcp_platforms::connectors::ErrorType::RateLimited,
                    None,
                    Some("bucket".into()),
                    "the bucket is empty",
                )
                .with_retry_after(Some(Duration::from_secs(9)))),
                _ => Ok(()),
            }
        })
    });
    (n, pace)
}

/// What one fetch did: its result, the paces awaited and the sandbox calls of the platform it
/// made.
pub struct Fetched {
    pub result: Result<Value, ConnectorError>,
    pub paces: u64,
    pub calls: u64,
}

pub async fn fetch(
    sb: &Sandbox,
    c: &dyn Connector,
    creds: &Credentials,
    raw: &Value,
    settings: &Value,
) -> Fetched {
    let (n, pace) = pace(None);
    let before = sb.calls(c.platform());
    let result = c.fetch_content(creds, raw, settings, &*pace).await;
    Fetched {
        result,
        paces: n.load(Ordering::SeqCst),
        calls: sb.calls(c.platform()) - before,
    }
}

/// The item model of a listed record and its content.
pub fn model(p: Platform, raw: &Value, content: &Value) -> Model {
    mcp_platforms::connectors::model(p, raw, Some(content), &Context::default())
}

/// The model's text (empty when it has none).
pub fn text_of(m: &Model) -> String {
    m.text.clone().unwrap_or_default()
}

/// The first listed item of `LOGIN`'s on `p` that `pick` takes.
pub async fn item_where(
    sb: &Sandbox,
    c: &Connectors,
    p: Platform,
    pick: impl Fn(&SyncItem) -> bool,
) -> SyncItem {
    let conn = c.get(p);
    listed(&*conn, &creds(sb, p))
        .await
        .into_iter()
        .find(|it| pick(it))
        .unwrap_or_else(|| panic!("{p}: no such item listed"))
}

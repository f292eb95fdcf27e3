//! A content connector of the tests' own: Otter's real connector (its identity call and listing
//! against the sandbox) whose listing is said to lack its content, and whose content call is
//! made here: it awaits the `pace` hook before each of its `calls_per_item` "HTTP calls", as a
//! real connector must, and answers a fuller record (`{"text": …}`, what the Otter mapping reads
//! first) or the failure a test arms. It lets the content step be tested before the real
//! connectors make content calls, and counts what it was asked.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use mcp_platforms::connectors::{
    AuthKind, Connector, ConnectorError, Connectors, Credentials, ErrorType, Identity, Pace, Page,
    Platform,
};
use serde_json::{json, Value};

/// What the fake does on a content call.
#[derive(Default)]
pub struct Script {
    /// Ids answered 404 (the item is gone).
    pub gone: HashSet<String>,
    /// Ids answered 400 (a failure retrying cannot fix).
    pub broken: HashSet<String>,
    /// The call (1-based, over the fake's life) answered 429 with this wait, once.
    pub rate_limited_at: Option<(u64, u64)>,
    /// The call (1-based) that never returns, once: the job's attempt is abandoned there, as a
    /// killed daemon's would be.
    pub hang_at: Option<u64>,
    /// The text of every item (`{id}` replaced by its id).
    pub text: String,
}

#[derive(Clone)]
pub struct Fake {
    inner: Arc<dyn Connector>,
    pub calls: Arc<AtomicU64>,
    /// Content calls per item id.
    pub asked: Arc<Mutex<HashMap<String, u64>>>,
    pub script: Arc<Mutex<Script>>,
    /// HTTP calls per content fetch (a Notion page's blocks come in several).
    pub calls_per_item: u64,
}

impl Fake {
    pub fn new(connectors: &Connectors, text: &str) -> Fake {
        Fake {
            inner: connectors.get(Platform::Otter),
            calls: Arc::default(),
            asked: Arc::default(),
            script: Arc::new(Mutex::new(Script {
                text: text.to_string(),
                ..Default::default()
            })),
            calls_per_item: 1,
        }
    }

    /// These connectors with the fake as Otter's.
    pub fn install(&self, connectors: Connectors) -> Connectors {
        connectors.with_connector(Arc::new(self.clone()))
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Items asked for more than once.
    pub fn asked_twice(&self) -> Vec<String> {
        let asked = self.asked.lock().expect("asked");
        let mut v: Vec<String> = asked
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn error(t: ErrorType, status: u16, wait: Option<u64>) -> ConnectorError {
    let mut e = ConnectorError::new(
        Platform::Otter,
        t,
        Some(status),
        None,
        format!("HTTP {status}"),
    );
    e.retry_after = wait.map(std::time::Duration::from_secs);
    e
}

impl Connector for Fake {
    fn platform(&self) -> Platform {
        Platform::Otter
    }
    fn auth_kind(&self) -> AuthKind {
        self.inner.auth_kind()
    }
    fn api_base(&self) -> &str {
        self.inner.api_base()
    }
    fn health_check<'a>(
        &'a self,
        creds: &'a Credentials,
    ) -> BoxFuture<'a, Result<Identity, ConnectorError>> {
        self.inner.health_check(creds)
    }
    fn list_page<'a>(
        &'a self,
        creds: &'a Credentials,
        cursor: Option<&'a str>,
        settings: &'a Value,
        account: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, ConnectorError>> {
        self.inner.list_page(creds, cursor, settings, account)
    }
    fn needs_content(&self, raw: &Value) -> bool {
        raw.get("id").is_some()
    }
    fn fetch_content<'a>(
        &'a self,
        _creds: &'a Credentials,
        raw: &'a Value,
        _settings: &'a Value,
        pace: &'a Pace,
    ) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(async move {
            let id = raw
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            *self
                .asked
                .lock()
                .expect("asked")
                .entry(id.clone())
                .or_default() += 1;
            for _ in 0..self.calls_per_item {
                pace().await?;
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                let (hang, limited) = {
                    let mut s = self.script();
                    let hang = s.hang_at == Some(n);
                    if hang {
                        s.hang_at = None;
                    }
                    let limited = match s.rate_limited_at {
                        Some((at, wait)) if at == n => {
                            s.rate_limited_at = None;
                            Some(wait)
                        }
                        _ => None,
                    };
                    (hang, limited)
                };
                if hang {
                    futures::future::pending::<()>().await;
                }
                if let Some(wait) = limited {
                    return Err(error(ErrorType::RateLimited, 429, Some(wait)));
                }
            }
            let s = self.script();
            if s.gone.contains(&id) {
                return Err(error(ErrorType::NotFound, 404, None));
            }
            if s.broken.contains(&id) {
                return Err(error(ErrorType::BadRequest, 400, None));
            }
            Ok(json!({"id": id, "text": s.text.replace("{id}", &id)}))
        })
    }
}

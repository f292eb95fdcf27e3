//! The intake's short-lived cache of webhook rows (by id, and app routes by account), so that a
//! burst of deliveries to one webhook reads its row once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::webhooks::WebhookRow;

/// Webhook rows found in the database, reused for `HOOK_CACHE_TTL`. Only found rows are kept:
/// an unknown webhook id is not remembered, and an account connected a moment ago is routed at
/// its first event.
pub(super) struct RowCache<K>(Mutex<HashMap<K, (Instant, Arc<WebhookRow>)>>);

impl<K: std::hash::Hash + Eq> RowCache<K> {
    pub(super) fn new() -> Self {
        RowCache(Mutex::new(HashMap::new()))
    }

    /// The cached row of `key`, else `find`'s (cached when found).
    pub(super) async fn get_or_find<F>(
        &self,
        key: K,
        find: F,
    ) -> Result<Option<Arc<WebhookRow>>, sqlx::Error>
    where
        F: std::future::Future<Output = Result<Option<WebhookRow>, sqlx::Error>>,
    {
        let now = Instant::now();
        if let Ok(cache) = self.0.lock() {
            if let Some((at, row)) = cache.get(&key) {
                if now.duration_since(*at) < HOOK_CACHE_TTL {
                    return Ok(Some(row.clone()));
                }
            }
        }
        let Some(row) = find.await? else {
            return Ok(None);
        };
        let row = Arc::new(row);
        if let Ok(mut cache) = self.0.lock() {
            cache.retain(|_, (at, _)| now.duration_since(*at) < HOOK_CACHE_TTL);
            cache.insert(key, (now, row.clone()));
        }
        Ok(Some(row))
    }
}

/// How long a looked-up webhook row is reused: a disabled or re-keyed webhook takes effect
/// within this time.
const HOOK_CACHE_TTL: Duration = Duration::from_secs(5);

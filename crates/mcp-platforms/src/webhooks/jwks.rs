//! Google's signing keys for Gmail's Pub/Sub push tokens: fetched from the documented JWKS URL
//! (`https://www.googleapis.com/oauth2/v3/certs`) and cached for the answer's
//! `Cache-Control: max-age`, fetched again when a token names a key id the set lacks (Google
//! rotates its keys) but at most once per `refetch_interval`, whatever the number of
//! deliveries; a failed fetch keeps the last good set. A JWKS file, when configured, is read
//! once at start instead (the offline option) and never fetched.
//! It must never fetch on behalf of a token more often than the interval allows (forged key
//! ids must not make the daemon hammer Google), nor log a token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;

/// How long a fetched set is used when the answer carries no `max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
/// The longest a fetched set is used, whatever `max-age` says.
const MAX_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Largest JWKS answer read.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// What Gmail verification is configured with (`[webhooks]`).
#[derive(Debug, Clone, Default)]
pub struct GmailKeysConfig {
    /// A JWKS file; when set it wins and nothing is fetched.
    pub jwks_file: String,
    /// The JWKS URL (Google's by default); empty with no file: Gmail deliveries are refused.
    pub jwks_url: String,
    /// Fewest time between two fetches made because of an unknown key id or an expired set.
    pub refetch_interval: Duration,
    /// The issuer tokens must carry; Google's documented two forms are both accepted for it.
    pub issuer: String,
    /// The audience tokens must carry; empty: Gmail deliveries are refused.
    pub audience: String,
    /// The push service account tokens must name in `email` (verified); empty: not checked.
    pub service_account: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot read webhooks.gmail_jwks_file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("webhooks.gmail_jwks_file {path} is not a JWKS: {message}")]
    Parse { path: String, message: String },
}

/// The cached set and when it was fetched.
#[derive(Default)]
struct Cached {
    set: Option<Arc<JwkSet>>,
    expires: Option<Instant>,
    last_fetch: Option<Instant>,
}

/// Gmail's verification keys and the claims tokens must carry.
#[derive(Default)]
pub struct GmailKeys {
    pub(super) issuers: Vec<String>,
    pub(super) audience: String,
    pub(super) service_account: String,
    url: Option<String>,
    /// Made at the first fetch: a daemon that receives no Gmail push never holds it.
    client: std::sync::OnceLock<Option<reqwest::Client>>,
    refetch_interval: Duration,
    cached: RwLock<Cached>,
    fetching: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
}

impl GmailKeys {
    /// Reads the JWKS file when one is configured; otherwise prepares fetching from the URL
    /// (nothing is fetched before the first Gmail delivery).
    pub fn load(cfg: &GmailKeysConfig) -> Result<GmailKeys, KeysError> {
        let mut keys = GmailKeys {
            issuers: issuers(&cfg.issuer),
            audience: cfg.audience.clone(),
            service_account: cfg.service_account.clone(),
            refetch_interval: cfg.refetch_interval,
            ..GmailKeys::default()
        };
        if !cfg.jwks_file.is_empty() {
            let path = cfg.jwks_file.clone();
            let text = std::fs::read_to_string(&path).map_err(|source| KeysError::Read {
                path: path.clone(),
                source,
            })?;
            let set: JwkSet = serde_json::from_str(&text).map_err(|e| KeysError::Parse {
                path,
                message: e.to_string(),
            })?;
            keys.cached = RwLock::new(Cached {
                set: Some(Arc::new(set)),
                ..Cached::default()
            });
        } else if !cfg.jwks_url.is_empty() {
            keys.url = Some(cfg.jwks_url.clone());
        }
        Ok(keys)
    }

    /// The key set in use now.
    pub fn set(&self) -> Option<Arc<JwkSet>> {
        self.cached
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .set
            .clone()
    }

    /// How many JWKS fetches were made (successful or not).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Acquire)
    }

    /// Before verifying a token whose header names `kid`: fetches the JWKS when the set is
    /// missing, expired or lacks `kid`, unless a fetch was made less than `refetch_interval`
    /// ago. Never fails: a failed fetch keeps the last good set (the token is then checked
    /// against it).
    pub async fn refresh_for(&self, kid: Option<&str>) {
        let Some(url) = &self.url else {
            return;
        };
        if !self.wants_fetch(kid) {
            return;
        }
        let Some(client) = self.client.get_or_init(client) else {
            return;
        };
        // One fetch at a time; those who waited find the set fetched (or the interval closed).
        let _one = self.fetching.lock().await;
        if !self.wants_fetch(kid) || !self.may_fetch() {
            return;
        }
        self.fetches.fetch_add(1, Ordering::AcqRel);
        let now = Instant::now();
        let fetched = fetch(client, url).await;
        let mut c = self.cached.write().unwrap_or_else(|e| e.into_inner());
        c.last_fetch = Some(now);
        match fetched {
            Ok((set, max_age)) => {
                tracing::info!(
                    keys = set.keys.len(),
                    max_age_s = max_age.as_secs(),
                    "Gmail push keys fetched"
                );
                c.set = Some(Arc::new(set));
                c.expires = Some(now + max_age);
            }
            Err(reason) => {
                tracing::warn!(url = %url, reason = %reason, kept = c.set.is_some(),
                    "cannot fetch Gmail push keys; the last good set stays in use");
            }
        }
    }

    /// Whether the set is missing, expired, or lacks `kid`.
    fn wants_fetch(&self, kid: Option<&str>) -> bool {
        let c = self.cached.read().unwrap_or_else(|e| e.into_inner());
        let Some(set) = &c.set else { return true };
        c.expires.is_some_and(|e| Instant::now() >= e) || kid.is_some_and(|k| set.find(k).is_none())
    }

    /// Whether the interval since the last fetch has passed.
    fn may_fetch(&self) -> bool {
        let c = self.cached.read().unwrap_or_else(|e| e.into_inner());
        c.last_fetch
            .is_none_or(|at| at.elapsed() >= self.refetch_interval)
    }
}

/// Google documents its ID tokens' issuer as `https://accounts.google.com` or
/// `accounts.google.com` (https://developers.google.com/identity/openid-connect/openid-connect#validatinganidtoken):
/// either form of Google's issuer accepts both; any other issuer is taken as configured.
fn issuers(configured: &str) -> Vec<String> {
    const GOOGLE: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
    if GOOGLE.contains(&configured) {
        GOOGLE.iter().map(|s| s.to_string()).collect()
    } else {
        vec![configured.to_string()]
    }
}

/// The client of the JWKS fetches; `None` (logged) when it cannot be built.
fn client() -> Option<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .min_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .map_err(|e| tracing::error!(error = %e, "cannot build the Gmail keys' HTTP client"))
        .ok()
}

/// One GET of the JWKS: the set and how long it may be used.
async fn fetch(client: &reqwest::Client, url: &str) -> Result<(JwkSet, Duration), String> {
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    let max_age = resp
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(max_age)
        .unwrap_or(DEFAULT_MAX_AGE)
        .min(MAX_MAX_AGE);
    let body = resp
        .bytes()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if body.len() > MAX_JWKS_BYTES {
        return Err("answer too large".into());
    }
    let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("not a JWKS: {e}"))?;
    if set.keys.is_empty() {
        return Err("the JWKS holds no key".into());
    }
    Ok((set, max_age))
}

/// `max-age=N` of a `Cache-Control` value.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|d| {
        let (k, v) = d.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| v.trim().trim_matches('"').parse::<u64>().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_of_googles_header() {
        // The header Google's certs endpoint answers with (its form; the number varies).
        let v = "public, max-age=19916, must-revalidate, no-transform";
        assert_eq!(max_age(v), Some(Duration::from_secs(19916)));
        assert_eq!(max_age("no-cache"), None);
    }

    #[test]
    fn both_documented_issuer_forms() {
        assert_eq!(issuers("https://accounts.google.com").len(), 2);
        assert_eq!(issuers("accounts.google.com").len(), 2);
        assert_eq!(
            issuers("https://issuer.example"),
            vec!["https://issuer.example"]
        );
    }
}

//! One notification to one endpoint, as the Standard Webhooks specification says: headers
//! `webhook-id` (the notification's id, the same on every retry), `webhook-timestamp` (unix
//! seconds) and `webhook-signature` (`v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`
//! keyed by the secret's bytes; one per live secret, space-separated). No redirect is followed;
//! a destination on a loopback, private or link-local address is refused unless
//! `[notify] allow_private` (checked on every address a name resolves to, so a name cannot
//! point the daemon at its own network). Never logs or returns the body or a secret.

use mcp_queue::pg::{self, Db};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use uuid::Uuid;

use super::address::is_private;
use super::endpoints::{self, NotifyError};
use super::NotifyConfig;
use crate::vault::Vault;
use mcp_platforms::secret::Secret;

/// What became of one delivery.
#[derive(Debug, PartialEq)]
pub enum Delivery {
    /// Answered 2xx; the time from the change to this answer.
    Delivered { latency: Duration },
    /// Never to be delivered: the endpoint is gone, disabled (410 disables it) or refused.
    Gone(String),
    /// Try again: after the endpoint's own Retry-After, or the schedule's next step.
    Retry {
        after: Option<Duration>,
        error: String,
    },
}

/// The HTTP client of the deliveries (one per daemon).
pub struct Deliverer {
    client: reqwest::Client,
    allow_private: bool,
}

/// Resolves names and keeps only the addresses a delivery may go to.
struct Guarded;

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.into_iter().filter(|a| !is_private(a.ip())).collect();
            if public.is_empty() {
                return Err("the destination resolves only to private addresses".into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// `v1,<base64>` for each secret, space-separated.
pub fn signature(secrets: &[Secret], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .map(|s| {
            let text = s.expose();
            let key = text
                .strip_prefix("whsec_")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .unwrap_or_else(|| text.as_bytes().to_vec());
            // HMAC takes keys of any length: `new_from_slice` cannot fail here.
            let mac = match Hmac::<Sha256>::new_from_slice(&key) {
                Ok(mut m) => {
                    m.update(format!("{id}.{timestamp}.").as_bytes());
                    m.update(body.as_bytes());
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            };
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

impl Deliverer {
    pub fn new(cfg: &NotifyConfig) -> Result<Deliverer, reqwest::Error> {
        // No proxy: behind one, the destination's name would never meet the guarded resolver.
        let mut b = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.timeout)
            .user_agent("mcp-worker-notifications");
        if !cfg.allow_private {
            b = b.dns_resolver(Arc::new(Guarded));
        }
        Ok(Deliverer {
            client: b.build()?,
            allow_private: cfg.allow_private,
        })
    }

    /// Delivers notification `id` to endpoint `endpoint` once.
    pub async fn deliver(
        &self,
        pool: &Db,
        vault: &Vault,
        id: Uuid,
        endpoint: Uuid,
    ) -> Result<Delivery, NotifyError> {
        let Some((url, enabled, secrets)) = endpoints::secrets(pool, vault, endpoint).await? else {
            return Ok(Delivery::Gone("the endpoint was removed".into()));
        };
        if !enabled {
            return Ok(Delivery::Gone("the endpoint is disabled".into()));
        }
        type Row = (String, chrono::DateTime<chrono::Utc>, serde_json::Value);
        let row: Option<Row> =
            pg::query_as("SELECT type, occurred_at, data FROM mcp.notifications WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
        let Some((kind, occurred_at, data)) = row else {
            return Ok(Delivery::Gone(
                "the notification is no longer retained".into(),
            ));
        };
        if !self.allow_private {
            let literal = url::Url::parse(&url).ok().and_then(|u| match u.host() {
                Some(url::Host::Ipv4(a)) => Some(IpAddr::V4(a)),
                Some(url::Host::Ipv6(a)) => Some(IpAddr::V6(a)),
                _ => None,
            });
            if literal.is_some_and(is_private) {
                return Ok(Delivery::Gone(
                    "the destination is a private address ([notify] allow_private is off)".into(),
                ));
            }
        }
        let body = json!({
            "type": kind,
            "timestamp": occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": data,
        })
        .to_string();
        let msg_id = id.to_string();
        let ts = chrono::Utc::now().timestamp();
        let resp = self
            .client
            .post(&url)
            .header("content-type", "application/json")
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature(&secrets, &msg_id, ts, &body))
            .body(body)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                return Ok(Delivery::Retry {
                    after: None,
                    error: e.without_url().to_string(),
                })
            }
        };
        let status = resp.status();
        if status.is_success() {
            let latency = (chrono::Utc::now() - occurred_at)
                .to_std()
                .unwrap_or_default();
            return Ok(Delivery::Delivered { latency });
        }
        if status == reqwest::StatusCode::GONE {
            let reason = format!(
                "the endpoint answered 410 Gone at {}",
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            pg::query(
                "UPDATE mcp.notification_endpoints SET enabled = false, disabled_reason = $2, \
                 updated_at = now() WHERE id = $1",
            )
            .bind(endpoint)
            .bind(&reason)
            .execute(pool)
            .await?;
            return Ok(Delivery::Gone(reason));
        }
        let after = match status.as_u16() {
            429 | 503 => retry_after(resp.headers()),
            _ => None,
        };
        Ok(Delivery::Retry {
            after,
            error: format!("the endpoint answered HTTP {}", status.as_u16()),
        })
    }
}

/// The wait after failed attempt `attempt` (1-based): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h,
/// each ±20 %.
pub fn schedule(attempt: u32) -> Duration {
    const STEPS: [u64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
    let base = STEPS[(attempt.max(1) as usize - 1).min(STEPS.len() - 1)] as f64;
    let jitter = 0.8 + rand::random::<f64>() * 0.4;
    Duration::from_secs_f64(base * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_refused() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.9",
            "172.20.0.1",
            "169.254.169.254",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "192.0.0.8",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "::127.0.0.1",
            "::8.8.8.8",
            "::ffff:0:127.0.0.1",
            "::ffff:0:8.8.8.8",
            "64:ff9b::7f00:1",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(is_private(a.parse().expect("ip")), "{a}");
        }
        for a in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(!is_private(a.parse().expect("ip")), "{a}");
        }
    }

    #[test]
    fn the_schedule_steps_with_jitter() {
        for (attempt, base) in [
            (1, 5.0),
            (2, 300.0),
            (3, 1800.0),
            (7, 36_000.0),
            (9, 36_000.0),
        ] {
            let d = schedule(attempt).as_secs_f64();
            assert!(
                d >= base * 0.8 - 1e-9 && d <= base * 1.2 + 1e-9,
                "{attempt}: {d}"
            );
        }
    }
}

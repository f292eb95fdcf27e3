//! `[webhooks]`: limits and keys of the webhook intake. Holds no secret (per-webhook secrets
//! are sealed in the database); never add one here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where Google publishes the keys that sign its tokens, Pub/Sub push tokens included
/// (`jwks_uri` of https://accounts.google.com/.well-known/openid-configuration, documented at
/// https://developers.google.com/identity/openid-connect/openid-connect#validatinganidtoken).
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

#[derive(Clone, Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Largest body accepted; larger deliveries are refused with 413 before anything is read.
    pub max_body_bytes: usize,
    /// Signed timestamps (Slack, Zoom, Discord) older or newer than this are refused.
    #[serde(with = "humantime_serde")]
    pub replay_window: Duration,
    /// The public URL the platforms call, up to (without) `/webhooks/…`: Twilio signs the full
    /// URL. Empty: `http://` + the request's Host header.
    pub public_base: String,
    /// Header carrying hex(HMAC-SHA256(secret, body)) for Otter, Loom and Granola.
    pub signature_header: String,
    /// The audience Gmail's Pub/Sub push JWTs must carry. Empty: Gmail deliveries are refused.
    pub gmail_audience: String,
    /// The issuer Gmail's Pub/Sub push JWTs must carry.
    pub gmail_issuer: String,
    /// A JWKS file (JSON) with the public keys Pub/Sub push JWTs are checked against; read at
    /// start, never fetched (the offline option). When set it wins over `gmail_jwks_url`.
    pub gmail_jwks_file: String,
    /// Google's JWKS URL, fetched when no file is set: cached for its `Cache-Control: max-age`,
    /// fetched again when a token names an unknown key. Empty (and no file): Gmail deliveries
    /// are refused.
    pub gmail_jwks_url: String,
    /// Fewest time between two JWKS fetches (an unknown key id or an expired set asks for one):
    /// a flood of forged key ids makes at most one fetch per interval.
    #[serde(with = "humantime_serde")]
    pub gmail_jwks_refetch_interval: Duration,
    /// The service account of the Pub/Sub push subscription: tokens must carry it in `email`,
    /// with `email_verified`. Empty: not checked.
    pub gmail_service_account: String,
    /// Subscriptions that expire (Gmail watch, Graph) are renewed this long before they do.
    #[serde(with = "humantime_serde")]
    pub renew_ahead: Duration,
    /// The Pub/Sub topic Gmail's `users.watch` publishes to (projects/…/topics/…).
    pub gmail_topic: String,
    /// How long a renewed Microsoft Graph subscription is asked to last (mail: under 3 days).
    #[serde(with = "humantime_serde")]
    pub outlook_subscription_ttl: Duration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            max_body_bytes: 1024 * 1024,
            replay_window: Duration::from_secs(300),
            public_base: String::new(),
            signature_header: "X-Signature".into(),
            gmail_audience: String::new(),
            gmail_issuer: "https://accounts.google.com".into(),
            gmail_jwks_file: String::new(),
            gmail_jwks_url: GOOGLE_JWKS_URL.into(),
            gmail_jwks_refetch_interval: Duration::from_secs(30),
            gmail_service_account: String::new(),
            renew_ahead: Duration::from_secs(24 * 3600),
            gmail_topic: String::new(),
            outlook_subscription_ttl: Duration::from_secs(2 * 86_400 + 12 * 3600),
        }
    }
}

impl WebhooksConfig {
    /// The checks of `[webhooks]`, naming the key at fault.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.max_body_bytes == 0 {
            return Err((
                "webhooks.max_body_bytes".into(),
                "must be at least 1".into(),
            ));
        }
        if !self.gmail_jwks_url.is_empty() {
            let ok = url::Url::parse(&self.gmail_jwks_url).is_ok_and(|u| {
                u.scheme() == "https"
                    || (u.scheme() == "http"
                        && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")))
            });
            if !ok {
                return Err((
                    "webhooks.gmail_jwks_url".into(),
                    "must be an https:// URL (http:// only on the loopback)".into(),
                ));
            }
        }
        if self.gmail_jwks_refetch_interval > Duration::from_secs(3600) {
            return Err((
                "webhooks.gmail_jwks_refetch_interval".into(),
                "must be at most 1h (a rotated key is picked up only after it)".into(),
            ));
        }
        Ok(())
    }

    /// What Gmail verification is built from.
    pub fn gmail_keys(&self) -> mcp_platforms::webhooks::GmailKeysConfig {
        mcp_platforms::webhooks::GmailKeysConfig {
            jwks_file: self.gmail_jwks_file.clone(),
            jwks_url: self.gmail_jwks_url.clone(),
            refetch_interval: self.gmail_jwks_refetch_interval,
            issuer: self.gmail_issuer.clone(),
            audience: self.gmail_audience.clone(),
            service_account: self.gmail_service_account.clone(),
        }
    }
}

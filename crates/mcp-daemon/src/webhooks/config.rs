//! `[webhooks]`: limits and keys of the webhook intake. Holds no secret (per-webhook secrets
//! are sealed in the database); never add one here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

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
    /// start, never fetched. Empty: Gmail deliveries are refused.
    pub gmail_jwks_file: String,
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
            renew_ahead: Duration::from_secs(24 * 3600),
            gmail_topic: String::new(),
            outlook_subscription_ttl: Duration::from_secs(2 * 86_400 + 12 * 3600),
        }
    }
}

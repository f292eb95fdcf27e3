//! Webhook verification: checks that a delivery comes from the platform (one file per scheme),
//! recognises handshakes and derives the key that deduplicates repeated deliveries; reads the
//! deletions a verified event reports (`deletions`) and the items it carries whole
//! (`messages`). Storing verified events is the daemon's
//! (`mcp_daemon::webhooks`).
//! It must never parse a body before its signature is verified, compare signatures in anything
//! but constant time, or put a secret, signature or body into a log line, error or metric.

mod body_hmac;
mod client_state;
pub mod deletions;
mod ed25519;
mod events;
pub mod intake;
mod jwks;
mod jwt;
pub mod meaning;
pub mod messages;
mod twilio;
mod v0_hmac;

pub use client_state::VERIFIED as OUTLOOK_CLIENT_STATE_STORED;
pub use events::{parse, Handshake, Parsed};
pub use jwks::{GmailKeys, GmailKeysConfig, KeysError};

use http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::connectors::event::hmac_sha256;
pub use crate::connectors::event::Refusal;
use crate::connectors::spec::Scheme;
use crate::connectors::Platform;

crate::connectors::platforms_where! {
    /// The platforms that deliver webhooks (ZeroDB has none).
    pub const PLATFORMS = |s| s.has_webhooks();
}

crate::connectors::platforms_where! {
    /// The platforms whose deliveries carry no signed time, so that a captured delivery verifies
    /// forever (each platform's spec says so and why: Notion, Fireflies, Twilio, Outlook, and
    /// Otter, Loom and Granola). The intake remembers the dedup keys of their events far longer
    /// than the events themselves (`mcp.webhook_dedup`), so a replay after the event was pruned
    /// is still a duplicate. The others sign a time the verifier bounds (Slack, Zoom, Discord:
    /// the replay window; Monday, Gmail: the token's `exp`).
    pub const UNTIMED = |s| s.untimed();
}

/// Checks the secret a webhook URL carries in its last segment (Monday board webhooks the
/// daemon makes: the platform has no per-webhook signing secret) against the webhook's own, in
/// constant time.
pub fn url_secret(presented: Option<&str>, expected: &[u8]) -> Result<(), Refusal> {
    let presented = presented.ok_or(Refusal::BadSignature("no URL secret"))?;
    ct_equal(presented.as_bytes(), expected)
        .map_err(|_| Refusal::BadSignature("URL secret mismatch"))
}

/// One delivery as received: raw body, headers, the public URL it was sent to, and the time.
pub struct Delivery<'a> {
    pub platform: Platform,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub url: &'a str,
    pub now: i64,
    pub replay_window_s: i64,
}

impl Delivery<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What verification needs of a webhook besides the delivery.
pub struct Keys<'a> {
    /// The shared secret (signing secret, verification token, auth token, clientState).
    pub secret: Option<&'a [u8]>,
    /// Discord's public key, hex.
    pub public_key: Option<&'a str>,
    pub gmail: &'a GmailKeys,
    /// The header signed in by the platforms whose scheme takes it from the config (Otter,
    /// Loom and Granola).
    pub signature_header: &'a str,
}

/// Checks that `d` comes from its platform, on the raw bytes.
pub fn verify(d: &Delivery<'_>, k: &Keys<'_>) -> Result<(), Refusal> {
    let secret = || {
        k.secret
            .ok_or(Refusal::BadSignature("no secret for this webhook"))
    };
    let Some(webhooks) = &d.platform.spec().webhooks else {
        return Err(Refusal::BadSignature("platform has no webhooks"));
    };
    match webhooks.scheme {
        Scheme::V0Hmac {
            signature,
            timestamp,
        } => v0_hmac::verify(d, secret()?, signature, timestamp),
        Scheme::BodyHmac { header } => {
            body_hmac::verify(d, secret()?, header.unwrap_or(k.signature_header))
        }
        Scheme::Twilio => twilio::verify(d, secret()?),
        Scheme::Ed25519 => ed25519::verify(d, k.public_key),
        Scheme::ClientState => client_state::verify(d, secret()?),
        Scheme::GmailJwt => jwt::verify_gmail(d, k.gmail),
        Scheme::MondayJwt => jwt::verify_monday(d, secret()?),
    }
}

fn ct_equal(presented: &[u8], expected: &[u8]) -> Result<(), Refusal> {
    if !expected.is_empty() && bool::from(presented.ct_eq(expected)) {
        Ok(())
    } else {
        Err(Refusal::BadSignature("signature mismatch"))
    }
}

/// A signed timestamp (unix seconds) must be within the replay window of now.
fn within_window(d: &Delivery<'_>, ts: &str) -> Result<(), Refusal> {
    let mut ts: i64 = ts.trim().parse().map_err(|_| Refusal::Stale)?;
    if ts > 100_000_000_000 {
        ts /= 1000; // milliseconds
    }
    if (d.now - ts).abs() > d.replay_window_s {
        return Err(Refusal::Stale);
    }
    Ok(())
}

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

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::connectors::Platform;

/// The platforms that deliver webhooks (ZeroDB has none).
pub const PLATFORMS: [Platform; 12] = [
    Platform::Gmail,
    Platform::Outlook,
    Platform::Slack,
    Platform::Discord,
    Platform::Zoom,
    Platform::Notion,
    Platform::Monday,
    Platform::Fireflies,
    Platform::Otter,
    Platform::Loom,
    Platform::Granola,
    Platform::ZeroVoice,
];

/// The platforms whose deliveries carry no signed time, so that a captured delivery verifies
/// forever: Notion (`X-Notion-Signature` is an HMAC of the body alone,
/// https://developers.notion.com/reference/webhooks), Fireflies (`x-hub-signature`, of the body,
/// https://docs.fireflies.ai/graphql-api/webhooks), Twilio (`X-Twilio-Signature`, of the URL
/// and the form parameters, https://www.twilio.com/docs/usage/webhooks/webhooks-security),
/// Outlook (a constant `clientState`,
/// https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks), and Otter,
/// Loom and Granola (an HMAC of the body, unconfirmed). The intake remembers the dedup keys of
/// their events far longer than the events themselves (`mcp.webhook_dedup`), so a replay after
/// the event was pruned is still a duplicate. The others sign a time the verifier bounds (Slack,
/// Zoom, Discord: the replay window; Monday, Gmail: the token's `exp`).
pub const UNTIMED: [Platform; 7] = [
    Platform::Outlook,
    Platform::Notion,
    Platform::Fireflies,
    Platform::Otter,
    Platform::Loom,
    Platform::Granola,
    Platform::ZeroVoice,
];

/// Checks the secret a webhook URL carries in its last segment (Monday board webhooks the
/// daemon makes: the platform has no per-webhook signing secret) against the webhook's own, in
/// constant time.
pub fn url_secret(presented: Option<&str>, expected: &[u8]) -> Result<(), Refusal> {
    let presented = presented.ok_or(Refusal::BadSignature("no URL secret"))?;
    ct_equal(presented.as_bytes(), expected)
        .map_err(|_| Refusal::BadSignature("URL secret mismatch"))
}

/// Why a delivery is refused; `outcome()` is its `mcp_webhook_events_total` label.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("signature refused: {0}")]
    BadSignature(&'static str),
    #[error("signed timestamp outside the replay window")]
    Stale,
    #[error("body is not what the platform sends")]
    Malformed,
}

impl Refusal {
    pub fn outcome(&self) -> &'static str {
        match self {
            Refusal::BadSignature(_) => "bad_signature",
            Refusal::Stale => "stale",
            Refusal::Malformed => "malformed",
        }
    }
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
    /// The header Otter, Loom and Granola sign in.
    pub signature_header: &'a str,
}

/// Checks that `d` comes from its platform, on the raw bytes.
pub fn verify(d: &Delivery<'_>, k: &Keys<'_>) -> Result<(), Refusal> {
    let secret = || {
        k.secret
            .ok_or(Refusal::BadSignature("no secret for this webhook"))
    };
    match d.platform {
        Platform::Slack => v0_hmac::verify(
            d,
            secret()?,
            "x-slack-signature",
            "x-slack-request-timestamp",
        ),
        Platform::Zoom => v0_hmac::verify(d, secret()?, "x-zm-signature", "x-zm-request-timestamp"),
        Platform::Notion => body_hmac::verify(d, secret()?, "x-notion-signature"),
        Platform::Fireflies => body_hmac::verify(d, secret()?, "x-hub-signature"),
        Platform::Otter | Platform::Loom | Platform::Granola => {
            body_hmac::verify(d, secret()?, k.signature_header)
        }
        Platform::ZeroVoice => twilio::verify(d, secret()?),
        Platform::Discord => ed25519::verify(d, k.public_key),
        Platform::Outlook => client_state::verify(d, secret()?),
        Platform::Gmail => jwt::verify_gmail(d, k.gmail),
        Platform::Monday => jwt::verify_monday(d, secret()?),
        Platform::ZeroDb => Err(Refusal::BadSignature("platform has no webhooks")),
    }
}

fn hmac_sha256(secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail here.
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret) else {
        return Vec::new();
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
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

//! HMAC-SHA256 of the raw body, hex, in one header, optionally prefixed `sha256=`: Notion
//! (`X-Notion-Signature`), Fireflies (`x-hub-signature`), and Otter, Loom and Granola (a
//! configurable header). Compares in constant time; never reveals the expected signature.

use super::{hmac_sha256, Delivery, Refusal};

pub fn verify(d: &Delivery<'_>, secret: &[u8], header: &str) -> Result<(), Refusal> {
    let presented = d
        .header(header)
        .map(|s| s.strip_prefix("sha256=").unwrap_or(s))
        .and_then(|h| hex::decode(h).ok())
        .ok_or(Refusal::BadSignature("no signature"))?;
    super::ct_equal(&presented, &hmac_sha256(secret, &[d.body]))
}

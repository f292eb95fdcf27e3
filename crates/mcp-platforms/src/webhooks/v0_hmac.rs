//! Slack's and Zoom's scheme: `v0=hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body))`
//! with the timestamp in its own header, refused outside the replay window. Compares in
//! constant time; never reveals the expected signature.

use super::{hmac_sha256, within_window, Delivery, Refusal};

pub fn verify(
    d: &Delivery<'_>,
    secret: &[u8],
    sig_header: &str,
    ts_header: &str,
) -> Result<(), Refusal> {
    let ts = d
        .header(ts_header)
        .ok_or(Refusal::BadSignature("no timestamp"))?;
    let presented = d
        .header(sig_header)
        .and_then(|s| s.strip_prefix("v0="))
        .and_then(|h| hex::decode(h).ok())
        .ok_or(Refusal::BadSignature("no signature"))?;
    let expected = hmac_sha256(secret, &[b"v0:", ts.as_bytes(), b":", d.body]);
    super::ct_equal(&presented, &expected)?;
    within_window(d, ts)
}

//! Discord's scheme: `X-Signature-Ed25519` (hex) is an Ed25519 signature over
//! `X-Signature-Timestamp` + body by the application's key, checked with its public key (stored
//! per webhook, in clear: it is public). The timestamp must be inside the replay window.

use ed25519_dalek::{Signature, VerifyingKey};

use super::{within_window, Delivery, Refusal};

pub fn verify(d: &Delivery<'_>, public_key_hex: Option<&str>) -> Result<(), Refusal> {
    let key: [u8; 32] = public_key_hex
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or(Refusal::BadSignature(
            "no public key configured for this webhook",
        ))?;
    let key =
        VerifyingKey::from_bytes(&key).map_err(|_| Refusal::BadSignature("unusable public key"))?;
    let ts = d
        .header("x-signature-timestamp")
        .ok_or(Refusal::BadSignature("no timestamp"))?;
    let sig: [u8; 64] = d
        .header("x-signature-ed25519")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or(Refusal::BadSignature("no signature"))?;
    let mut msg = Vec::with_capacity(ts.len() + d.body.len());
    msg.extend_from_slice(ts.as_bytes());
    msg.extend_from_slice(d.body);
    key.verify_strict(&msg, &Signature::from_bytes(&sig))
        .map_err(|_| Refusal::BadSignature("signature mismatch"))?;
    within_window(d, ts)
}

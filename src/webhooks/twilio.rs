//! Twilio's scheme (ZeroVoice): `X-Twilio-Signature = base64(HMAC-SHA1(auth_token, full URL +
//! the form parameters sorted by name, each name then value))`. The full URL is the public one
//! the platform called. Compares in constant time.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{Delivery, Refusal};

pub fn verify(d: &Delivery<'_>, secret: &[u8]) -> Result<(), Refusal> {
    let presented = d
        .header("x-twilio-signature")
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .ok_or(Refusal::BadSignature("no signature"))?;
    let payload = crate::sandbox::twilio_payload(d.url, d.body);
    let mut mac = Hmac::<Sha1>::new_from_slice(secret)
        .map_err(|_| Refusal::BadSignature("unusable secret"))?;
    mac.update(payload.as_bytes());
    super::ct_equal(&presented, &mac.finalize().into_bytes())
}

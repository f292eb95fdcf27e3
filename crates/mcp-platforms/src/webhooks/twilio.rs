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
    let payload = signed_text(d.url, d.body);
    let mut mac = Hmac::<Sha1>::new_from_slice(secret)
        .map_err(|_| Refusal::BadSignature("unusable secret"))?;
    mac.update(payload.as_bytes());
    super::ct_equal(&presented, &mac.finalize().into_bytes())
}

/// The text Twilio signs: the URL, then each form parameter's name and value, by name.
fn signed_text(url: &str, body: &[u8]) -> String {
    let mut fields: Vec<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> =
        url::form_urlencoded::parse(body).collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    fields
        .iter()
        .fold(String::from(url), |mut text, (name, value)| {
            text.push_str(name);
            text.push_str(value);
            text
        })
}

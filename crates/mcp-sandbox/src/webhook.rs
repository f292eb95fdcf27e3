//! Webhook signing as each platform does it, so tests and the demo can send deliveries that a
//! verifier must accept (or tamper with them to see it refuse): the HMAC schemes, Discord
//! (Ed25519, with a key derived from the test secret), Monday (an HS256 JWT) and Gmail Pub/Sub
//! (an RS256 OIDC JWT signed with the sandbox's first test key, `gmail_keys`). It must never be
//! used to sign anything but test traffic.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

use mcp_platforms::connectors::Platform;

use crate::gmail_keys::{sign_gmail, GmailTestKey};

fn discord_key(secret: &[u8]) -> ed25519_dalek::SigningKey {
    use sha2::Digest;
    ed25519_dalek::SigningKey::from_bytes(&Sha256::digest(secret).into())
}

/// The Discord application public key (hex) matching the signing key derived from `secret`.
pub fn discord_public_key(secret: &[u8]) -> String {
    hex::encode(discord_key(secret).verifying_key().to_bytes())
}

fn jwt(
    alg: jsonwebtoken::Algorithm,
    kid: Option<&str>,
    key: &jsonwebtoken::EncodingKey,
    claims: &serde_json::Value,
) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).unwrap_or_default()
}

fn hmac256(secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut m = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// Twilio's string to sign: the full URL, then each form parameter's name and value, sorted
/// by name, concatenated.
pub fn twilio_payload(url: &str, body: &[u8]) -> String {
    let mut params: Vec<(String, String)> =
        url::form_urlencoded::parse(body).into_owned().collect();
    params.sort();
    let mut s = url.to_string();
    for (k, v) in params {
        s.push_str(&k);
        s.push_str(&v);
    }
    s
}

/// The headers a platform would send with `body`. `url` is the full URL for Twilio and the
/// audience of Gmail's and Monday's tokens; for Discord `secret` seeds the application's key
/// pair (`discord_public_key`); Gmail ignores `secret` (it signs with the first test RSA key;
/// `Sandbox::sign_gmail` signs with the current one). JWTs are issued at `timestamp` and expire
/// as the platform's do (Gmail an hour later, Monday five minutes).
pub fn sign_webhook(
    p: Platform,
    secret: &[u8],
    body: &[u8],
    timestamp: i64,
    url: &str,
) -> Vec<(String, String)> {
    let ts = timestamp.to_string();
    match p {
        Platform::Slack => vec![
            ("X-Slack-Request-Timestamp".into(), ts.clone()),
            (
                "X-Slack-Signature".into(),
                format!(
                    "v0={}",
                    hex::encode(hmac256(secret, &[b"v0:", ts.as_bytes(), b":", body]))
                ),
            ),
        ],
        Platform::Zoom => vec![
            ("x-zm-request-timestamp".into(), ts.clone()),
            (
                "x-zm-signature".into(),
                format!(
                    "v0={}",
                    hex::encode(hmac256(secret, &[b"v0:", ts.as_bytes(), b":", body]))
                ),
            ),
        ],
        Platform::Notion => vec![(
            "X-Notion-Signature".into(),
            format!("sha256={}", hex::encode(hmac256(secret, &[body]))),
        )],
        Platform::Fireflies => vec![fireflies_signature(secret, body, FirefliesSignature::Hex)],
        // UNCONFIRMED schemes: HMAC-SHA256 of the body, hex, in a configurable header; the
        // sandbox uses `X-Signature` with a `X-Timestamp` beside it.
        Platform::Otter | Platform::Loom | Platform::Granola => vec![
            ("X-Timestamp".into(), ts),
            ("X-Signature".into(), hex::encode(hmac256(secret, &[body]))),
        ],
        Platform::ZeroVoice => {
            let payload = twilio_payload(url, body);
            let sig = match Hmac::<Sha1>::new_from_slice(secret) {
                Ok(mut m) => {
                    m.update(payload.as_bytes());
                    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
                }
                Err(_) => String::new(),
            };
            vec![("X-Twilio-Signature".into(), sig)]
        }
        Platform::Discord => {
            use ed25519_dalek::Signer;
            let mut msg = ts.as_bytes().to_vec();
            msg.extend_from_slice(body);
            let sig = discord_key(secret).sign(&msg);
            vec![
                ("X-Signature-Ed25519".into(), hex::encode(sig.to_bytes())),
                ("X-Signature-Timestamp".into(), ts),
            ]
        }
        Platform::Monday => {
            // The documented claim set of the Authorization header
            // (https://developer.monday.com/apps/docs/authorization-header): `aud` is the
            // endpoint the request is sent to, `exp` five minutes after `iat` as in its example.
            let claims = serde_json::json!({
                "accountId": 1825529, "userId": 4012689, "aud": url,
                "exp": timestamp + 300, "shortLivedToken": "sandbox-short-lived-token",
                "iat": timestamp
            });
            let key = jsonwebtoken::EncodingKey::from_secret(secret);
            vec![(
                "Authorization".into(),
                jwt(jsonwebtoken::Algorithm::HS256, None, &key, &claims),
            )]
        }
        Platform::Gmail => sign_gmail(GmailTestKey::First, None, timestamp, url),
        Platform::Outlook | Platform::ZeroDb => Vec::new(),
    }
}

/// The forms of Fireflies' `x-hub-signature`, the HMAC-SHA256 of the body: bare hex (the V1
/// page, https://docs.fireflies.ai/graphql-api/webhooks, names no prefix) and `sha256=<hex>`
/// (the form reported for Webhooks V2, https://docs.fireflies.ai/graphql-api/webhooks-v2,
/// whose format line could not be read): a verifier must take both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirefliesSignature {
    Hex,
    Prefixed,
}

/// Fireflies' signature header for `body` in `form`.
pub fn fireflies_signature(
    secret: &[u8],
    body: &[u8],
    form: FirefliesSignature,
) -> (String, String) {
    let mac = hex::encode(hmac256(secret, &[body]));
    let value = match form {
        FirefliesSignature::Hex => mac,
        FirefliesSignature::Prefixed => format!("sha256={mac}"),
    };
    ("x-hub-signature".into(), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_signature_shape() {
        let h = sign_webhook(Platform::Slack, b"secret", b"{}", 1_700_000_000, "");
        assert_eq!(h[0].1, "1700000000");
        assert!(h[1].1.starts_with("v0=") && h[1].1.len() == 67);
    }

    /// Slack's worked example, https://api.slack.com/authentication/verifying-requests-from-slack:
    /// its secret, timestamp and slash-command body sign to the signature the page gives.
    #[test]
    fn slack_signs_the_documented_example_as_slack_does() {
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let h = sign_webhook(
            Platform::Slack,
            b"8f742231b10e8888abcd99yyyzzz85a5",
            body.as_bytes(),
            1_531_420_618,
            "",
        );
        assert_eq!(
            h[0],
            ("X-Slack-Request-Timestamp".into(), "1531420618".into())
        );
        assert_eq!(
            h[1].1,
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }

    #[test]
    fn hmac_sha256_known_vector() {
        // RFC 4231 test case 2.
        let mac = hmac256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn twilio_sorts_params() {
        let s = twilio_payload("https://x.test/hook", b"b=2&a=1&c=3");
        assert_eq!(s, "https://x.test/hooka1b2c3");
        let h = sign_webhook(
            Platform::ZeroVoice,
            b"token",
            b"b=2&a=1",
            0,
            "https://x.test/hook",
        );
        assert_eq!(h[0].0, "X-Twilio-Signature");
        assert_eq!(h[0].1.len(), 28);
    }
}

//! Google's signing keys as the sandbox plays them: two RSA test keys checked in beside this
//! file (`gmail_test_key.der`, `gmail_test_key_2.der`, PKCS#1 DER, public halves in
//! `gmail_test_jwks*.json`), the JWKS endpoint at Google's path (`/gmail/oauth2/v3/certs`,
//! served with `Cache-Control: public, max-age=…` as Google serves
//! https://www.googleapis.com/oauth2/v3/certs), a rotation to the second key, and Pub/Sub push
//! tokens signed with whichever key is current; the endpoint can be made to fail. It signs on
//! its own: it must never use the platforms crate's verifiers, nor sign anything but test
//! traffic.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The public half of the first key, as a JWKS file's contents.
pub const GMAIL_TEST_JWKS: &str = include_str!("gmail_test_jwks.json");
/// The public half of the second key (the one a rotation moves to).
pub const GMAIL_TEST_JWKS_2: &str = include_str!("gmail_test_jwks_2.json");
const KEY_1_DER: &[u8] = include_bytes!("gmail_test_key.der");
const KEY_2_DER: &[u8] = include_bytes!("gmail_test_key_2.der");
/// The issuer the sandbox's Gmail tokens carry (Google's, as in the documented claim set of
/// https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions).
pub const GMAIL_TEST_ISSUER: &str = "https://accounts.google.com";
/// The push service account the sandbox's tokens name in `email`.
pub const GMAIL_TEST_SERVICE_ACCOUNT: &str = "gmail-push@sandbox.iam.gserviceaccount.com";
/// Where the sandbox serves its JWKS, under its base URL (Google's path, behind `/gmail`).
pub const GMAIL_JWKS_PATH: &str = "/gmail/oauth2/v3/certs";
/// The `max-age` the sandbox's JWKS answers carry (Google's are hours; any value works).
pub const GMAIL_JWKS_MAX_AGE_S: u64 = 21_600;

/// One of the sandbox's two Gmail signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GmailTestKey {
    First,
    Second,
}

impl GmailTestKey {
    /// The key id its JWKS entry and tokens carry.
    pub fn kid(self) -> &'static str {
        match self {
            GmailTestKey::First => "sandbox-gmail-test",
            GmailTestKey::Second => "sandbox-gmail-test-2",
        }
    }

    fn der(self) -> &'static [u8] {
        match self {
            GmailTestKey::First => KEY_1_DER,
            GmailTestKey::Second => KEY_2_DER,
        }
    }

    fn jwk(self) -> Value {
        let text = match self {
            GmailTestKey::First => GMAIL_TEST_JWKS,
            GmailTestKey::Second => GMAIL_TEST_JWKS_2,
        };
        serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v["keys"].get(0).cloned())
            .unwrap_or(Value::Null)
    }
}

/// Which key signs now and how often the JWKS was fetched.
#[derive(Debug, Default)]
pub struct GmailKeyState {
    rotated: AtomicBool,
    fetches: AtomicU64,
    /// The endpoint answers 503 (Google unreachable) while set.
    failing: AtomicBool,
}

impl GmailKeyState {
    /// The key that signs now.
    pub fn current(&self) -> GmailTestKey {
        if self.rotated.load(Ordering::Acquire) {
            GmailTestKey::Second
        } else {
            GmailTestKey::First
        }
    }

    /// From now on the second key signs; the JWKS lists it first, with the first key still
    /// beside it (as Google keeps the previous key listed for a while).
    pub fn rotate(&self) {
        self.rotated.store(true, Ordering::Release);
    }

    /// Makes the JWKS endpoint answer 503 (or serve again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::Release);
    }

    /// How many times the JWKS endpoint was called.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Acquire)
    }

    /// The JWKS as served now.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = match self.current() {
            GmailTestKey::First => vec![GmailTestKey::First.jwk()],
            GmailTestKey::Second => vec![GmailTestKey::Second.jwk(), GmailTestKey::First.jwk()],
        };
        serde_json::json!({ "keys": keys })
    }
}

/// `GET /gmail/oauth2/v3/certs`: the JWKS with Google's caching header.
pub fn certs(keys: &GmailKeyState) -> Response {
    keys.fetches.fetch_add(1, Ordering::AcqRel);
    if keys.failing.load(Ordering::Acquire) {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/json; charset=UTF-8",
            ),
            (
                axum::http::header::CACHE_CONTROL,
                &format!("public, max-age={GMAIL_JWKS_MAX_AGE_S}, must-revalidate, no-transform"),
            ),
        ],
        keys.jwks().to_string(),
    )
        .into_response()
}

/// The `Authorization` header of a Pub/Sub push to audience `aud`, issued at `timestamp`
/// (expiring an hour later), signed with `key` and naming `kid` in its header (`None`: the
/// key's own). The claim set is the documented one: `aud`, `azp`, `email`, `email_verified`,
/// `exp`, `iat`, `iss`, `sub` (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions).
pub fn sign_gmail(
    key: GmailTestKey,
    kid: Option<&str>,
    timestamp: i64,
    aud: &str,
) -> Vec<(String, String)> {
    let claims = serde_json::json!({
        "aud": aud,
        "azp": "113774264463038321964",
        "email": GMAIL_TEST_SERVICE_ACCOUNT,
        "email_verified": true,
        "exp": timestamp + 3600,
        "iat": timestamp,
        "iss": GMAIL_TEST_ISSUER,
        "sub": "113774264463038321964"
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.unwrap_or(key.kid()).to_string());
    let enc = jsonwebtoken::EncodingKey::from_rsa_der(key.der());
    let token = jsonwebtoken::encode(&header, &claims, &enc).unwrap_or_default();
    vec![("Authorization".into(), format!("Bearer {token}"))]
}

/// A JWT of any claims signed (RS256) with one of the test keys, naming its key id: the
/// identity provider a test plays for the MCP server's JWTs (its JWKS: `GMAIL_TEST_JWKS`).
pub fn sign_test_jwt(key: GmailTestKey, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key.kid().to_string());
    let enc = jsonwebtoken::EncodingKey::from_rsa_der(key.der());
    jsonwebtoken::encode(&header, claims, &enc).unwrap_or_default()
}

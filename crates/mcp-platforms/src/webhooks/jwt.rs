//! The JWT schemes. Gmail (Pub/Sub push): `Authorization: Bearer <JWT>` signed RS256 by one of
//! Google's keys (`jwks.rs`), with the configured issuer (either documented form of Google's)
//! and audience, and when configured the push service account in `email`, verified
//! (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions). Monday: a JWT in
//! `Authorization` (with or without `Bearer`) signed HS256 with the app's signing secret, whose
//! `aud` must be the URL the delivery was sent to and whose `exp` must be present and not past
//! (https://developer.monday.com/apps/docs/authorization-header). An expired token is refused
//! as stale. Verification itself never fetches: the intake refreshes Google's keys first.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::jwks::GmailKeys;
use super::{Delivery, Refusal};

impl GmailKeys {
    /// Fetches Google's keys first when the delivery's token names a key the cached set lacks
    /// (or the set is missing or expired), within the refetch limit (`jwks.rs`).
    pub async fn refresh_for_delivery(&self, d: &Delivery<'_>) {
        let kid = token(d)
            .ok()
            .and_then(|t| decode_header(t).ok())
            .and_then(|h| h.kid);
        self.refresh_for(kid.as_deref()).await;
    }
}

fn token<'a>(d: &'a Delivery<'_>) -> Result<&'a str, Refusal> {
    let auth = d
        .header("authorization")
        .ok_or(Refusal::BadSignature("no token"))?;
    Ok(match auth.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => auth.trim(),
    })
}

fn refusal(e: jsonwebtoken::errors::Error) -> Refusal {
    match e.kind() {
        ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => Refusal::Stale,
        ErrorKind::InvalidIssuer => Refusal::BadSignature("wrong issuer"),
        ErrorKind::InvalidAudience => Refusal::BadSignature("wrong audience"),
        _ => Refusal::BadSignature("invalid token"),
    }
}

pub fn verify_gmail(d: &Delivery<'_>, keys: &GmailKeys) -> Result<(), Refusal> {
    let jwks = keys
        .set()
        .filter(|_| !keys.audience.is_empty())
        .ok_or(Refusal::BadSignature(
            "gmail verification is not configured or Google's keys are unavailable",
        ))?;
    let t = token(d)?;
    let header = decode_header(t).map_err(|_| Refusal::BadSignature("invalid token"))?;
    let jwk = match header.kid.as_deref() {
        Some(kid) => jwks.find(kid),
        None if jwks.keys.len() == 1 => jwks.keys.first(),
        None => None,
    }
    .ok_or(Refusal::BadSignature("unknown key"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| Refusal::BadSignature("unusable key"))?;
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&keys.issuers);
    v.set_audience(&[keys.audience.as_str()]);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    let claims = decode::<Value>(t, &key, &v).map_err(refusal)?.claims;
    if !keys.service_account.is_empty()
        && (claims["email"].as_str() != Some(keys.service_account.as_str())
            || claims["email_verified"] != Value::Bool(true))
    {
        return Err(Refusal::BadSignature("not the push service account"));
    }
    Ok(())
}

/// Monday's token: signed with the app's signing secret, `exp` required and not past, `aud`
/// the URL the delivery was sent to (`d.url`).
pub fn verify_monday(d: &Delivery<'_>, secret: &[u8]) -> Result<(), Refusal> {
    let t = token(d)?;
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[d.url]);
    v.set_required_spec_claims(&["exp", "aud"]);
    decode::<Value>(t, &DecodingKey::from_secret(secret), &v).map_err(refusal)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::Platform;
    use http::HeaderMap;
    use serde_json::json;

    const SECRET: &[u8] = b"monday-app-signing-secret";
    const URL: &str = "https://hooks.example.test/mcp/webhooks/monday/5d1f";
    const NOW: i64 = 1_606_808_458;

    /// The documented claim set of monday's Authorization header, as in its example
    /// (https://developer.monday.com/apps/docs/authorization-header): `aud` is the endpoint,
    /// `exp` five minutes after `iat`.
    fn documented(aud: &str) -> Value {
        json!({
            "accountId": 1825529,
            "userId": 4012689,
            "aud": aud,
            "exp": 1606808758,
            "shortLivedToken": "SHORT_LIVED_TOKEN_HERE",
            "iat": 1606808458
        })
    }

    fn check(claims: &Value, now: i64) -> Result<(), Refusal> {
        signed_with(SECRET, claims, now)
    }

    /// `claims` signed with `key`, verified with the app's secret at `now`.
    fn signed_with(key: &[u8], claims: &Value, now: i64) -> Result<(), Refusal> {
        let t = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(key),
        )
        .expect("encode");
        let mut headers = HeaderMap::new();
        headers.insert("authorization", t.parse().expect("header"));
        let d = Delivery {
            platform: Platform::Monday,
            headers: &headers,
            body: b"{}",
            url: URL,
            now,
            replay_window_s: 300,
        };
        verify_monday(&d, SECRET)
    }

    /// The documented example with its times moved by `by` seconds.
    fn shifted(mut c: Value, by: i64) -> Value {
        for k in ["exp", "iat"] {
            if let Some(v) = c[k].as_i64() {
                c[k] = json!(v + by);
            }
        }
        c
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn monday_documented_token_accepted() {
        let c = shifted(documented(URL), now() - NOW);
        assert_eq!(check(&c, now()), Ok(()));
    }

    #[test]
    fn monday_wrong_audience_refused() {
        let c = shifted(
            documented("https://www.yourserver.com/endpoint"),
            now() - NOW,
        );
        assert_eq!(
            check(&c, now()),
            Err(Refusal::BadSignature("wrong audience"))
        );
        let mut c = shifted(documented(URL), now() - NOW);
        c.as_object_mut().expect("object").remove("aud");
        assert!(check(&c, now()).is_err(), "a token without aud");
    }

    #[test]
    fn monday_token_without_exp_refused() {
        let mut c = shifted(documented(URL), now() - NOW);
        c.as_object_mut().expect("object").remove("exp");
        assert!(matches!(check(&c, now()), Err(Refusal::BadSignature(_))));
    }

    #[test]
    fn monday_expired_token_stale() {
        // The documented example as it is: expired since 2020.
        assert_eq!(check(&documented(URL), now()), Err(Refusal::Stale));
    }

    #[test]
    fn monday_wrong_secret_refused() {
        let c = shifted(documented(URL), now() - NOW);
        assert!(signed_with(b"another secret", &c, now()).is_err());
    }
}

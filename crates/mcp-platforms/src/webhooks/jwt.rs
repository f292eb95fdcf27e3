//! The JWT schemes. Gmail (Pub/Sub push): `Authorization: Bearer <JWT>` signed RS256 by a key
//! of the configured JWKS file, with the configured issuer and audience. Monday: a JWT in
//! `Authorization` (with or without `Bearer`) signed HS256 with the app's signing secret.
//! An expired token is refused as stale. Keys are read once at start, never fetched.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::{Delivery, Refusal};

/// Gmail's verification keys and the claims they must carry.
#[derive(Default)]
pub struct GmailKeys {
    jwks: Option<JwkSet>,
    issuer: String,
    audience: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot read webhooks.gmail_jwks_file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("webhooks.gmail_jwks_file {path} is not a JWKS: {message}")]
    Parse { path: String, message: String },
}

impl GmailKeys {
    /// Reads the JWKS file (`webhooks.gmail_jwks_file`; empty: every Gmail delivery is refused)
    /// and keeps the issuer and audience the tokens must carry.
    pub fn load(jwks_file: &str, issuer: &str, audience: &str) -> Result<GmailKeys, KeysError> {
        let jwks: Option<JwkSet> = if jwks_file.is_empty() {
            None
        } else {
            let path = jwks_file.to_string();
            let text = std::fs::read_to_string(&path).map_err(|source| KeysError::Read {
                path: path.clone(),
                source,
            })?;
            Some(serde_json::from_str(&text).map_err(|e| KeysError::Parse {
                path,
                message: e.to_string(),
            })?)
        };
        Ok(GmailKeys {
            jwks,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
        })
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
        .jwks
        .as_ref()
        .filter(|_| !keys.audience.is_empty())
        .ok_or(Refusal::BadSignature(
            "gmail verification is not configured",
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
    v.set_issuer(&[keys.issuer.as_str()]);
    v.set_audience(&[keys.audience.as_str()]);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    decode::<Value>(t, &key, &v).map_err(refusal)?;
    Ok(())
}

pub fn verify_monday(d: &Delivery<'_>, secret: &[u8]) -> Result<(), Refusal> {
    let t = token(d)?;
    let mut v = Validation::new(Algorithm::HS256);
    v.validate_aud = false;
    v.set_required_spec_claims::<&str>(&[]);
    decode::<Value>(t, &DecodingKey::from_secret(secret), &v).map_err(refusal)?;
    Ok(())
}

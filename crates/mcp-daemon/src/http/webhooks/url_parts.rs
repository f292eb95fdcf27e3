//! What a delivery's URL tells: a secret in its last segment (checked against the webhook's)
//! and the public URL the platform called (what Twilio signs and
//! Monday's token names as its audience).

use axum::http::{header, HeaderMap, Uri};

use crate::webhooks::{self, Refusal, WebhookRow, WebhooksConfig};
use mcp_platforms::secret::Secret;

/// The secret a webhook's deliveries are verified with, once the URL's secret (if the webhook
/// has one there) matched in constant time (`Err(Some(_))` otherwise); a URL with a secret
/// segment for a webhook without one is no webhook's (`Err(None)`). Checked before the body is
/// read further.
pub(super) fn endpoint_keys(
    hook: &WebhookRow,
    secret: Option<Secret>,
    url_secret: Option<&str>,
) -> Result<Option<Secret>, Option<Refusal>> {
    if !hook.secret_in_url {
        return match url_secret {
            Some(_) => Err(None),
            None => Ok(secret),
        };
    }
    let expected = secret.ok_or(Some(Refusal::BadSignature("no secret for this webhook")))?;
    webhooks::url_secret(url_secret, expected.expose().as_bytes()).map_err(Some)?;
    // The platform's signature is the app's from here on.
    Ok(None)
}

/// The URL the platform called: `webhooks.public_base` (or `http://` + Host) + path and query.
pub(super) fn public_url(cfg: &WebhooksConfig, headers: &HeaderMap, uri: &Uri) -> String {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if cfg.public_base.is_empty() {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}{path}")
    } else {
        format!("{}{path}", cfg.public_base.trim_end_matches('/'))
    }
}

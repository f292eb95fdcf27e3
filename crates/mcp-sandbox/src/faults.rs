//! The faults a test can arm on the sandbox (`POST /_sandbox/faults`): what fails, for whom,
//! how many times and after how many requests. Plain data; `State` keeps and fires them. Test
//! double only.

use serde::{Deserialize, Serialize};

use mcp_platforms::connectors::Platform;

/// A fault armed on a platform (or all), optionally only for one credential.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultSpec {
    /// A platform name or `*`.
    pub platform: String,
    /// Only requests presenting this access token / API key / account SID.
    #[serde(default)]
    pub token: Option<String>,
    pub fault: FaultKind,
    /// Fire this many times, then clear; forever when absent.
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// Let this many matching requests through first, then fire; at once when absent.
    #[serde(default)]
    pub after: Option<u64>,
    /// For `oauth_error`: the token endpoint's error code (`interaction_required`, …).
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    ServerError,
    Unavailable,
    Timeout,
    RateLimitSeconds,
    RateLimitDate,
    /// The platform's own rate-limit form without a `Retry-After` header where it has one
    /// (Gmail 403 `rateLimitExceeded`, Monday `ComplexityException` in HTTP 200).
    RateLimitNative,
    Revoked,
    Unauthorized,
    Quota,
    /// HTTP 410 (Graph: a delta or page link the platform no longer takes).
    Gone,
    /// The token endpoint answers the error `code` in the platform's form (Microsoft's
    /// `interaction_required`, `consent_required`, `temporarily_unavailable`, …).
    OauthError,
}

/// The first fault of `faults` that applies to this request and lets none through any more;
/// counts it down (removed once spent). Every applying fault that still lets requests through
/// counts this one. An `oauth_error` fault fires only at the token endpoint (`token_endpoint`).
pub fn take(
    faults: &mut Vec<FaultSpec>,
    p: Platform,
    presented: Option<&str>,
    token_endpoint: bool,
) -> Option<FaultSpec> {
    let mut fire = None;
    for (i, f) in faults.iter_mut().enumerate() {
        let applies = (f.platform == "*" || f.platform == p.as_str())
            && f.token.as_deref().is_none_or(|t| Some(t) == presented)
            && (token_endpoint || f.fault != FaultKind::OauthError);
        if !applies {
            continue;
        }
        match f.after.as_mut() {
            Some(n) if *n > 0 => *n -= 1,
            _ => {
                fire.get_or_insert(i);
            }
        }
    }
    let i = fire?;
    let f = faults[i].clone();
    if let Some(n) = faults[i].count.as_mut() {
        *n = n.saturating_sub(1);
        if *n == 0 {
            faults.remove(i);
        }
    }
    Some(f)
}

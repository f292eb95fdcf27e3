//! The faults a test can arm on the sandbox (`POST /_sandbox/faults`): what fails, for whom,
//! how many times and after how many requests. Plain data; `State` keeps and fires them. Test
//! double only.

use serde::{Deserialize, Serialize};

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

//! How each platform says "no": its unauthorized, revoked, rate-limited, quota and failure
//! responses, as the connectors expect to read them. Test double only: it must never be
//! pointed at by production config.

use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::state::FaultKind;
use mcp_platforms::connectors::Platform;

/// Why a credential was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Unknown,
    Expired,
    Revoked,
}

pub fn json_response(status: u16, body: Value, headers: &[(&str, String)]) -> Response {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        if let (Ok(name), Ok(val)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(name, val);
        }
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, h, axum::Json(body)).into_response()
}

/// The platform's answer to a refused credential.
pub fn auth_failure(p: Platform, why: AuthFailure) -> Response {
    use AuthFailure::*;
    match p {
        Platform::Gmail => json_response(
            401,
            json!({"error": {"code": 401, "status": "UNAUTHENTICATED",
                "message": "Request had invalid authentication credentials.",
                "errors": [{"domain": "global", "reason": "authError"}]}}),
            &[(
                "www-authenticate",
                "Bearer realm=\"https://accounts.google.com/\"".into(),
            )],
        ),
        Platform::Outlook => json_response(
            401,
            json!({"error": {"code": "InvalidAuthenticationToken",
                "message": if why == Expired { "Access token has expired or is not yet valid." } else { "Access token validation failure." }}}),
            &[],
        ),
        Platform::Slack => {
            let code = match why {
                Missing => "not_authed",
                Unknown => "invalid_auth",
                Expired => "token_expired",
                Revoked => "token_revoked",
            };
            json_response(200, json!({"ok": false, "error": code}), &[])
        }
        Platform::Discord => {
            json_response(401, json!({"message": "401: Unauthorized", "code": 0}), &[])
        }
        Platform::Zoom => json_response(
            401,
            json!({"code": 124, "message": "Invalid access token."}),
            &[],
        ),
        Platform::Notion => json_response(
            401,
            json!({"object": "error", "status": 401, "code": "unauthorized", "message": "API token is invalid."}),
            &[],
        ),
        Platform::Monday => json_response(
            401,
            json!({"errors": [{"message": "Unauthorized", "extensions": {"code": "Unauthorized", "status_code": 401}}]}),
            &[],
        ),
        Platform::Fireflies => json_response(
            401,
            json!({"data": null, "errors": [{"message": "Invalid API key", "code": "auth_failed",
                "extensions": {"code": "auth_failed", "status": 401}}]}),
            &[],
        ),
        Platform::ZeroVoice => json_response(
            401,
            json!({"code": 20003, "message": "Authenticate", "status": 401,
                "more_info": "https://www.twilio.com/docs/errors/20003"}),
            &[("www-authenticate", "Basic realm=\"Twilio API\"".into())],
        ),
        Platform::Otter | Platform::Loom | Platform::Granola | Platform::ZeroDb => {
            json_response(401, json!({"error": "unauthorized"}), &[])
        }
    }
}

fn rate_limit_body(p: Platform, secs: u64) -> (u16, Value) {
    let body = match p {
        Platform::Gmail => json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
            "message": "Too many concurrent requests for user.",
            "errors": [{"domain": "usageLimits", "reason": "rateLimitExceeded"}]}}),
        Platform::Outlook => {
            json!({"error": {"code": "TooManyRequests", "message": "Too many requests."}})
        }
        Platform::Slack => json!({"ok": false, "error": "ratelimited"}),
        Platform::Discord => {
            json!({"message": "You are being rate limited.", "retry_after": secs as f64, "global": false})
        }
        Platform::Zoom => {
            json!({"code": 429, "message": "You have reached the maximum per-second rate limit for this API. Try again later."})
        }
        Platform::Notion => json!({"object": "error", "status": 429, "code": "rate_limited",
            "message": "You have been rate limited. Please try again in a few minutes."}),
        Platform::Monday => json!({"errors": [{"message": "Complexity budget exhausted",
            "extensions": {"code": "COMPLEXITY_BUDGET_EXHAUSTED", "retry_in_seconds": secs}}]}),
        // The error schema of https://docs.fireflies.ai/miscellaneous/error-codes; the wait
        // is in `extensions.metadata.retryAfter` (here the reset time in epoch milliseconds).
        Platform::Fireflies => {
            let reset = chrono::Utc::now().timestamp_millis() + 1000 * secs as i64;
            json!({"data": {}, "errors": [{"message": "Too many requests", "friendly": true,
                "code": "too_many_requests",
                "extensions": {"code": "too_many_requests", "status": 429,
                    "helpUrls": ["https://docs.fireflies.ai/miscellaneous/error-codes#too_many_requests"],
                    "metadata": {"retryAfter": reset}}}]})
        }
        Platform::ZeroVoice => json!({"code": 20429, "message": "Too Many Requests", "status": 429,
            "more_info": "https://www.twilio.com/docs/errors/20429"}),
        _ => json!({"error": "rate_limited"}),
    };
    (429, body)
}

/// The response an armed fault produces (`Timeout` is handled by the caller: it hangs).
pub fn fault_response(p: Platform, kind: FaultKind, retry_after_secs: Option<u64>) -> Response {
    let secs = retry_after_secs.unwrap_or(30);
    match kind {
        FaultKind::RateLimitSeconds | FaultKind::RateLimitDate => {
            let (status, body) = rate_limit_body(p, secs);
            let value = if kind == FaultKind::RateLimitSeconds {
                secs.to_string()
            } else {
                httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(secs))
            };
            // Fireflies names its wait only in the body.
            let mut headers = if p == Platform::Fireflies {
                vec![]
            } else {
                vec![("retry-after", value)]
            };
            if p == Platform::Discord {
                headers.extend([
                    ("x-ratelimit-limit", "5".to_string()),
                    ("x-ratelimit-remaining", "0".to_string()),
                    ("x-ratelimit-reset-after", format!("{secs}.000")),
                    ("x-ratelimit-bucket", "sandbox-bucket".to_string()),
                    ("x-ratelimit-scope", "user".to_string()),
                ]);
            }
            json_response(status, body, &headers)
        }
        FaultKind::RateLimitNative => match p {
            Platform::Gmail => json_response(
                403,
                json!({"error": {"code": 403, "message": "Rate Limit Exceeded",
                    "errors": [{"domain": "usageLimits", "reason": "rateLimitExceeded"}]}}),
                &[],
            ),
            Platform::Monday => json_response(
                200,
                json!({"error_code": "ComplexityException", "status_code": 429,
                    "error_message": format!("Complexity budget exhausted, query cost 30001 budget remaining 19986 out of 1000000 reset in {secs} seconds"),
                    "error_data": {}}),
                &[],
            ),
            Platform::Discord => {
                let (status, body) = rate_limit_body(p, secs);
                json_response(status, body, &[])
            }
            _ => fault_response(p, FaultKind::RateLimitSeconds, Some(secs)),
        },
        FaultKind::Quota => match p {
            Platform::Gmail => json_response(
                403,
                json!({"error": {"code": 403, "message": "Daily Limit Exceeded",
                    "errors": [{"domain": "usageLimits", "reason": "dailyLimitExceeded"}]}}),
                &[],
            ),
            Platform::Monday => json_response(
                200,
                json!({"errors": [{"message": "Daily limit exceeded",
                    "extensions": {"code": "DAILY_LIMIT_EXCEEDED"}}]}),
                &[],
            ),
            // The daily limit's example headers of https://developers.zoom.us/docs/api/rate-limits/:
            // the quota resets at the next midnight UTC, named in ISO 8601.
            Platform::Zoom => {
                let midnight = (chrono::Utc::now().date_naive() + chrono::Duration::days(1))
                    .and_time(chrono::NaiveTime::MIN)
                    .and_utc();
                json_response(
                    429,
                    json!({"code": 429, "message": "You have reached the maximum daily rate limit for this API."}),
                    &[
                        ("x-ratelimit-category", "Medium".into()),
                        ("x-ratelimit-type", "Daily-limit".into()),
                        ("x-ratelimit-limit", "60000".into()),
                        ("x-ratelimit-remaining", "0".into()),
                        (
                            "retry-after",
                            midnight.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                        ),
                    ],
                )
            }
            _ => {
                let (status, body) = rate_limit_body(p, secs);
                json_response(status, body, &[])
            }
        },
        FaultKind::Revoked => auth_failure(p, AuthFailure::Revoked),
        FaultKind::Unauthorized => auth_failure(p, AuthFailure::Expired),
        FaultKind::ServerError => server_error(p, 500),
        FaultKind::Gone => json_response(
            410,
            json!({"error": {"code": "resyncRequired", "message": "The link has expired."}}),
            &[],
        ),
        FaultKind::Unavailable | FaultKind::Timeout => server_error(p, 503),
        // A token endpoint's error, met on an API call: a malformed request.
        FaultKind::OauthError => json_response(400, json!({"error": "invalid_request"}), &[]),
    }
}

fn server_error(p: Platform, status: u16) -> Response {
    let body = match (p, status) {
        (Platform::Notion, 503) => {
            json!({"object": "error", "status": 503, "code": "service_unavailable", "message": "Notion is unavailable."})
        }
        (Platform::Notion, _) => {
            json!({"object": "error", "status": status, "code": "internal_server_error", "message": "Unexpected error."})
        }
        (Platform::Slack, _) => json!({"ok": false, "error": "fatal_error"}),
        (Platform::ZeroVoice, _) => {
            json!({"code": 20500, "message": "Internal Server Error", "status": status})
        }
        _ => json!({"error": if status == 503 { "service_unavailable" } else { "internal_error" }}),
    };
    let headers: Vec<(&str, String)> = if status == 503 {
        vec![("retry-after", "5".into())]
    } else {
        vec![]
    };
    json_response(status, body, &headers)
}

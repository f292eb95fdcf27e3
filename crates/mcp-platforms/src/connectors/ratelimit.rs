//! Rate-limit signals → how long to wait: `Retry-After` (delta-seconds or HTTP-date),
//! `X-RateLimit-Reset-After`, `X-RateLimit-Remaining`/`X-RateLimit-Reset`, and the platforms'
//! body forms (Discord `retry_after`, Monday's complexity errors, Twilio 20429).
//! Pure functions of their input and a `now`: it must never sleep, log or do I/O.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use serde_json::Value;

/// Waits longer than this are clamped: a platform never asks for more than a day.
const MAX_WAIT: Duration = Duration::from_secs(86_400);

fn clamp(d: Duration) -> Duration {
    d.min(MAX_WAIT)
}

/// Seconds as a float (`1.5`, `0.25`), non-negative and finite.
fn float_secs(f: f64) -> Option<Duration> {
    (f.is_finite() && f >= 0.0)
        .then(|| clamp(Duration::from_secs_f64(f.min(MAX_WAIT.as_secs_f64()))))
}

/// A `Retry-After` value: delta-seconds (`120`, also `1.5` as some platforms send), an
/// HTTP-date, or an ISO-8601 time (`2024-01-27T00:00:00Z`, Zoom's daily limit), a time being
/// taken relative to `now` (a time in the past means "now": zero).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if let Ok(secs) = v.parse::<u64>() {
        return Some(clamp(Duration::from_secs(secs)));
    }
    if let Ok(f) = v.parse::<f64>() {
        return float_secs(f);
    }
    let when = httpdate::parse_http_date(v).ok().or_else(|| iso_time(v))?;
    Some(clamp(when.duration_since(now).unwrap_or(Duration::ZERO)))
}

/// An ISO-8601 / RFC 3339 time with an offset (`Z` or `±hh:mm`).
fn iso_time(v: &str) -> Option<SystemTime> {
    let t = chrono::DateTime::parse_from_rfc3339(v).ok()?;
    let ms = u64::try_from(t.timestamp_millis()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}

/// Zoom's daily limit: a 429 with `X-RateLimit-Type: Daily-limit` is a quota spent until the
/// time its `Retry-After` names (https://developers.zoom.us/docs/api/rate-limits/), not a
/// per-second limit.
pub fn is_zoom_daily_limit(h: &HeaderMap) -> bool {
    header(h, "x-ratelimit-type").is_some_and(|t| t.trim().eq_ignore_ascii_case("daily-limit"))
}

/// Fireflies puts its wait in the GraphQL error, not a header:
/// `errors[].extensions.metadata.retryAfter`.
pub fn fireflies_retry_after(body: &Value, now: SystemTime) -> Option<Duration> {
    let errors = body.get("errors")?.as_array()?;
    errors.iter().find_map(|e| {
        let v = e.pointer("/extensions/metadata/retryAfter")?;
        match v {
            Value::Number(n) => fireflies_number(n.as_f64()?, now),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|f| fireflies_number(f, now))
                .or_else(|| parse_retry_after(s, now)),
            _ => None,
        }
    })
}

/// A Fireflies `retryAfter` number. Its unit is not documented: an epoch time (milliseconds or
/// seconds) is the moment to wait for, anything smaller a number of seconds.
fn fireflies_number(f: f64, now: SystemTime) -> Option<Duration> {
    if f > 1e12 {
        // Epoch milliseconds: the time the quota resets.
        let now_ms = now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_millis() as f64;
        return float_secs(((f - now_ms) / 1000.0).max(0.0));
    }
    if f > 1e9 {
        // Epoch seconds.
        let now_s = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        return float_secs((f - now_s).max(0.0));
    }
    float_secs(f)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The wait the headers ask for, in this order: `Retry-After`, `X-RateLimit-Reset-After`
/// (Discord, float seconds), then — only when `X-RateLimit-Remaining` is 0 —
/// `X-RateLimit-Reset` (epoch seconds when it looks like one, else delta seconds).
pub fn from_headers(h: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(d) = header(h, "retry-after").and_then(|v| parse_retry_after(v, now)) {
        return Some(d);
    }
    if let Some(d) = header(h, "x-ratelimit-reset-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(float_secs)
    {
        return Some(d);
    }
    let remaining = header(h, "x-ratelimit-remaining").and_then(|v| v.trim().parse::<f64>().ok());
    if remaining == Some(0.0) {
        let reset = header(h, "x-ratelimit-reset").and_then(|v| v.trim().parse::<f64>().ok())?;
        if reset > 1_000_000_000.0 {
            let now_s = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .ok()?
                .as_secs_f64();
            return float_secs((reset - now_s).max(0.0));
        }
        return float_secs(reset);
    }
    None
}

/// Discord's 429 body: `{"retry_after": 1.5, "global": false, …}` (seconds, float).
pub fn discord_body(body: &Value) -> Option<Duration> {
    body.get("retry_after")?.as_f64().and_then(float_secs)
}

/// Monday's complexity budget errors. API 2025-01 and later:
/// `errors[].extensions {code: "COMPLEXITY_BUDGET_EXHAUSTED", retry_in_seconds: n}`; older
/// versions: `{"error_code": "ComplexityException", "error_message": "… reset in n seconds"}`.
pub fn monday_complexity(body: &Value) -> Option<Duration> {
    if let Some(errors) = body.get("errors").and_then(Value::as_array) {
        for e in errors {
            if let Some(n) = e
                .pointer("/extensions/retry_in_seconds")
                .and_then(Value::as_f64)
            {
                return float_secs(n);
            }
        }
    }
    let msg = body.get("error_message").and_then(Value::as_str)?;
    let tail = msg.split("reset in ").nth(1)?;
    let n = tail.split_whitespace().next()?.parse::<f64>().ok()?;
    float_secs(n)
}

/// Whether a Monday body is a complexity-budget error (either form).
pub fn is_monday_complexity(body: &Value) -> bool {
    body.get("error_code").and_then(Value::as_str) == Some("ComplexityException")
        || body
            .get("errors")
            .and_then(Value::as_array)
            .is_some_and(|es| {
                es.iter().any(|e| {
                    matches!(
                        e.pointer("/extensions/code").and_then(Value::as_str),
                        Some("COMPLEXITY_BUDGET_EXHAUSTED" | "ComplexityException")
                    )
                })
            })
}

/// Twilio's error body `{"code": 20429, "status": 429, …}`: the code, if any.
pub fn twilio_code(body: &Value) -> Option<u64> {
    body.get("code")?.as_u64()
}

/// Whether a Twilio body says "too many requests" (20429); the wait then comes from headers.
pub fn is_twilio_rate_limited(body: &Value) -> bool {
    twilio_code(body) == Some(20429)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::json;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn retry_after_delta_seconds() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now()),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("-3", now()), None);
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("", now()), None);
    }

    #[test]
    fn retry_after_http_date() {
        let later = httpdate::fmt_http_date(now() + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now()),
            Some(Duration::from_secs(90))
        );
        let earlier = httpdate::fmt_http_date(now() - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&earlier, now()), Some(Duration::ZERO));
    }

    /// Zoom's daily limit example: `Retry-After: 2020-05-31T00:00:00Z`
    /// (https://developers.zoom.us/docs/api/rate-limits/).
    #[test]
    fn retry_after_iso_8601_time() {
        let at = chrono::DateTime::parse_from_rfc3339("2020-05-31T00:00:00Z").expect("time");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(at.timestamp() as u64 - 7200);
        assert_eq!(
            parse_retry_after("2020-05-31T00:00:00Z", now),
            Some(Duration::from_secs(7200))
        );
        let later = SystemTime::UNIX_EPOCH + Duration::from_secs(at.timestamp() as u64 + 5);
        assert_eq!(
            parse_retry_after("2020-05-31T00:00:00Z", later),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn fireflies_retry_after_forms() {
        let e = |v: Value| {
            json!({"errors": [{"code": "too_many_requests",
            "extensions": {"code": "too_many_requests", "status": 429, "metadata": {"retryAfter": v}}}]})
        };
        let now_ms = now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("epoch")
            .as_millis() as u64;
        assert_eq!(
            fireflies_retry_after(&e(json!(now_ms + 90_000)), now()),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            fireflies_retry_after(&e(json!(30)), now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(fireflies_retry_after(&json!({"errors": [{}]}), now()), None);
    }

    #[test]
    fn huge_waits_are_clamped() {
        assert_eq!(parse_retry_after("99999999999", now()), Some(MAX_WAIT));
    }

    #[test]
    fn headers_in_order() {
        let h = headers(&[("retry-after", "7"), ("x-ratelimit-reset-after", "2.5")]);
        assert_eq!(from_headers(&h, now()), Some(Duration::from_secs(7)));
        let h = headers(&[("x-ratelimit-reset-after", "2.5")]);
        assert_eq!(from_headers(&h, now()), Some(Duration::from_millis(2500)));
    }

    #[test]
    fn remaining_and_reset() {
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000030"),
        ]);
        assert_eq!(from_headers(&h, now()), Some(Duration::from_secs(30)));
        let h = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "12")]);
        assert_eq!(from_headers(&h, now()), Some(Duration::from_secs(12)));
        let h = headers(&[("x-ratelimit-remaining", "5"), ("x-ratelimit-reset", "12")]);
        assert_eq!(from_headers(&h, now()), None);
        assert_eq!(from_headers(&HeaderMap::new(), now()), None);
    }

    #[test]
    fn discord_json_body() {
        let b =
            json!({"message": "You are being rate limited.", "retry_after": 0.75, "global": false});
        assert_eq!(discord_body(&b), Some(Duration::from_millis(750)));
        assert_eq!(discord_body(&json!({})), None);
    }

    #[test]
    fn monday_both_forms() {
        let new = json!({"errors": [{"message": "Complexity budget exhausted",
            "extensions": {"code": "COMPLEXITY_BUDGET_EXHAUSTED", "retry_in_seconds": 27}}]});
        assert!(is_monday_complexity(&new));
        assert_eq!(monday_complexity(&new), Some(Duration::from_secs(27)));
        let old = json!({"error_code": "ComplexityException", "status_code": 429,
            "error_message": "Complexity budget exhausted, query cost 30001 budget remaining 19986 out of 1000000 reset in 3 seconds"});
        assert!(is_monday_complexity(&old));
        assert_eq!(monday_complexity(&old), Some(Duration::from_secs(3)));
        assert!(!is_monday_complexity(&json!({"data": {"me": {"id": "1"}}})));
    }

    #[test]
    fn twilio_20429() {
        let b = json!({"code": 20429, "message": "Too Many Requests", "status": 429});
        assert!(is_twilio_rate_limited(&b));
        assert_eq!(twilio_code(&json!({"code": 20003})), Some(20003));
        assert!(!is_twilio_rate_limited(&json!({"code": 20003})));
    }
}

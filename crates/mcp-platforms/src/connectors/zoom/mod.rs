//! Zoom: OAuth 2.0 with HTTP Basic client auth and a refresh token that rotates on every
//! refresh, health check `GET /v2/users/me`, Zoom's error form `{"code", "message"}` (401
//! code 124: invalid or expired access token) and the recordings listing (the content call, a
//! transcript's download, is `zoom_transcript`). Never puts a token or body in an error.

use super::event::{
    hmac_sha256, ids_at, json_handshake, one, str_at, str_of, Deletion, Gone, Read, Refusal,
};
use super::meaning::Meaning;
use super::spec::{Accounts, Scheme, Spec, Webhooks};
use serde_json::Value;
use std::sync::Arc;

use super::base::{connector_impl, Base, ClientAuth, Defaults, OAuthDefaults};
use super::http::{self, RawResponse};
use super::lists::{call, items, no_error, query, text};
use super::page::{Page, PageRequest};
use super::watermark::{self, Listing};
use super::{ratelimit, AuthKind, ConnectorError, Credentials, ErrorType, Identity};
use transcript::{content_limit, fetch_content, needs_content};

mod transcript;

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://api.zoom.us",
        identity_path: "/v2/users/me",
        api_version: None,
        // GET /users/{id}/recordings is a "Medium" API, 20 requests/s on Pro accounts (60/s on
        // Business and up): half of the lowest.
        rate: (10.0, 10.0),
        oauth: Some(OAuthDefaults {
            authorize_url: "https://zoom.us/oauth/authorize",
            token_url: "https://zoom.us/oauth/token",
            revoke_url: Some("https://zoom.us/oauth/revoke"),
            client_auth: ClientAuth::Basic,
            rotates_refresh_tokens: true,
            pkce: true,
            scopes: &[],
            scope_separator: " ",
            extra_authorize_params: &[],
        }),
    }
}

pub struct Zoom(pub Base);

impl Zoom {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        self.0
            .identity(creds, "/id", Some("/account_id"), classify)
            .await
    }
}

connector_impl!(Zoom, AuthKind::OAuth2; content);

pub fn classify(base: &Base, resp: &RawResponse) -> ConnectorError {
    let body = resp.json().unwrap_or(Value::Null);
    let code = body.get("code").and_then(Value::as_u64);
    let code_s = code.map(|c| c.to_string());
    let mut e = http::classify_status(base.platform, resp, code_s.as_deref());
    match (resp.status, code) {
        // 124: "Invalid access token" — what an expired token gets.
        (401 | 400, Some(124)) => e.error_type = ErrorType::AuthExpired,
        // 4700/4711 family: token does not carry the scopes the call needs.
        (_, Some(4711 | 4700)) if resp.status == 400 || resp.status == 403 => {
            e.error_type = ErrorType::InsufficientScope
        }
        (_, Some(429)) => e.error_type = ErrorType::RateLimited,
        _ => {}
    }
    let daily_text = body
        .get("message")
        .and_then(Value::as_str)
        .is_some_and(|m| m.contains("daily rate limit"));
    if resp.status == 429 && (ratelimit::is_zoom_daily_limit(&resp.headers) || daily_text) {
        // The day's quota is spent: wait until the time in `Retry-After` (ISO 8601).
        e.error_type = ErrorType::QuotaExceeded;
        e.code = Some("daily_limit".into());
        // Its headers are not always sent: without one, the quota resets at midnight UTC.
        e.retry_after = resp
            .header_retry_after()
            .or_else(|| Some(until_utc_midnight(chrono::Utc::now())));
    }
    e
}
/// The wait until the next midnight UTC.
fn until_utc_midnight(now: chrono::DateTime<chrono::Utc>) -> std::time::Duration {
    let next = (now.date_naive() + chrono::Duration::days(1)).and_time(chrono::NaiveTime::MIN);
    (next.and_utc() - now).to_std().unwrap_or_default()
}

/// How far back Zoom's first listing reaches, and its date window (Zoom lists at most a month
/// of recordings per request).
const HISTORY_DAYS: i64 = 180;
const WINDOW_DAYS: i64 = 30;

/// Zoom: cloud recordings in date windows `from`..`to` (at most a month each) with
/// `next_page_token`, from the date of the newest recording seen (day granularity: that
/// day's recordings are read again; the upserts make it harmless) up to today.
pub(super) async fn page(base: &Base, req: PageRequest<'_>) -> Result<Page, ConnectorError> {
    let PageRequest { creds, cursor, .. } = req;
    let today = chrono::Utc::now().date_naive();
    let mut c = Listing::parse(cursor);
    if c.is_legacy() {
        // A page token of the old full listing (they expire after 15 minutes anyway).
        c = Listing::default();
    }
    let from = c
        .since
        .as_deref()
        .and_then(watermark::parse_day)
        .unwrap_or(today - chrono::Duration::days(HISTORY_DAYS))
        .min(today);
    let to = c
        .until
        .as_deref()
        .and_then(watermark::parse_day)
        .unwrap_or_else(|| (from + chrono::Duration::days(WINDOW_DAYS - 1)).min(today));
    c.since = Some(from.to_string());
    c.until = Some(to.to_string());
    let mut q = vec![
        ("page_size", "300".to_string()),
        ("from", from.to_string()),
        ("to", to.to_string()),
    ];
    if let Some(p) = &c.page {
        q.push(("next_page_token", p.clone()));
    }
    let v = call(
        classify,
        base,
        query(base, "/v2/users/me/recordings", creds, &q),
        no_error,
    )
    .await?;
    let items = items(&v, "/meetings", "recording", "/uuid", Some("/start_time"));
    c.see(watermark::newest_time(&items).map(|t| t.date_naive().to_string()));
    if let Some(next) = text(&v, "/next_page_token") {
        c.page = Some(next);
        return Ok(Page {
            items,
            next_cursor: Some(c.text()),
            done: false,
            deleted: vec![],
        });
    }
    if to < today {
        // The next window, still within this listing.
        c.since = Some((to + chrono::Duration::days(1)).to_string());
        c.until = None;
        c.page = None;
        return Ok(Page {
            items,
            next_cursor: Some(c.text()),
            done: false,
            deleted: vec![],
        });
    }
    // Caught up: the next listing starts at the newest recording's day (or at this window,
    // none seen). `since` was the window's start here, not a watermark to keep.
    let next = Listing::starting_at(c.newest.or(c.since));
    Ok(Page {
        items,
        next_cursor: Some(next.text()),
        done: true,
        deleted: vec![],
    })
}

/// What a Zoom event means: `app_deauthorized` withdraws our access.
pub fn event_meaning(event_type: Option<&str>, _payload: &Value) -> Meaning {
    match event_type {
        Some("app_deauthorized") => Meaning::Revoked("zoom: app deauthorized"),
        _ => Meaning::Changed,
    }
}

/// Zoom: its connector, and a Marketplace app's event subscription, one URL for every account
/// of the app, signed `v0` HMAC with `x-zm-request-timestamp`
/// (https://developers.zoom.us/docs/api/webhooks/).
pub const SPEC: Spec = Spec {
    webhooks: Some(Webhooks {
        read: read_event,
        meaning: event_meaning,
        deletion_event_types: &["recording.deleted", "recording.trashed"],
        deletions,
        ..Webhooks::signed(Scheme::V0Hmac {
            signature: "x-zm-signature",
            timestamp: "x-zm-request-timestamp",
        })
    }),
    accounts: Accounts {
        app_level: true,
        from_event: event_accounts,
        ..Accounts::NONE
    },
    ..Spec::new(
        defaults,
        |b| Arc::new(Zoom(b)),
        |raw, content, _| crate::items::zoom::model(raw, content),
    )
};

/// `endpoint.url_validation` is answered with the `plainToken` and its HMAC by the webhook's
/// secret; an event is keyed by `event_ts` and `event`.
fn read_event(payload: &Value, secret: Option<&[u8]>) -> Result<Read, Refusal> {
    let event = str_of(payload, "/event");
    if event == Some("endpoint.url_validation") {
        let plain = str_of(payload, "/payload/plainToken").ok_or(Refusal::Malformed)?;
        let key = secret.ok_or(Refusal::BadSignature("no secret for this webhook"))?;
        let encrypted = hex::encode(hmac_sha256(key, &[plain.as_bytes()]));
        return Ok(Read::Answer(json_handshake(
            serde_json::json!({"plainToken": plain, "encryptedToken": encrypted}),
        )));
    }
    let id = http::json_id(payload, "/event_ts").map(|ts| format!("{ts}:{}", event.unwrap_or("")));
    Ok(Read::Event {
        id,
        event_type: event.map(String::from),
    })
}

/// A recording's files trashed or deleted.
fn deletions(event_type: Option<&str>, payload: &Value) -> Vec<Deletion> {
    let reason = match event_type {
        Some("recording.deleted") => "zoom: recording deleted",
        Some("recording.trashed") => "zoom: recording trashed",
        _ => return Vec::new(),
    };
    // The Zoom connector's items are the meetings' recordings (`uuid`), each holding its
    // `recording_files`; the event names the meeting and the files trashed or deleted,
    // which may be one file of several: the item goes only with its last file.
    // (`meeting.deleted` is about the meeting's schedule and names no recording.)
    let item = str_at(payload, "/payload/object/uuid");
    let parts: Vec<String> = payload
        .pointer("/payload/object/recording_files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| str_at(f, "/id"))
        .collect();
    let gone = item
        .filter(|_| !parts.is_empty())
        .map(|item| Gone::Emptied {
            item,
            list: "recording_files",
            parts,
        });
    one(gone, reason)
}

/// `payload.account_id`.
fn event_accounts(payload: &Value) -> Vec<String> {
    ids_at(payload, &["/payload/account_id"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::{Platform, PlatformOverride};
    use reqwest::header::{HeaderMap, HeaderValue};

    fn base() -> Base {
        Base::new(
            Platform::Zoom,
            reqwest::Client::new(),
            &defaults(),
            &PlatformOverride::default(),
        )
    }

    fn resp(status: u16, headers: &[(&'static str, &str)], body: &str) -> RawResponse {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        RawResponse {
            status,
            headers: h,
            body: body.as_bytes().to_vec(),
        }
    }

    /// The daily limit's example response headers of Zoom's rate-limit page
    /// (https://marketplace.zoom.us/docs/api-reference/rate-limits#best-practices-for-handling-errors,
    /// now https://developers.zoom.us/docs/api/rate-limits/): `Retry-After` is the time the
    /// quota resets, in ISO 8601.
    #[test]
    fn the_daily_limit_is_a_quota_until_the_time_in_retry_after() {
        let later = chrono::Utc::now() + chrono::Duration::hours(5);
        let at = later.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let r = resp(
            429,
            &[
                ("x-ratelimit-category", "Heavy"),
                ("x-ratelimit-type", "Daily-limit"),
                ("x-ratelimit-limit", "30000"),
                ("x-ratelimit-remaining", "0"),
                ("retry-after", &at),
            ],
            r#"{"code": 429, "message": "You have reached the maximum daily rate limit for this API."}"#,
        );
        let e = classify(&base(), &r);
        assert_eq!(e.error_type, ErrorType::QuotaExceeded);
        let wait = e.retry_after.expect("a wait").as_secs();
        assert!((4 * 3600..=5 * 3600).contains(&wait), "{wait}");
    }

    /// A daily limit answered without those headers (seen on Zoom's developer forum, thread
    /// 18928): the message names the daily limit, and the quota resets at midnight GMT.
    #[test]
    fn a_daily_limit_without_headers_waits_for_midnight_utc() {
        let r = resp(
            429,
            &[],
            r#"{"code": 429, "message": "You have exceeded the daily rate limit (100) of Meeting Create/Update API requests permitted for this particular user. You may resume these requests at GMT 00:00:00."}"#,
        );
        let e = classify(&base(), &r);
        assert_eq!(e.error_type, ErrorType::QuotaExceeded);
        let wait = e.retry_after.expect("a wait");
        assert!(wait <= std::time::Duration::from_secs(86_400));
        let per_second = resp(
            429,
            &[("retry-after", "1")],
            r#"{"code": 429, "message": "Too many requests."}"#,
        );
        assert_eq!(
            classify(&base(), &per_second).error_type,
            ErrorType::RateLimited
        );
    }

    /// Zoom's 124 "Invalid access token", what an expired token gets (401).
    #[test]
    fn an_invalid_access_token_is_auth_expired() {
        let r = resp(
            401,
            &[],
            r#"{"code": 124, "message": "Invalid access token."}"#,
        );
        assert_eq!(classify(&base(), &r).error_type, ErrorType::AuthExpired);
    }
}

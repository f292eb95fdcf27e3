//! Zoom: OAuth 2.0 with HTTP Basic client auth and a refresh token that rotates on every
//! refresh, health check `GET /v2/users/me`, and Zoom's error form `{"code", "message"}`
//! (401 code 124: invalid or expired access token). Never puts a token or body in an error.

use serde_json::Value;

use super::base::{connector_impl, Base, ClientAuth, Defaults, OAuthDefaults};
use super::http::{self, RawResponse};
use super::lists::{call, items, no_error, query, text};
use super::page::{Page, PageRequest};
use super::watermark::{self, Listing};
use super::{AuthKind, ConnectorError, Credentials, ErrorType, Identity};

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://api.zoom.us",
        identity_path: "/v2/users/me",
        api_version: None,
        oauth: Some(OAuthDefaults {
            authorize_url: "https://zoom.us/oauth/authorize",
            token_url: "https://zoom.us/oauth/token",
            revoke_url: Some("https://zoom.us/oauth/revoke"),
            client_auth: ClientAuth::Basic,
            rotates_refresh_tokens: true,
            pkce: true,
            scopes: &[],
            extra_authorize_params: &[],
        }),
    }
}

pub struct Zoom(pub Base);

impl Zoom {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        self.0
            .get_identity(
                &self.0.identity_path,
                creds,
                &[],
                "/id",
                Some("/account_id"),
                classify,
            )
            .await
    }
}

connector_impl!(Zoom, AuthKind::OAuth2);

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
    e
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

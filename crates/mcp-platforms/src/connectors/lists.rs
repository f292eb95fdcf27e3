//! The incremental list call of each platform, one page per call, with the platform's own
//! cursor form (wrapped with its watermark, see `watermark`). A page's failure is classified by the platform's `classify`; a cursor the
//! platform refuses as too old is `ConnectorError::cursor_expired`. It never follows a link
//! to another host than the platform's (a credential goes only where the platform lives) and
//! never puts a credential into an error.

use serde_json::{json, Value};

use super::base::Base;
use super::http::{self, RawResponse};
use super::page::{item, Page, SyncItem};
use super::watermark::{self, Channels, Listing};
use super::{
    discord, fireflies, gmail, monday, notion, outlook, slack, unconfirmed, zerovoice, zoom,
};
use super::{ConnectorError, Credentials, ErrorType, Platform};

/// Items asked per page (each platform caps it at its own maximum).
pub const PAGE_SIZE: u32 = 100;

pub(super) type Classify = fn(&Base, &RawResponse) -> ConnectorError;

pub(super) fn classifier(p: Platform) -> Classify {
    match p {
        Platform::Gmail => gmail::classify,
        Platform::Outlook => outlook::classify,
        Platform::Slack => slack::classify,
        Platform::Discord => discord::classify,
        Platform::Zoom => zoom::classify,
        Platform::Fireflies => fireflies::classify,
        Platform::Monday => monday::classify,
        Platform::Notion => notion::classify,
        Platform::ZeroVoice => zerovoice::classify,
        Platform::Otter | Platform::Loom | Platform::Granola | Platform::ZeroDb => {
            unconfirmed::classify
        }
    }
}

/// One page of `base.platform`'s listing from `cursor` (the beginning when `None`), with the
/// integration's `settings` (`core.integrations.settings`: the channels of Slack and Discord).
pub async fn list_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
    settings: &Value,
) -> Result<Page, ConnectorError> {
    match base.platform {
        Platform::Gmail => super::lists_mail::gmail_page(base, creds, cursor).await,
        Platform::Outlook => super::lists_mail::outlook_page(base, creds, cursor).await,
        Platform::Slack => slack_page(base, creds, cursor, settings).await,
        Platform::Discord => discord_page(base, creds, cursor, settings).await,
        Platform::Zoom => zoom_page(base, creds, cursor).await,
        Platform::Notion => notion_page(base, creds, cursor).await,
        Platform::Monday => monday_page(base, creds, cursor).await,
        Platform::Fireflies => fireflies_page(base, creds, cursor).await,
        Platform::ZeroVoice => twilio_page(base, creds, cursor).await,
        Platform::Otter | Platform::Loom | Platform::Granola | Platform::ZeroDb => {
            generic_page(base, creds, cursor).await
        }
    }
}

/// Sends; a non-success answer (or `bad(body)`) is classified; the body must be JSON.
pub(super) async fn call(
    base: &Base,
    req: reqwest::RequestBuilder,
    bad: fn(&Value) -> bool,
) -> Result<Value, ConnectorError> {
    let resp = base.send(req).await?;
    let body = resp.json();
    if !resp.is_success() || body.as_ref().is_some_and(bad) {
        return Err(classifier(base.platform)(base, &resp));
    }
    body.ok_or_else(|| http::invalid_response(base.platform, &resp, "not JSON"))
}

pub(super) fn no_error(_: &Value) -> bool {
    false
}

pub(super) fn items(
    v: &Value,
    list: &str,
    kind: &str,
    id: &str,
    time: Option<&str>,
) -> Vec<SyncItem> {
    v.pointer(list)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| item(x, kind, id, time)).collect())
        .unwrap_or_default()
}

pub(super) fn text(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

pub(super) fn query(
    base: &Base,
    path: &str,
    creds: &Credentials,
    q: &[(&str, String)],
) -> reqwest::RequestBuilder {
    http::authorize(base.request(reqwest::Method::GET, path).query(q), creds)
}

/// Slack: `conversations.history` of each channel in `settings.channels` (none: the public
/// channels `conversations.list` names that the app is a member of), newest first with `response_metadata.next_cursor`,
/// from `oldest` = the channel's newest `ts` seen (exclusive). External ids are
/// `<channel>:<ts>` (a `ts` is unique within its channel only).
async fn slack_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
    settings: &Value,
) -> Result<Page, ConnectorError> {
    let configured =
        watermark::channels(base.platform, settings).map_err(|e| bad_settings(base, e))?;
    let not_ok = |v: &Value| v.get("ok").and_then(Value::as_bool) != Some(true);
    let mut c = Channels::parse(cursor);
    if !c.active {
        c.start(&configured, true);
    }
    let Some(channel) = c.current().map(String::from) else {
        // No channel left in hand: the next page of public channels, if any.
        if let Some(from) = c.discover.take() {
            let mut q = vec![
                ("types", "public_channel".to_string()),
                ("exclude_archived", "true".to_string()),
                ("limit", "200".to_string()),
            ];
            if !from.is_empty() {
                q.push(("cursor", from));
            }
            let v = call(
                base,
                query(base, "/api/conversations.list", creds, &q),
                not_ok,
            )
            .await?;
            c.queue = v
                .get("channels")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                // A bot reads only the channels it is a member of.
                .filter(|ch| ch.get("is_member").and_then(Value::as_bool) != Some(false))
                .filter_map(|ch| text(ch, "/id"))
                .filter(|id| id.bytes().all(|b| b.is_ascii_alphanumeric()))
                .collect();
            c.discover = text(&v, "/response_metadata/next_cursor");
        }
        let done = c.is_done();
        if done {
            c.finish(&configured);
        }
        return Ok(Page {
            items: vec![],
            next_cursor: Some(c.text()),
            done,
        });
    };
    let mut q = vec![
        ("channel", channel.clone()),
        ("limit", PAGE_SIZE.to_string()),
    ];
    if let Some(m) = c.mark() {
        q.push(("oldest", m.to_string()));
    }
    if let Some(p) = &c.page {
        q.push(("cursor", p.clone()));
    }
    let v = call(
        base,
        query(base, "/api/conversations.history", creds, &q),
        not_ok,
    )
    .await?;
    let mut items = items(&v, "/messages", "message", "/ts", Some("/ts"));
    for it in &mut items {
        c.see(Some(it.external_id.clone()), watermark::ts_newer);
        it.external_id = format!("{channel}:{}", it.external_id);
    }
    match text(&v, "/response_metadata/next_cursor") {
        Some(next) => c.page = Some(next),
        None => c.channel_done(watermark::ts_newer),
    }
    let done = c.is_done();
    if done {
        c.finish(&configured);
    }
    Ok(Page {
        items,
        next_cursor: Some(c.text()),
        done,
    })
}

fn bad_settings(base: &Base, e: String) -> ConnectorError {
    ConnectorError::new(
        base.platform,
        ErrorType::BadRequest,
        None,
        Some("settings".into()),
        e,
    )
}

/// Discord: the messages of each channel in `settings.channels` `after` the channel's newest
/// snowflake seen (its watermark, moved on every page); a short page ends the channel. No
/// channel configured: nothing to read (the sync handler says so before calling).
async fn discord_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
    settings: &Value,
) -> Result<Page, ConnectorError> {
    let configured =
        watermark::channels(base.platform, settings).map_err(|e| bad_settings(base, e))?;
    let mut c = Channels::parse(cursor);
    if !c.active {
        c.start(&configured, false);
    }
    let Some(channel) = c.current().map(String::from) else {
        c.finish(&configured);
        return Ok(Page {
            items: vec![],
            next_cursor: Some(c.text()),
            done: true,
        });
    };
    let path = format!("/api/v10/channels/{channel}/messages");
    let q = [
        ("after", c.mark().unwrap_or("0").to_string()),
        ("limit", PAGE_SIZE.to_string()),
    ];
    let v = call(base, query(base, &path, creds, &q), no_error).await?;
    let items = items(&v, "", "message", "/id", Some("/timestamp"));
    for it in &items {
        c.see(Some(it.external_id.clone()), watermark::snowflake_newer);
    }
    // `after` is both the page cursor and the watermark: checkpoint it with every page.
    if let Some(n) = c.newest.clone() {
        c.marks.insert(channel, n);
    }
    if items.len() < PAGE_SIZE as usize {
        c.channel_done(watermark::snowflake_newer);
    }
    let done = c.is_done();
    if done {
        c.finish(&configured);
    }
    Ok(Page {
        items,
        next_cursor: Some(c.text()),
        done,
    })
}

/// How far back Zoom's first listing reaches, and its date window (Zoom lists at most a month
/// of recordings per request).
const ZOOM_HISTORY_DAYS: i64 = 180;
const ZOOM_WINDOW_DAYS: i64 = 30;

/// Zoom: cloud recordings in date windows `from`..`to` (at most a month each) with
/// `next_page_token`, from the date of the newest recording seen (day granularity: that
/// day's recordings are read again; the upserts make it harmless) up to today.
async fn zoom_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
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
        .unwrap_or(today - chrono::Duration::days(ZOOM_HISTORY_DAYS))
        .min(today);
    let to = c
        .until
        .as_deref()
        .and_then(watermark::parse_day)
        .unwrap_or_else(|| (from + chrono::Duration::days(ZOOM_WINDOW_DAYS - 1)).min(today));
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
        });
    }
    // Caught up: the next listing starts at the newest recording's day (or at this window,
    // none seen). `since` was the window's start here, not a watermark to keep.
    let next = Listing::starting_at(c.newest.or(c.since));
    Ok(Page {
        items,
        next_cursor: Some(next.text()),
        done: true,
    })
}

/// Notion: `POST /v1/search` sorted by `last_edited_time` descending with
/// `start_cursor`/`next_cursor`, stopping at the previous watermark (items edited at or after
/// it are kept: Notion's times are rounded to the minute).
async fn notion_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let mut c = Listing::parse(cursor);
    if c.is_legacy() {
        // A cursor of the old ascending search does not fit the descending one.
        c = Listing::default();
    }
    let mut body = json!({"page_size": PAGE_SIZE,
        "sort": {"timestamp": "last_edited_time", "direction": "descending"}});
    if let Some(p) = &c.page {
        body["start_cursor"] = json!(p);
    }
    let version = base
        .api_version
        .as_deref()
        .unwrap_or(notion::DEFAULT_VERSION);
    let req = base
        .request(reqwest::Method::POST, "/v1/search")
        .header("Notion-Version", version)
        .json(&body);
    let v = call(base, http::authorize(req, creds), no_error).await?;
    let mut items = items(&v, "/results", "page", "/id", Some("/last_edited_time"));
    let since = c.since.as_deref().and_then(watermark::parse_stamp);
    let before = items.len();
    if let Some(since) = since {
        items.retain(|it| it.occurred_at.is_none_or(|t| t >= since));
    }
    let reached = items.len() < before;
    c.see(watermark::newest_time(&items).map(watermark::stamp));
    let next =
        text(&v, "/next_cursor").filter(|_| v.get("has_more") == Some(&json!(true)) && !reached);
    let (next, done) = c.advance(next);
    Ok(Page {
        items,
        next_cursor: Some(next),
        done,
    })
}

fn graphql_errors(v: &Value) -> bool {
    v.get("errors").is_some() || v.get("error_code").is_some()
}

/// Monday: `items_page` of the first board, then `next_items_page` with its cursor. Monday
/// offers no "changed since" filter on `items_page` (and its cursor expires after 60
/// minutes), so every sync is a full listing; a finished listing stores no cursor.
async fn monday_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let (q, ptr) = match cursor {
        None => ("query ($limit: Int!) { boards(limit: 1) { items_page(limit: $limit) { cursor items { id name updated_at } } } }",
                 "/data/boards/0/items_page"),
        Some(_) => ("query ($limit: Int!, $cursor: String!) { next_items_page(limit: $limit, cursor: $cursor) { cursor items { id name updated_at } } }",
                    "/data/next_items_page"),
    };
    let version = base
        .api_version
        .as_deref()
        .unwrap_or(monday::DEFAULT_VERSION);
    let req = base
        .request(reqwest::Method::POST, &base.identity_path)
        .header("API-Version", version)
        .json(&json!({"query": q, "variables": {"limit": PAGE_SIZE, "cursor": cursor}}));
    let req = match creds {
        Credentials::Bearer(t) | Credentials::ApiKey(t) => {
            req.header(reqwest::header::AUTHORIZATION, t.expose())
        }
        other => http::authorize(req, other),
    };
    let v = call(base, req, graphql_errors).await?;
    let items = items(
        &v,
        &format!("{ptr}/items"),
        "item",
        "/id",
        Some("/updated_at"),
    );
    let next = text(&v, &format!("{ptr}/cursor"));
    Ok(Page {
        items,
        done: next.is_none(),
        next_cursor: next,
    })
}

/// Fireflies: `transcripts(fromDate:, limit:, skip:)` from the newest transcript date seen
/// (inclusive); within a listing the cursor's page is the number of transcripts skipped.
async fn fireflies_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    const LIMIT: u64 = 50;
    let mut c = Listing::parse(cursor);
    let skip: u64 = c.page.as_deref().and_then(|p| p.parse().ok()).unwrap_or(0);
    let q = "query ($limit: Int, $skip: Int, $fromDate: DateTime) { transcripts(limit: $limit, skip: $skip, fromDate: $fromDate) { id title date } }";
    let req = base
        .request(reqwest::Method::POST, &base.identity_path)
        .json(&json!({"query": q,
            "variables": {"limit": LIMIT, "skip": skip, "fromDate": c.since}}));
    let v = call(base, http::authorize(req, creds), graphql_errors).await?;
    let items = items(&v, "/data/transcripts", "transcript", "/id", Some("/date"));
    let n = items.len() as u64;
    c.see(watermark::newest_time(&items).map(watermark::stamp));
    let (next, done) = c.advance((n == LIMIT).then(|| (skip + n).to_string()));
    Ok(Page {
        items,
        next_cursor: Some(next),
        done,
    })
}

/// Twilio: the account's recordings created on or after the newest recording's day
/// (`DateCreated>=YYYY-MM-DD`, day granularity) with `next_page_uri` (a path on the API host,
/// carrying the filter) as the page cursor.
async fn twilio_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let p = base.platform;
    let Credentials::Basic { user, .. } = creds else {
        return Err(ConnectorError::new(
            p,
            ErrorType::AuthInvalid,
            None,
            None,
            "Twilio needs Basic credentials (AccountSid and auth token)",
        ));
    };
    let mut c = Listing::parse(cursor);
    let req = match c.page.as_deref() {
        Some(uri) if uri.starts_with("/2010-04-01/Accounts/") => {
            http::authorize(base.request(reqwest::Method::GET, uri), creds)
        }
        Some(_) => {
            return Err(ConnectorError::new(
                p,
                ErrorType::BadRequest,
                None,
                Some("foreign_link".into()),
                "next_page_uri is not an account resource",
            ))
        }
        None => {
            let mut q = vec![("PageSize", PAGE_SIZE.to_string())];
            if let Some(day) = c.since.as_deref().and_then(watermark::parse_day) {
                q.push(("DateCreated>=", day.to_string()));
            }
            query(
                base,
                &format!("/2010-04-01/Accounts/{user}/Recordings.json"),
                creds,
                &q,
            )
        }
    };
    let v = call(base, req, no_error).await?;
    let items = items(
        &v,
        "/recordings",
        "recording",
        "/sid",
        Some("/date_created"),
    );
    c.see(watermark::newest_time(&items).map(|t| t.date_naive().to_string()));
    let (next, done) = c.advance(text(&v, "/next_page_uri"));
    Ok(Page {
        items,
        next_cursor: Some(next),
        done,
    })
}

/// Otter, Loom, Granola, ZeroDB (unconfirmed APIs): `GET /v1/items?updated_since=&cursor=&limit=`
/// (Granola's documented `updated_since`, assumed for the others), from the newest
/// `updated_at` seen (inclusive).
async fn generic_page(
    base: &Base,
    creds: &Credentials,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let mut c = Listing::parse(cursor);
    let mut q = vec![("limit", PAGE_SIZE.to_string())];
    if let Some(s) = &c.since {
        q.push(("updated_since", s.clone()));
    }
    if let Some(p) = &c.page {
        q.push(("cursor", p.clone()));
    }
    let v = call(base, query(base, "/v1/items", creds, &q), no_error).await?;
    let items = items(&v, "/items", "item", "/id", Some("/updated_at"));
    c.see(watermark::newest_time(&items).map(watermark::stamp));
    let (next, done) = c.advance(text(&v, "/next_cursor"));
    Ok(Page {
        items,
        next_cursor: Some(next),
        done,
    })
}

//! Synthetic, deterministic list endpoints with each platform's own cursor form and its
//! incremental filter (Slack `oldest` and channels, Zoom `from`/`to`, Notion's sort direction,
//! Fireflies `fromDate`, Twilio `DateCreated>`, the generic `updated_since`), plus the two
//! GraphQL endpoints (Monday, Fireflies) and Twilio's account resources. Item `i` of a listing
//! is the `i`-th oldest; raising `items_per_account` adds newer items. Items removed from a
//! login's listings (`State::remove_items`) are skipped everywhere, page sizes counting the
//! items still listed; Gmail's history and Outlook's delta report the removals. Test double
//! only: items are made up from the account name and an index, never from real data.

use std::sync::atomic::Ordering;

use axum::response::Response;
use serde_json::{json, Value};

use super::forms::json_response;
use super::req::{account_id, presented, Req};
use super::state::{Removed, State};
use mcp_platforms::connectors::Platform;

mod discord;
mod graphql;
pub use discord::{discord_bot, discord_bot_path, DISCORD_BOT_TOKEN};
pub use graphql::{fireflies, monday};

pub use crate::timeline::GMAIL_LATEST;
pub(crate) use crate::timeline::{GMAIL_OLDEST, TS0};
/// The one public channel `conversations.list` names.
pub const SLACK_CHANNEL: &str = "C0SANDBOX1";
/// Zoom recordings start an hour apart from `State::zoom_day0`.
pub const ZOOM_RECORDINGS_PER_DAY: u64 = 24;
/// Twilio recordings are created a day apart from this day.
const TWILIO_DAY0: (i32, u32, u32) = (2020, 1, 1);

fn total(st: &State) -> u64 {
    st.items_per_account.load(Ordering::Relaxed)
}

/// (offset, limit) → the page's item indexes and the next offset if any.
fn page(offset: u64, limit: u64, total: u64) -> (std::ops::Range<u64>, Option<u64>) {
    let limit = limit.clamp(1, 1000);
    let end = (offset + limit).min(total);
    let start = offset.min(end);
    (start..end, (end < total).then_some(end))
}

/// `page` over the indexes of `0..total` still listed (all of them without `rm`). Offsets are
/// item indexes, as without removals: a removal during a listing moves no other item.
fn page_kept(offset: u64, limit: u64, total: u64, rm: Option<&Removed>) -> (Vec<u64>, Option<u64>) {
    let Some(rm) = rm else {
        let (items, next) = page(offset, limit, total);
        return (items.collect(), next);
    };
    let mut kept = (offset..total).filter(|&i| rm.keeps(i));
    let items = kept.by_ref().take(limit.clamp(1, 1000) as usize).collect();
    (items, kept.next())
}

/// A page of the (already filtered, ordered) item indexes from `offset`, and the next offset.
fn slice<T: Copy>(all: &[T], offset: u64, limit: u64) -> (Vec<T>, Option<u64>) {
    let limit = limit.clamp(1, 1000) as usize;
    let start = (offset as usize).min(all.len());
    let end = (start + limit).min(all.len());
    (
        all[start..end].to_vec(),
        (end < all.len()).then_some(end as u64),
    )
}

/// Unix seconds of an RFC 3339 time.
fn secs(s: Option<&str>) -> Option<u64> {
    let t = chrono::DateTime::parse_from_rfc3339(s?).ok()?;
    u64::try_from(t.timestamp()).ok()
}

fn rfc3339(secs: u64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn day(s: Option<&str>) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s?, "%Y-%m-%d").ok()
}

/// A Slack `ts` as (seconds, fraction).
fn ts_key(s: &str) -> (u64, u64) {
    let (a, b) = s.split_once('.').unwrap_or((s, "0"));
    (num(Some(a), 0), num(Some(b), 0))
}

fn num(s: Option<&str>, default: u64) -> u64 {
    s.and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn ok(v: Value) -> Response {
    json_response(200, v, &[])
}

/// Gmail's latest history id for a login: `GMAIL_LATEST`, plus one per removal.
pub fn gmail_latest(st: &State, login: &str) -> u64 {
    GMAIL_LATEST + st.removed(Platform::Gmail, login).map_or(0, |rm| rm.seq)
}

/// A Gmail message of the history id it was added at.
fn gmail_message(h: u64) -> Value {
    json!({"id": format!("m{h:x}"), "threadId": format!("t{h:x}")})
}

/// Gmail's history of a login with removed messages: a `messagesAdded` record for each message
/// still listed, at its history id (`first` + 1 + index), then a `messagesDeleted` record for
/// each removal, at `GMAIL_LATEST` + its `seq` (when `historyTypes` is absent or names
/// `messageDeleted`). Page tokens are positions in that list, as without removals.
fn gmail_history(st: &State, r: &Req, rm: &Removed, start: u64, first: u64) -> Response {
    let count = GMAIL_LATEST - first;
    let types = r.q_all("historyTypes");
    // (history id, the message's history id, deleted)
    let mut records: Vec<(u64, u64, bool)> = (0..count)
        .filter(|&i| rm.keeps(i))
        .map(|i| (first + i + 1, first + i + 1, false))
        .collect();
    if types.is_empty() || types.iter().any(|t| t == "messageDeleted") {
        let mut gone: Vec<(u64, u64, bool)> = rm
            .at
            .iter()
            .filter(|(&i, _)| i < count)
            .map(|(&i, &seq)| (GMAIL_LATEST + seq, first + i + 1, true))
            .collect();
        gone.sort_unstable();
        records.extend(gone);
    }
    let skip = records.iter().take_while(|(h, ..)| *h <= start).count() as u64;
    let off = num(r.q("pageToken"), skip);
    let (got, next) = slice(&records, off, num(r.q("maxResults"), 100));
    st.count_served(r.platform, got.len() as u64);
    let history: Vec<Value> = got
        .iter()
        .map(|&(h, m, deleted)| {
            let key = if deleted {
                "messagesDeleted"
            } else {
                "messagesAdded"
            };
            json!({"id": h.to_string(), key: [{"message": gmail_message(m)}]})
        })
        .collect();
    let mut v = json!({"historyId": (GMAIL_LATEST + rm.seq).to_string(), "history": history});
    if let Some(o) = next {
        v["nextPageToken"] = json!(o.to_string());
    }
    ok(v)
}

pub fn route(st: &State, r: &Req, account: &str) -> Option<Response> {
    let n = total(st);
    let id = account_id(r.platform, account);
    let rm = st.removed(r.platform, account);
    let rm = rm.as_deref();
    let keep = |i: u64| rm.is_none_or(|rm| rm.keeps(i));
    let resp = match (r.platform, r.path.as_str()) {
        (Platform::Slack, "/api/conversations.list") => {
            let chans = [SLACK_CHANNEL];
            let all: Vec<u64> = (0..chans.len() as u64).collect();
            let off = r
                .q("cursor")
                .and_then(|c| c.strip_prefix("l"))
                .map_or(0, |c| num(Some(c), 0));
            let (got, next) = slice(&all, off, num(r.q("limit"), 100));
            ok(json!({"ok": true,
                "channels": got.iter().map(|&i| json!({"id": chans[i as usize], "name": "general",
                    "is_channel": true, "is_archived": false, "is_member": true})).collect::<Vec<_>>(),
                "response_metadata": {"next_cursor": next.map(|o| format!("l{o}")).unwrap_or_default()}}))
        }
        (Platform::Slack, "/api/conversations.history") => {
            let Some(channel) = r.q("channel").filter(|c| !c.is_empty()) else {
                return Some(ok(json!({"ok": false, "error": "channel_not_found"})));
            };
            let mut limit = num(r.q("limit"), 100);
            if st.installs.slack_non_marketplace() {
                // A non-Marketplace app installed since 29 May 2025: 1 request a minute per
                // installation, at most (and by default) 15 messages a page
                // (https://docs.slack.dev/changelog/2025/05/29/rate-limit-changes-for-non-marketplace-apps).
                if let Some(wait) = st.installs.slack_history_wait(account) {
                    return Some(json_response(
                        429,
                        json!({"ok": false, "error": "ratelimited"}),
                        &[("retry-after", wait.to_string())],
                    ));
                }
                limit = num(r.q("limit"), 15).min(15);
            }
            // Newest first; `oldest` is exclusive.
            let oldest = r.q("oldest").map(ts_key);
            let all: Vec<u64> = (0..n)
                .rev()
                .filter(|&i| oldest.is_none_or(|o| (TS0 + i, i) > o) && keep(i))
                .collect();
            let off = r
                .q("cursor")
                .and_then(|c| c.strip_prefix("c"))
                .map_or(0, |c| num(Some(c), 0));
            let (got, next) = slice(&all, off, limit);
            st.count_served(r.platform, got.len() as u64);
            ok(json!({"ok": true, "has_more": next.is_some(),
                "messages": got.iter().map(|&i| json!({"type": "message", "user": id,
                    "text": format!("message {i} in {channel} of {account}"), "ts": format!("{}.{:06}", TS0 + i, i)})).collect::<Vec<_>>(),
                "response_metadata": {"next_cursor": next.map(|o| format!("c{o}")).unwrap_or_default()}}))
        }
        (Platform::Gmail, "/gmail/v1/users/me/history") => {
            let start = num(r.q("startHistoryId"), 0);
            if start < GMAIL_OLDEST {
                return Some(json_response(
                    404,
                    json!({"error": {"code": 404,
                    "message": "Requested entity was not found.", "status": "NOT_FOUND",
                    "errors": [{"domain": "global", "reason": "notFound"}]}}),
                    &[],
                ));
            }
            let first = GMAIL_LATEST - n.min(GMAIL_LATEST - GMAIL_OLDEST);
            if let Some(rm) = rm {
                return Some(gmail_history(st, r, rm, start, first));
            }
            let from = start.max(first);
            let off = num(r.q("pageToken"), from - first);
            let (items, next) = page(off, num(r.q("maxResults"), 100), GMAIL_LATEST - first);
            st.count_served(r.platform, items.end - items.start);
            let mut v = json!({"historyId": GMAIL_LATEST.to_string(),
                "history": items.map(|i| { let h = first + i + 1; json!({"id": h.to_string(),
                    "messagesAdded": [{"message": gmail_message(h)}]}) }).collect::<Vec<_>>()});
            if let Some(o) = next {
                v["nextPageToken"] = json!(o.to_string());
            }
            ok(v)
        }
        (Platform::Gmail, "/gmail/v1/users/me/messages") => {
            let first = GMAIL_LATEST - n.min(GMAIL_LATEST - GMAIL_OLDEST);
            let off = num(r.q("pageToken"), 0);
            let count = GMAIL_LATEST - first;
            let (items, next) = page_kept(off, num(r.q("maxResults"), 100), count, rm);
            st.count_served(r.platform, items.len() as u64);
            let listed = count - rm.map_or(0, |rm| rm.at.range(..count).count() as u64);
            let mut v = json!({"resultSizeEstimate": listed,
                "messages": items.iter().map(|&i| gmail_message(first + i + 1)).collect::<Vec<_>>()});
            if let Some(o) = next {
                v["nextPageToken"] = json!(o.to_string());
            }
            ok(v)
        }
        (Platform::Notion, "/v1/search") => {
            let b = r.json();
            let off = num(b.get("start_cursor").and_then(Value::as_str), 0);
            let descending =
                b.pointer("/sort/direction").and_then(Value::as_str) == Some("descending");
            let all: Vec<u64> = if descending {
                (0..n).rev().filter(|&i| keep(i)).collect()
            } else {
                (0..n).filter(|&i| keep(i)).collect()
            };
            let size = b
                .get("page_size")
                .and_then(Value::as_u64)
                .unwrap_or(100)
                .min(100);
            let (got, next) = slice(&all, off, size);
            st.count_served(r.platform, got.len() as u64);
            // Edited a minute apart, in order.
            ok(
                json!({"object": "list", "type": "page_or_database", "has_more": next.is_some(),
                "next_cursor": next.map(|o| o.to_string()),
                "results": got.iter().map(|&i| json!({"object": "page", "id": format!("{:08x}-0000-4000-8000-{:012x}", i, i),
                    "last_edited_time": rfc3339(TS0 + 60 * i),
                    "url": format!("https://www.notion.so/Page-{i}-{i:032x}"),
                    "properties": {"title": {"id": "title", "type": "title",
                        "title": [{"type": "text", "plain_text": format!("Page {i}")}]}}})).collect::<Vec<_>>()}),
            )
        }
        (Platform::Zoom, "/v2/users/me/recordings") => {
            // `from` and `to` (inclusive days) default to today, as Zoom's do.
            let today = chrono::Utc::now().date_naive();
            let from = day(r.q("from")).unwrap_or(today);
            let to = day(r.q("to")).unwrap_or(today);
            let day0 = st.zoom_day0;
            let on = |i: u64| day0 + chrono::Duration::days((i / ZOOM_RECORDINGS_PER_DAY) as i64);
            let all: Vec<u64> = (0..n)
                .filter(|&i| (from..=to).contains(&on(i)) && keep(i))
                .collect();
            let off = num(r.q("next_page_token"), 0);
            let size = num(r.q("page_size"), 30);
            let (got, next) = slice(&all, off, size);
            st.count_served(r.platform, got.len() as u64);
            ok(
                json!({"from": from.to_string(), "to": to.to_string(), "page_size": size,
                "total_records": all.len(),
                "next_page_token": next.map(|o| o.to_string()).unwrap_or_default(),
                "meetings": got.iter().map(|&i| {
                    let uuid = format!("rec{i}==");
                    json!({"uuid": uuid, "id": 80_000_000 + i,
                    "topic": format!("meeting {i}"), "recording_count": 1,
                    "start_time": format!("{}T{:02}:00:00Z", on(i), i % ZOOM_RECORDINGS_PER_DAY),
                    "recording_files": crate::content::zoom::recording_files(st, i, &uuid)})
                }).collect::<Vec<_>>()}),
            )
        }
        (
            Platform::Outlook,
            "/v1.0/me/mailFolders/inbox/messages/delta" | "/v1.0/me/messages/delta",
        ) => {
            // Removals: a listing's links carry the removal `seq` at its start (`.{seq}`, none
            // while 0); a delta round answers the items removed after its token's `seq` as
            // `@removed` entries, once, as Graph reports deletions once. The first request's
            // `$select` travels in the tokens (`~{properties}`), as Graph encodes it in them.
            let link = format!("{}/outlook{}", st.base_url, r.path);
            let token = r.q("$deltatoken").or(r.q("$skiptoken"));
            let (token, select) = match token.and_then(|t| t.split_once('~')) {
                Some((t, sel)) => (Some(t), Some(sel.to_string())),
                None => (token, r.q("$select").map(String::from)),
            };
            let fields: Option<Vec<String>> = select
                .as_deref()
                .map(|s| s.split(',').map(|f| f.trim().to_string()).collect());
            let carried = select.map_or(String::new(), |s| format!("~{s}"));
            let tag = |seq: u64| {
                if seq == 0 {
                    carried.clone()
                } else {
                    format!(".{seq}{carried}")
                }
            };
            let now = rm.map_or(0, |rm| rm.seq);
            let since = |t: &str| t.split_once('.').map_or(0, |(_, q)| num(Some(q), 0));
            if let (Some(t), true) = (token, r.q("$deltatoken").is_some()) {
                let after = since(t);
                let removed: Vec<Value> = rm
                    .into_iter()
                    .flat_map(|rm| rm.at.iter())
                    .filter(|(_, &seq)| seq > after)
                    .map(|(&i, _)| json!({"id": format!("AAMk{i:08}"), "@removed": {"reason": "deleted"}}))
                    .collect();
                return Some(ok(
                    json!({"value": removed, "@odata.deltaLink": format!("{link}?$deltatoken=d{n}{}", tag(now))}),
                ));
            }
            let skip = token.and_then(|s| s.strip_prefix("s"));
            let (off, start) = skip.map_or((0, now), |s| {
                let o = s.split_once('.').map_or(s, |(o, _)| o);
                (num(Some(o), 0), since(s))
            });
            let (items, next) = page_kept(off, 10, n, rm);
            st.count_served(r.platform, items.len() as u64);
            let mut v = json!({"value": items.iter()
                .map(|&i| crate::content::outlook::message(i, account, fields.as_deref()))
                .collect::<Vec<_>>()});
            match next {
                Some(o) => {
                    v["@odata.nextLink"] = json!(format!("{link}?$skiptoken=s{o}{}", tag(start)))
                }
                None => {
                    v["@odata.deltaLink"] = json!(format!("{link}?$deltatoken=d{n}{}", tag(start)))
                }
            }
            ok(v)
        }
        (
            Platform::Otter
            | Platform::Loom
            | Platform::Granola
            | Platform::ZeroDb
            | Platform::Monday
            | Platform::Fireflies,
            "/v1/items",
        ) => {
            // `updated_since` is inclusive; items are updated a second apart.
            let since = secs(r.q("updated_since"));
            let all: Vec<u64> = (0..n)
                .filter(|&i| since.is_none_or(|s| TS0 + i >= s) && keep(i))
                .collect();
            let off = num(r.q("cursor"), 0);
            let (got, next) = slice(&all, off, num(r.q("limit"), 50));
            st.count_served(r.platform, got.len() as u64);
            ok(
                json!({"items": got.iter().map(|&i| json!({"id": format!("{}-{i}", r.platform), "title": format!("item {i}"),
                "updated_at": TS0 + i})).collect::<Vec<_>>(), "next_cursor": next.map(|o| o.to_string())}),
            )
        }
        _ => return None,
    };
    Some(resp)
}

/// Twilio: `Accounts/{Sid}.json` and `Accounts/{Sid}/Recordings.json` (PageToken paging; the
/// filters `DateCreated`, `DateCreated<` and `DateCreated>`, whose `=` is the query string's:
/// `DateCreated>=2024-01-01` reads "created on or after that day", per Twilio's OpenAPI
/// description, https://www.twilio.com/docs/voice/api/recording#read-multiple-recording-resources).
/// Like Twilio, it ignores parameters it does not know (a `DateCreated>=` key filters nothing).
pub fn twilio(st: &State, r: &Req, account: &str) -> Response {
    let sid = presented(r.platform, &r.headers)
        .map(|(v, _)| v)
        .unwrap_or_default();
    let prefix = format!("/2010-04-01/Accounts/{sid}");
    let not_found = || {
        json_response(
            404,
            json!({"code": 20404, "status": 404,
        "message": "The requested resource was not found"}),
            &[],
        )
    };
    let Some(rest) = r.path.strip_prefix(&prefix) else {
        return not_found();
    };
    match rest {
        ".json" => {
            ok(json!({"sid": sid, "friendly_name": account, "status": "active", "type": "Full"}))
        }
        "/Recordings.json" => {
            let size = num(r.q("PageSize"), 50);
            let off = r
                .q("PageToken")
                .and_then(|t| t.strip_prefix("PA"))
                .map_or(0, |t| num(Some(t), 0));
            let (y, m, d) = TWILIO_DAY0;
            let day0 = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
            let on = |i: u64| day0 + chrono::Duration::days(i as i64);
            let since = day(r.q("DateCreated>"));
            let until = day(r.q("DateCreated<"));
            let on_day = day(r.q("DateCreated"));
            let rm = st.removed(r.platform, account);
            let all: Vec<u64> = (0..total(st))
                .filter(|&i| since.is_none_or(|s| on(i) >= s))
                .filter(|&i| until.is_none_or(|u| on(i) <= u))
                .filter(|&i| on_day.is_none_or(|d| on(i) == d))
                .filter(|&i| rm.as_deref().is_none_or(|rm| rm.keeps(i)))
                .collect();
            let filter = [
                ("DateCreated%3E", since),
                ("DateCreated%3C", until),
                ("DateCreated", on_day),
            ]
            .iter()
            .filter_map(|(k, d)| d.map(|d| format!("&{k}={d}")))
            .collect::<String>();
            let (got, next) = slice(&all, off, size);
            st.count_served(r.platform, got.len() as u64);
            let page_no = num(r.q("Page"), 0);
            ok(json!({"page": page_no, "page_size": size, "start": off,
                "uri": format!("{prefix}/Recordings.json?PageSize={size}&Page={page_no}{filter}"),
                "next_page_uri": next.map(|o| format!("{prefix}/Recordings.json?PageSize={size}&Page={}&PageToken=PA{o}{filter}", page_no + 1)),
                "recordings": got.iter().map(|&i| json!({"sid": format!("RE{i:032x}"), "account_sid": sid,
                    "duration": "12", "status": "completed",
                    "date_created": on(i).and_hms_opt(12, 0, 0).map(|t| t.and_utc().to_rfc2822()).unwrap_or_default()})).collect::<Vec<_>>()}))
        }
        _ => not_found(),
    }
}

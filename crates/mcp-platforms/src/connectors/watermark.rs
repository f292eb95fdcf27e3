//! The cursor text of the incremental listings that stop at (or start from) a watermark: the
//! newest value of the previous finished listing (a time, a date, a Slack `ts`, a Discord
//! snowflake). The text is a small JSON object owned by the connector that wrote it; a plain
//! string stored before these listings existed is read as the page cursor of a listing
//! without a watermark. The channel platforms (Slack, Discord) keep one watermark per channel
//! and read the channels one after the other. Pure data: no I/O, no credentials.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::page::{Page, SyncItem};
use super::spec::ChannelIds;
use super::Platform;

/// One listing with a watermark (Zoom, Notion, Fireflies, Twilio, the generic platforms).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The watermark this listing starts from or stops at (Zoom: the current window's start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Zoom only: the last day of the current date window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// The platform's page cursor within the current listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// The newest value seen so far in the current listing: the next watermark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
    /// Read from a plain string (a page cursor of the former full listings).
    #[serde(skip)]
    legacy: bool,
}

impl Listing {
    /// The stored cursor: JSON, or a plain (older) page cursor, or nothing.
    pub fn parse(cursor: Option<&str>) -> Listing {
        match cursor {
            None => Listing::default(),
            Some(s) if s.trim_start().starts_with('{') => {
                serde_json::from_str(s).unwrap_or_else(|_| Listing::page_only(s))
            }
            Some(s) => Listing::page_only(s),
        }
    }

    fn page_only(s: &str) -> Listing {
        Listing {
            page: (!s.is_empty()).then(|| s.to_string()),
            legacy: true,
            ..Listing::default()
        }
    }

    /// A listing to come, starting from (or stopping at) `since`.
    pub fn starting_at(since: Option<String>) -> Listing {
        Listing {
            since,
            ..Listing::default()
        }
    }

    /// Whether this came from a plain string: a page cursor of the former full listings.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    pub fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Keeps `v` as the newest value when it is newer (values compare as text: the callers
    /// use fixed-width forms, RFC 3339 with milliseconds or `YYYY-MM-DD`).
    pub fn see(&mut self, v: Option<String>) {
        if let Some(v) = v {
            if self.newest.as_deref().is_none_or(|n| v.as_str() > n) {
                self.newest = Some(v);
            }
        }
    }

    /// The cursor after a page: on to `next_page`, or (none) the listing is done and the
    /// cursor is the new watermark. Returns (cursor text, done).
    pub fn advance(mut self, next_page: Option<String>) -> (String, bool) {
        match next_page {
            Some(p) => {
                self.page = Some(p);
                (self.text(), false)
            }
            None => (self.finished().text(), true),
        }
    }

    /// The cursor of a finished listing: only the watermark to start the next one from.
    pub fn finished(self) -> Listing {
        let since = match (self.newest, self.since) {
            (Some(n), Some(s)) => Some(if n > s { n } else { s }),
            (n, s) => n.or(s),
        };
        Listing::starting_at(since)
    }
}

/// The listing of a channel platform: per-channel watermarks and the channels still to read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channels {
    /// Each channel's watermark (its newest message seen).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub marks: BTreeMap<String, String>,
    /// Channels still to read in the current listing; the first one is being read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue: Vec<String>,
    /// The page cursor within the first queued channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// The newest value seen in the first queued channel during this listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
    /// Slack's `conversations.list` when no channel is configured: the cursor of the next
    /// page of channels (empty: the first page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discover: Option<String>,
    /// A listing is under way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub active: bool,
}

impl Channels {
    /// The stored cursor. A plain string was written when a single fixed channel was read:
    /// it means nothing for the configured channels, so the listing starts afresh (the
    /// upserts make that harmless).
    pub fn parse(cursor: Option<&str>) -> Channels {
        cursor
            .filter(|s| s.trim_start().starts_with('{'))
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }

    pub fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Starts a listing of `channels` (none: discover them, when `discover`).
    pub fn start(&mut self, channels: &[String], discover: bool) {
        self.active = true;
        self.queue = channels.to_vec();
        self.page = None;
        self.newest = None;
        self.discover = (channels.is_empty() && discover).then(String::new);
    }

    /// The channel being read, if any.
    pub fn current(&self) -> Option<&str> {
        self.queue.first().map(String::as_str)
    }

    /// The current channel's watermark.
    pub fn mark(&self) -> Option<&str> {
        self.current()
            .and_then(|c| self.marks.get(c))
            .map(String::as_str)
    }

    /// Keeps `v` as the current channel's newest value when `newer(v, old)`.
    pub fn see(&mut self, v: Option<String>, newer: fn(&str, &str) -> bool) {
        if let Some(v) = v {
            if self.newest.as_deref().is_none_or(|n| newer(&v, n)) {
                self.newest = Some(v);
            }
        }
    }

    /// The current channel is read to its end: its watermark moves on, the next one starts.
    pub fn channel_done(&mut self, newer: fn(&str, &str) -> bool) {
        if self.queue.is_empty() {
            return;
        }
        let ch = self.queue.remove(0);
        if let Some(n) = self.newest.take() {
            let keep = self.marks.get(&ch).is_some_and(|m| !newer(&n, m));
            if !keep {
                self.marks.insert(ch, n);
            }
        }
        self.page = None;
    }

    /// Whether nothing is left to read in this listing.
    pub fn is_done(&self) -> bool {
        self.queue.is_empty() && self.discover.is_none()
    }

    /// The page that ends this call with `items`: done, and the listing finished, when no
    /// channel is left to read.
    pub fn page(mut self, items: Vec<SyncItem>, configured: &[String]) -> Page {
        let done = self.is_done();
        if done {
            self.finish(configured);
        }
        Page {
            items,
            next_cursor: Some(self.text()),
            done,
            deleted: vec![],
        }
    }

    /// Ends the listing; with configured channels, forgets the watermarks of the others.
    pub fn finish(&mut self, configured: &[String]) {
        self.active = false;
        self.queue.clear();
        self.page = None;
        self.newest = None;
        self.discover = None;
        if !configured.is_empty() {
            self.marks.retain(|c, _| configured.contains(c));
        }
    }
}

/// Slack `ts` order ("1700000000.000123"): seconds, then the fraction.
pub fn ts_newer(a: &str, b: &str) -> bool {
    fn key(s: &str) -> (u64, u64) {
        let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
        let frac = format!("{frac:0<6}");
        (
            secs.parse().unwrap_or(0),
            frac.get(..6).and_then(|f| f.parse().ok()).unwrap_or(0),
        )
    }
    key(a) > key(b)
}

/// Discord snowflake order (decimal digits: the longer number, then the greater text).
pub fn snowflake_newer(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    (a.len(), a) > (b.len(), b)
}

/// A time in the fixed-width form the watermarks compare as text.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse_stamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// The newest `occurred_at` of a page's items.
pub fn newest_time(items: &[SyncItem]) -> Option<DateTime<Utc>> {
    items.iter().filter_map(|i| i.occurred_at).max()
}

/// Why a channel platform cannot sync with these settings (`None`: it can).
pub fn not_configured(p: Platform, settings: &Value, account: Option<&str>) -> Option<String> {
    match (channels(p, settings), p.spec().account_required) {
        (Err(e), _) => Some(e),
        (Ok(_), Some(why)) if account.is_none_or(str::is_empty) => Some(why.into()),
        _ => None,
    }
}

/// The channel ids in `settings.channels` (Slack and Discord), in order, without repeats.
/// An id of the wrong form (Discord: digits; Slack: letters and digits) is refused.
pub fn channels(p: Platform, settings: &Value) -> Result<Vec<String>, String> {
    let Some(list) = settings.get("channels") else {
        return Ok(Vec::new());
    };
    let Some(form) = p.spec().channels else {
        return Ok(Vec::new());
    };
    let Some(list) = list.as_array() else {
        return Err("settings.channels must be an array of channel ids".into());
    };
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let id = match v {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) if form == ChannelIds::Snowflake => n.to_string(),
            _ => return Err(format!("settings.channels[{i}] is not a channel id")),
        };
        let ok = !id.is_empty()
            && id.len() <= 32
            && match form {
                ChannelIds::Snowflake => id.bytes().all(|b| b.is_ascii_digit()),
                ChannelIds::Alphanumeric => id.bytes().all(|b| b.is_ascii_alphanumeric()),
            };
        if !ok {
            return Err(format!(
                "settings.channels[{i}] is not a {} channel id",
                p.as_str()
            ));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_cursors_of_the_full_listings_are_page_cursors() {
        let l = Listing::parse(Some("c200"));
        assert_eq!(l.page.as_deref(), Some("c200"));
        assert!(l.is_legacy());
        assert_eq!(Listing::parse(None), Listing::default());
        let l = Listing::parse(Some(r#"{"since":"2025-01-01","page":"x"}"#));
        assert_eq!(l.since.as_deref(), Some("2025-01-01"));
        assert!(!l.is_legacy());
        assert!(!Listing::parse(Some(r#"{"page":"x"}"#)).is_legacy());
        // A channel platform's plain cursor belonged to a fixed channel: start afresh.
        assert_eq!(
            Channels::parse(Some("1100000000000000099")),
            Channels::default()
        );
    }

    #[test]
    fn a_finished_listing_keeps_only_the_newest_watermark() {
        let mut l = Listing {
            since: Some("2025-01-02".into()),
            ..Listing::default()
        };
        l.see(Some("2025-01-05".into()));
        l.see(Some("2025-01-03".into()));
        let (mid, done) = l.clone().advance(Some("p2".into()));
        assert!(!done);
        let mid = Listing::parse(Some(&mid));
        assert_eq!(
            (
                mid.since.as_deref(),
                mid.page.as_deref(),
                mid.newest.as_deref()
            ),
            (Some("2025-01-02"), Some("p2"), Some("2025-01-05"))
        );
        let (end, done) = l.advance(None);
        assert!(done);
        assert_eq!(
            Listing::parse(Some(&end)).since.as_deref(),
            Some("2025-01-05")
        );
        // Nothing new: the old watermark stays.
        let (end, _) = Listing::parse(Some(&end)).advance(None);
        assert_eq!(
            Listing::parse(Some(&end)).since.as_deref(),
            Some("2025-01-05")
        );
    }

    #[test]
    fn channels_move_on_one_after_the_other_with_their_own_watermarks() {
        let chans = vec!["C1".to_string(), "C2".to_string()];
        let mut c = Channels::default();
        c.start(&chans, true);
        assert_eq!(c.current(), Some("C1"));
        c.see(Some("1700000000.000002".into()), ts_newer);
        c.see(Some("1700000000.000010".into()), ts_newer);
        c.see(Some("1700000000.000009".into()), ts_newer);
        c.channel_done(ts_newer);
        assert_eq!(c.current(), Some("C2"));
        assert!(!c.is_done());
        c.channel_done(ts_newer);
        assert!(c.is_done());
        c.finish(&chans);
        let c = Channels::parse(Some(&c.text()));
        assert_eq!(
            c.marks.get("C1").map(String::as_str),
            Some("1700000000.000010")
        );
        assert!(!c.active && c.queue.is_empty());
        assert!(snowflake_newer(
            "100000000000000000000",
            "99999999999999999999"
        ));
    }

    #[test]
    fn channel_settings_are_checked() {
        let s = json!({"channels": ["C123", "C456", "C123"]});
        assert_eq!(
            channels(Platform::Slack, &s),
            Ok(vec!["C123".into(), "C456".into()])
        );
        assert!(channels(Platform::Discord, &s).is_err());
        assert_eq!(
            channels(Platform::Discord, &json!({"channels": [1234, "5678"]})),
            Ok(vec!["1234".into(), "5678".into()])
        );
        assert!(channels(Platform::Slack, &json!({"channels": ["../x"]})).is_err());
        assert!(not_configured(Platform::Discord, &json!({}), None).is_some());
        assert!(not_configured(Platform::Discord, &json!({}), Some("81384788765712384")).is_none());
        assert!(not_configured(Platform::Slack, &json!({}), None).is_none());
        assert!(not_configured(Platform::Notion, &json!({"channels": 3}), None).is_none());
    }
}

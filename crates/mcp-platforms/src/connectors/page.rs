//! What a sync reads from a platform: one page of items and where to resume. The cursor is
//! opaque text owned by the connector that made it (a Gmail history id, an Outlook delta link,
//! or a small JSON object with a watermark and a page cursor, see `watermark`). This module only describes pages; it must never
//! hold a credential nor talk to the database.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::http::RawResponse;
use super::{ConnectorError, ErrorType, Platform};

/// The `code` a connector puts on an error when the platform refused the cursor as too old
/// (Gmail history 404, an expired Outlook delta link): the caller must start a full resync.
pub const CURSOR_EXPIRED: &str = "cursor_expired";

/// One record read from a platform.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncItem {
    /// The platform's id of the record, unique within one integration.
    pub external_id: String,
    /// What it is (`message`, `page`, `recording`, …).
    pub kind: String,
    pub occurred_at: Option<DateTime<Utc>>,
    /// The record as the platform returned it.
    pub raw: Value,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub items: Vec<SyncItem>,
    /// Where the next call resumes (`None`: start over from the beginning next time).
    pub next_cursor: Option<String>,
    /// No more pages now: the listing is caught up.
    pub done: bool,
    /// External ids (the form of `SyncItem::external_id`) the listing says were deleted; none
    /// of them is also in `items`.
    pub deleted: Vec<String>,
}

impl Page {
    /// A page of a listing that reports no deletions, with where it resumes and whether it is
    /// caught up (`watermark`'s `advance`).
    pub fn advanced(items: Vec<SyncItem>, (next, done): (String, bool)) -> Page {
        Page {
            items,
            next_cursor: Some(next),
            done,
            deleted: vec![],
        }
    }
}

/// What one page of a listing is asked with: the credentials, where to resume (`None`: the
/// beginning) and the integration's settings (`core.integrations.settings`).
#[derive(Clone, Copy)]
pub struct PageRequest<'a> {
    pub creds: &'a super::Credentials,
    pub cursor: Option<&'a str>,
    pub settings: &'a serde_json::Value,
    /// The account the integration is connected to (`core.integrations.external_account_id`;
    /// Discord: the guild its bot was installed in).
    pub account: Option<&'a str>,
}

impl ConnectorError {
    /// A cursor the platform no longer accepts: a full resync is needed.
    pub fn cursor_expired(platform: Platform, resp: &RawResponse) -> ConnectorError {
        ConnectorError::new(
            platform,
            ErrorType::NotFound,
            Some(resp.status),
            Some(CURSOR_EXPIRED.into()),
            format!("HTTP {}: sync cursor expired", resp.status),
        )
    }

    pub fn is_cursor_expired(&self) -> bool {
        self.code.as_deref() == Some(CURSOR_EXPIRED)
    }
}

/// An item from a JSON object: its id at `id_ptr` (string or number), its time at `time_ptr`
/// (RFC 3339 or RFC 2822 text, or Unix seconds/milliseconds, or a Slack `ts`).
pub fn item(v: &Value, kind: &str, id_ptr: &str, time_ptr: Option<&str>) -> Option<SyncItem> {
    let external_id = super::http::json_id(v, id_ptr)?;
    let occurred_at = time_ptr
        .and_then(|p| v.pointer(p))
        .and_then(crate::items::fields::parse_time);
    Some(SyncItem {
        external_id,
        kind: kind.into(),
        occurred_at,
        raw: v.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_in_every_form() {
        let want = DateTime::from_timestamp(1_700_000_000, 0);
        for v in [
            json!({"id": 1, "t": "2023-11-14T22:13:20Z"}),
            json!({"id": 1, "t": 1_700_000_000u64}),
            json!({"id": 1, "t": 1_700_000_000_000u64}),
            json!({"id": 1, "t": "1700000000.000000"}),
            json!({"id": 1, "t": "Tue, 14 Nov 2023 22:13:20 +0000"}),
        ] {
            let it = item(&v, "x", "/id", Some("/t")).expect("item");
            assert_eq!(it.occurred_at, want, "{v}");
            assert_eq!(it.external_id, "1");
        }
        assert!(item(&json!({"t": 1}), "x", "/id", None).is_none());
    }
}

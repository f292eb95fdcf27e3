//! Items a verified event carries whole, to be stored as they are without a call back to the
//! platform: Slack's `message` events. Slack allows commercially distributed apps outside its
//! Marketplace one `conversations.history` request a minute, so new messages come from the
//! events and the history listing is the backfill. Pure functions of the payload; runs only
//! after verification.

use serde_json::Value;

use crate::connectors::page::SyncItem;
use crate::connectors::Platform;

/// The items a verified event carries whole (none for most events: those ask for a sync).
pub fn items(p: Platform, payload: &Value) -> Vec<SyncItem> {
    match &p.spec().webhooks {
        Some(w) => (w.items)(payload),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The `message` event example of https://docs.slack.dev/reference/events/message, in the
    /// Events API envelope (https://docs.slack.dev/apis/events-api/#callback-field).
    fn envelope(event: Value) -> Value {
        json!({"token": "XXYYZZ", "team_id": "T123ABC456", "api_app_id": "A123ABC456",
            "event": event, "type": "event_callback", "event_id": "Ev123ABC456",
            "event_time": 1_355_517_523_u64,
            "authorizations": [{"enterprise_id": "E123ABC456", "team_id": "T123ABC456",
                "user_id": "U123ABC456", "is_bot": false, "is_enterprise_install": false}]})
    }

    #[test]
    fn a_new_channel_message_is_an_item_as_the_listing_gives_it() {
        let e = envelope(json!({"type": "message", "channel": "C123ABC456",
            "user": "U123ABC456", "text": "Hello world", "ts": "1355517523.000005",
            "event_ts": "1355517523.000005", "channel_type": "channel"}));
        let got = items(Platform::Slack, &e);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].external_id, "C123ABC456:1355517523.000005");
        assert_eq!(got[0].kind, "message");
        assert_eq!(
            got[0].raw,
            json!({"type": "message", "user": "U123ABC456", "text": "Hello world",
                "ts": "1355517523.000005"})
        );
        assert_eq!(
            got[0].occurred_at.map(|t| t.timestamp()),
            Some(1_355_517_523)
        );
    }

    #[test]
    fn edits_deletions_and_notices_are_not_items() {
        for sub in ["message_changed", "message_deleted", "channel_join"] {
            let e = envelope(json!({"type": "message", "subtype": sub, "channel": "C1",
                "ts": "1355517523.000005"}));
            assert!(items(Platform::Slack, &e).is_empty(), "{sub}");
        }
        let no_ts = envelope(json!({"type": "message", "channel": "C1", "text": "hi"}));
        assert!(items(Platform::Slack, &no_ts).is_empty());
        let broadcast = envelope(json!({"type": "message", "subtype": "thread_broadcast",
            "channel": "C1", "ts": "1355517524.000001", "thread_ts": "1355517523.000005"}));
        assert_eq!(items(Platform::Slack, &broadcast).len(), 1);
        assert!(items(Platform::Zoom, &broadcast).is_empty());
    }
}

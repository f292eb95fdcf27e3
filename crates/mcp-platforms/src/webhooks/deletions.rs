//! What a verified event says is gone: the items (by the external ids the connectors give their
//! `SyncItem`s), the id prefix of a whole container (a deleted Slack channel), or an item once
//! every part it holds is gone (a Zoom meeting's recording files). Pure: reads the payload
//! `events::parse` kept, with the `event_type` it extracted; a payload without the fields a
//! deletion needs names nothing. It must never infer a deletion the platform's documentation
//! does not state.

use serde_json::Value;

use crate::connectors::Platform;

pub use crate::connectors::event::{Deletion, Gone};

/// The `event_type` values (as `events::parse` extracts them) whose payload can report a
/// deletion. Slack's `message` is every message event: its `subtype` tells. Outlook events
/// carry no `event_type`; their payloads are read by `changeType`.
pub const DELETION_EVENT_TYPES: &[&str] = &ALL_DELETION_EVENT_TYPES;

/// Every platform's deletion event types, in `Platform::ALL` order.
const ALL_DELETION_EVENT_TYPES: [&str; count()] = {
    let mut out = [""; count()];
    let (mut i, mut n) = (0, 0);
    while i < Platform::ALL.len() {
        let types = Platform::ALL[i].spec().deletion_event_types();
        let mut j = 0;
        while j < types.len() {
            out[n] = types[j];
            n += 1;
            j += 1;
        }
        i += 1;
    }
    out
};

const fn count() -> usize {
    let (mut i, mut n) = (0, 0);
    while i < Platform::ALL.len() {
        n += Platform::ALL[i].spec().deletion_event_types().len();
        i += 1;
    }
    n
}

/// The deletions an event reports (each platform's reading, `Webhooks::deletions`); none for
/// any other event or a malformed payload.
pub fn deletions(platform: Platform, event_type: Option<&str>, payload: &Value) -> Vec<Deletion> {
    match &platform.spec().webhooks {
        Some(w) => (w.deletions)(event_type, payload),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(id: &str, reason: &'static str) -> Vec<Deletion> {
        vec![Deletion {
            gone: Gone::Item(id.into()),
            reason,
        }]
    }

    #[test]
    fn slack_message_deleted() {
        let v = json!({"team_id": "T1", "event": {"type": "message", "subtype": "message_deleted",
            "channel": "C0SANDBOX1", "ts": "1700000100.000200", "deleted_ts": "1700000003.000003",
            "hidden": true}});
        assert_eq!(
            deletions(Platform::Slack, Some("message"), &v),
            item("C0SANDBOX1:1700000003.000003", "slack: message deleted")
        );
    }

    #[test]
    fn slack_channel_deleted() {
        let v = json!({"event": {"type": "channel_deleted", "channel": "C024BE91L"}});
        assert_eq!(
            deletions(Platform::Slack, Some("channel_deleted"), &v),
            vec![Deletion {
                gone: Gone::Prefix("C024BE91L:".into()),
                reason: "slack: channel deleted"
            }]
        );
    }

    #[test]
    fn slack_other_events_and_malformed() {
        let none = |t: &str, v: Value| {
            assert!(
                deletions(Platform::Slack, Some(t), &v).is_empty(),
                "{t} {v}"
            )
        };
        // A message without subtype, or another subtype, deletes nothing.
        none(
            "message",
            json!({"event": {"type": "message", "channel": "C1", "ts": "1.2"}}),
        );
        none(
            "message",
            json!({"event": {"type": "message", "subtype": "message_changed", "channel": "C1",
                "deleted_ts": "1.2"}}),
        );
        // Missing or mistyped fields.
        none(
            "message",
            json!({"event": {"subtype": "message_deleted", "channel": "C1"}}),
        );
        none(
            "message",
            json!({"event": {"subtype": "message_deleted", "deleted_ts": "1.2"}}),
        );
        none(
            "message",
            json!({"event": {"subtype": "message_deleted", "channel": 5, "deleted_ts": "1.2"}}),
        );
        none(
            "message",
            json!({"event": {"subtype": "message_deleted", "channel": "C1", "deleted_ts": 1.2}}),
        );
        none("message", json!({"event": "message"}));
        none("message", json!([]));
        // A channel id that is empty or not a channel id never becomes a prefix.
        none(
            "channel_deleted",
            json!({"event": {"type": "channel_deleted", "channel": ""}}),
        );
        none(
            "channel_deleted",
            json!({"event": {"type": "channel_deleted", "channel": "C1:x"}}),
        );
        none(
            "channel_deleted",
            json!({"event": {"type": "channel_deleted", "channel": {"id": "C1"}}}),
        );
        none(
            "channel_created",
            json!({"event": {"type": "channel_created", "channel": "C1"}}),
        );
        assert!(deletions(Platform::Slack, None, &json!({"event": {"channel": "C1"}})).is_empty());
    }

    #[test]
    fn notion_page_deleted() {
        let id = "153104cd-477e-809d-8dc4-ff2d96ae3090";
        let v = json!({"id": "e1", "type": "page.deleted", "workspace_id": "w",
            "entity": {"id": id, "type": "page"}, "data": {"parent": {"id": "p", "type": "space"}}});
        assert_eq!(
            deletions(Platform::Notion, Some("page.deleted"), &v),
            item(id, "notion: page deleted")
        );
        let none = |t: &str, v: Value| {
            assert!(
                deletions(Platform::Notion, Some(t), &v).is_empty(),
                "{t} {v}"
            )
        };
        none(
            "page.deleted",
            json!({"type": "page.deleted", "entity": {"id": id, "type": "database"}}),
        );
        none(
            "page.deleted",
            json!({"type": "page.deleted", "entity": {"type": "page"}}),
        );
        none(
            "page.deleted",
            json!({"type": "page.deleted", "entity": {"id": 3, "type": "page"}}),
        );
        none(
            "page.deleted",
            json!({"type": "page.deleted", "entity": id}),
        );
        none(
            "page.created",
            json!({"type": "page.created", "entity": {"id": id, "type": "page"}}),
        );
        none(
            "page.undeleted",
            json!({"entity": {"id": id, "type": "page"}}),
        );
    }

    /// A Zoom recording event as the sandbox builds it from the Meetings webhooks' fields
    /// (https://developers.zoom.us/docs/api/meetings/events/ — `payload.object` is the meeting's
    /// recording with its `recording_files`).
    fn zoom(t: &str, files: &[&str]) -> Value {
        let files: Vec<Value> = files
            .iter()
            .map(|id| {
                json!({"id": id, "meeting_id": "4444AAAiAAAAAiAiAiiAii==",
                "file_type": "MP4", "status": "completed"})
            })
            .collect();
        json!({"event": t, "event_ts": 1_626_230_691_572_i64, "payload": {"account_id": "a",
            "operator": "admin@example.com", "operator_id": "z8yCxjabcdEFGHfp8uQ",
            "object": {"uuid": "4444AAAiAAAAAiAiAiiAii==", "id": 6840331990_i64,
            "recording_count": files.len(), "recording_files": files}}})
    }

    #[test]
    fn zoom_recording_files_trashed_or_deleted() {
        for (t, reason) in [
            ("recording.deleted", "zoom: recording deleted"),
            ("recording.trashed", "zoom: recording trashed"),
        ] {
            assert_eq!(
                deletions(Platform::Zoom, Some(t), &zoom(t, &["f1", "f2"])),
                vec![Deletion {
                    gone: Gone::Emptied {
                        item: "4444AAAiAAAAAiAiAiiAii==".into(),
                        list: "recording_files",
                        parts: vec!["f1".into(), "f2".into()],
                    },
                    reason
                }],
                "{t}"
            );
            // No files named: nothing can be said to be gone.
            assert!(deletions(Platform::Zoom, Some(t), &zoom(t, &[])).is_empty());
        }
        // Recovered, completed, and a deleted meeting (its schedule: no recording named) are no
        // deletions of recordings.
        for t in [
            "recording.recovered",
            "recording.completed",
            "meeting.deleted",
        ] {
            assert!(
                deletions(Platform::Zoom, Some(t), &zoom(t, &["f1"])).is_empty(),
                "{t}"
            );
        }
        for bad in [
            json!({"event": "recording.deleted", "payload": {"object": {"recording_files": [{"id": "f1"}]}}}),
            json!({"event": "recording.deleted", "payload": {"object": {"uuid": 123, "recording_files": [{"id": "f1"}]}}}),
            json!({"event": "recording.deleted", "payload": {"object": {"uuid": "u", "recording_files": {"id": "f1"}}}}),
            json!({"event": "recording.deleted", "payload": {"object": {"uuid": "u", "recording_files": [{"id": 1}]}}}),
            json!({"event": "recording.deleted", "payload": "x"}),
            json!({"event": "recording.deleted"}),
        ] {
            assert!(
                deletions(Platform::Zoom, Some("recording.deleted"), &bad).is_empty(),
                "{bad}"
            );
        }
    }

    #[test]
    fn monday_item_deleted() {
        let with = |pulse: Value| json!({"event": {"type": "delete_pulse", "boardId": 7, "pulseId": pulse}});
        assert_eq!(
            deletions(Platform::Monday, Some("delete_pulse"), &with(json!(5003))),
            item("5003", "monday: item deleted")
        );
        assert_eq!(
            deletions(Platform::Monday, Some("delete_pulse"), &with(json!("5003"))),
            item("5003", "monday: item deleted")
        );
        let by_item = json!({"event": {"type": "delete_pulse", "itemId": 5004}});
        assert_eq!(
            deletions(Platform::Monday, Some("delete_pulse"), &by_item),
            item("5004", "monday: item deleted")
        );
        for bad in [
            with(json!(null)),
            with(json!("")),
            with(json!([1])),
            json!({"event": 1}),
        ] {
            assert!(
                deletions(Platform::Monday, Some("delete_pulse"), &bad).is_empty(),
                "{bad}"
            );
        }
        let created = json!({"event": {"type": "create_pulse", "pulseId": 5003}});
        assert!(deletions(Platform::Monday, Some("create_pulse"), &created).is_empty());
    }

    #[test]
    fn outlook_deleted_notifications() {
        let v = json!({"value": [
            {"subscriptionId": "s", "changeType": "deleted", "resource": "Users/u/Messages/AAMk1",
             "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "id": "AAMk1"}},
            {"subscriptionId": "s", "changeType": "created", "resourceData": {"id": "AAMk2"}},
            {"subscriptionId": "s", "changeType": "deleted"},
            {"subscriptionId": "s", "changeType": "deleted", "resourceData": {"id": 4}},
            {"subscriptionId": "s", "changeType": "deleted", "resourceData": {"id": "AAMk3"}},
        ]});
        let reason = "outlook: message deleted";
        let mut want = item("AAMk1", reason);
        want.extend(item("AAMk3", reason));
        assert_eq!(deletions(Platform::Outlook, None, &v), want);
        for bad in [json!({}), json!({"value": {}}), json!({"value": [1, "x"]})] {
            assert!(deletions(Platform::Outlook, None, &bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn every_deletion_event_type_is_listed() {
        let cases = [
            (Platform::Slack, "message"),
            (Platform::Slack, "channel_deleted"),
            (Platform::Notion, "page.deleted"),
            (Platform::Zoom, "recording.deleted"),
            (Platform::Zoom, "recording.trashed"),
            (Platform::Monday, "delete_pulse"),
        ];
        for (_, t) in cases {
            assert!(DELETION_EVENT_TYPES.contains(&t), "{t}");
        }
        assert_eq!(cases.len(), DELETION_EVENT_TYPES.len());
    }

    #[test]
    fn other_platforms_report_nothing() {
        let v = json!({"event": {"type": "message", "subtype": "message_deleted", "channel": "C1",
            "deleted_ts": "1.2"}, "type": "page.deleted", "entity": {"id": "x", "type": "page"}});
        for p in [
            Platform::Discord,
            Platform::Gmail,
            Platform::Fireflies,
            Platform::Otter,
            Platform::ZeroVoice,
        ] {
            for t in DELETION_EVENT_TYPES {
                assert!(deletions(p, Some(t), &v).is_empty(), "{p} {t}");
            }
            assert!(deletions(p, None, &v).is_empty(), "{p}");
        }
        // A deletion event type of another platform.
        assert!(deletions(Platform::Slack, Some("page.deleted"), &v).is_empty());
    }
}

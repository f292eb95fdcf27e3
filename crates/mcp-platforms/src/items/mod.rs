//! The item model: one readable shape for a synced record of any of the 13 platforms, so an
//! assistant reads a Gmail message, a Zoom recording's transcript and a Notion page alike.
//! `model` maps a listing record (`SyncItem::raw`, as stored today) and, when it has been
//! fetched, the platform's content answer into a `Model`; every field and its source per
//! platform is in docs/ITEMS.md.
//!
//! Pure mapping: no HTTP, no database, no clock. It must never fail or panic on what a
//! platform sent: a field it cannot read is left out, never guessed.

pub(crate) mod discord;
pub(crate) mod fields;
pub(crate) mod fireflies;
pub(crate) mod generic;
pub(crate) mod gmail;
pub(crate) mod monday;
pub(crate) mod notion;
pub(crate) mod outlook;
pub(crate) mod slack;
pub mod text;
pub(crate) mod zerovoice;
pub(crate) mod zoom;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The version of the model the mappings produce. A change to what `model` makes of a record
/// that is already stored (a field read from elsewhere, a conversion's rule) bumps it, and the
/// daemon's backfill models again every stored row of an older version
/// (`mcp.synced_items.model_version`).
pub const MODEL_VERSION: i16 = 1;

/// What an item is, one set for every platform. `as_str()` is its name in JSON and SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A chat message (Slack, Discord).
    Message,
    /// An email (Gmail, Outlook).
    Email,
    /// A meeting as scheduled or held, without a recording of it (no listing yields one yet).
    Meeting,
    /// A recording of a meeting or call (Zoom cloud recordings, Twilio recordings, Loom).
    Recording,
    /// A written record of what was said (Fireflies, Otter).
    Transcript,
    /// A unit of tracked work (a Monday board item).
    Task,
    /// A page or document (Notion).
    Document,
    /// A free-form note (Granola's meeting notes, ZeroDB's stored memories).
    Note,
    /// A phone or voice call as such (no listing yields one yet: Twilio's are recordings).
    Call,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Message,
        Kind::Email,
        Kind::Meeting,
        Kind::Recording,
        Kind::Transcript,
        Kind::Task,
        Kind::Document,
        Kind::Note,
        Kind::Call,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Email => "email",
            Kind::Meeting => "meeting",
            Kind::Recording => "recording",
            Kind::Transcript => "transcript",
            Kind::Task => "task",
            Kind::Document => "document",
            Kind::Note => "note",
            Kind::Call => "call",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Someone an item names: any of a display name, an address (email or phone) and the
/// platform's own id of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An email address or a phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The platform's id of the person (a Slack or Discord user id, a Notion user id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Person {
    /// A person from whichever parts are present and not blank; `None` when all are missing.
    pub fn new(
        name: Option<String>,
        address: Option<String>,
        id: Option<String>,
    ) -> Option<Person> {
        let keep = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let p = Person {
            name: keep(name),
            address: keep(address),
            id: keep(id),
        };
        (p.name.is_some() || p.address.is_some() || p.id.is_some()).then_some(p)
    }
}

/// One item as an assistant reads it, whatever platform it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub kind: Kind,
    /// Subject, topic, page title or item name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The plain text a person would read (see `text` for each conversion's rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Who wrote, sent, hosted or created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Person>,
    /// Recipients, attendees, speakers or mentioned people, without the author unless they
    /// are also named as one of those.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<Person>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
    /// Where a person opens it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What groups it with related items (a mail thread, a Slack thread, a channel, a board).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
}

impl Model {
    /// An empty model of a kind, for the mappings to fill in.
    pub fn empty(kind: Kind) -> Model {
        Model {
            kind,
            title: None,
            text: None,
            author: None,
            participants: Vec::new(),
            occurred_at: None,
            url: None,
            thread: None,
        }
    }
}

/// What a mapping needs beyond the record itself, from the integration that synced it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The integration's account (`core.integrations.external_account_id`). Discord: the
    /// guild the bot was installed in (its message links name the guild); Gmail: the mailbox's
    /// address (which signed-in account the link opens). Unused by the other mappings.
    pub account: Option<String>,
    /// The workspace's own web address, where a platform's links need it and its records do
    /// not carry it. Slack: `auth.test`'s `url` (`https://acme.slack.com/`), without which a
    /// message has no link; Monday: `https://<account slug>.monday.com`, used only when an
    /// item lacks its own `url`.
    pub web_base: Option<String>,
    /// The item's external id as stored (`SyncItem::external_id`). Slack's is
    /// `<channel>:<ts>`, and a `conversations.history` message names no channel itself.
    pub external_id: Option<String>,
}

/// `text` cut to at most `max_bytes` bytes at a character boundary; `true` when it was cut.
pub fn clip(text: &str, max_bytes: usize) -> (String, bool) {
    if text.len() <= max_bytes {
        return (text.to_string(), false);
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_string(), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::{model, Platform};
    use serde_json::json;

    #[test]
    fn every_kind_parses_back_from_its_name() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert_eq!(json!(k), json!(k.as_str()));
        }
        assert_eq!(Kind::parse("item"), None);
    }

    #[test]
    fn clip_cuts_at_a_character_boundary_and_says_so() {
        assert_eq!(clip("héllo", 10), ("héllo".to_string(), false));
        assert_eq!(clip("héllo", 6), ("héllo".to_string(), false));
        // "é" is bytes 1..3: a cut at 2 falls inside it.
        assert_eq!(clip("héllo", 2), ("h".to_string(), true));
        assert_eq!(clip("héllo", 3), ("hé".to_string(), true));
        assert_eq!(clip("日本", 0), (String::new(), true));
        assert_eq!(clip("", 0), (String::new(), false));
    }

    #[test]
    fn a_person_keeps_only_what_is_there() {
        assert_eq!(Person::new(None, Some("  ".into()), None), None);
        let p = Person::new(Some("Ada".into()), None, Some("U1".into())).expect("person");
        assert_eq!(json!(p), json!({"name": "Ada", "id": "U1"}));
    }

    #[test]
    fn a_model_round_trips_through_json_without_empty_fields() {
        let mut m = Model::empty(Kind::Email);
        m.title = Some("Hi".into());
        let v = serde_json::to_value(&m).expect("json");
        assert_eq!(v, json!({"kind": "email", "title": "Hi"}));
        let back: Model = serde_json::from_value(v).expect("model");
        assert_eq!(back, m);
    }

    #[test]
    fn mistyped_fields_are_left_out_on_every_platform() {
        let odd = json!({
            "id": {"x": 1}, "threadId": 7, "payload": {"parts": "x", "headers": 5, "body": []},
            "snippet": 3, "subject": [], "body": {"content": 9}, "from": "me", "toRecipients": {},
            "text": {"a": 1}, "ts": [], "files": "f", "user": 1, "thread_ts": false,
            "content": 12, "mentions": "m", "attachments": [1, "a", null], "author": 3,
            "topic": 1, "start_time": "not a time", "recording_files": {}, "uuid": null,
            "sentences": {"speaker_name": "x"}, "summary": "s", "participants": 4,
            "properties": [], "parent": {"type": "page_id"}, "blocks": "b",
            "column_values": [{"column": 1, "text": []}], "updates": [7], "board": "b",
            "transcriptions": "t", "duration": [], "vtt": 5, "date": "yesterday"
        });
        let ctx = Context {
            account: Some("41771983423143937".into()),
            web_base: Some("https://acme.example".into()),
            external_id: Some(":".into()),
        };
        for p in Platform::ALL {
            let m = model(p, &odd, Some(&odd), &ctx);
            assert_eq!(m.occurred_at, None, "{p}");
            assert!(m
                .participants
                .iter()
                .all(|x| x.name.is_some() || x.address.is_some() || x.id.is_some()));
        }
    }

    #[test]
    fn every_platform_maps_an_empty_record_without_failing() {
        for p in Platform::ALL {
            for raw in [json!({}), json!(null), json!([1, 2]), json!("x")] {
                let m = model(p, &raw, Some(&raw), &Context::default());
                assert!(m.text.is_none() || !m.text.as_deref().unwrap_or("").is_empty());
            }
        }
    }
}

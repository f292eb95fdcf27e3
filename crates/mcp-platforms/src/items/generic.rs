//! Otter, Loom, Granola, ZeroDB: platforms without public API documentation for what the
//! connector lists (`GET /v1/items`, an assumed shape; see docs/SYNC.md). A conservative
//! mapping from common field names, reading the content (a fuller record) before the listing
//! record: the kind from `kind`/`type` when it names one of ours, else the platform's; title
//! `title`/`name`/`subject`; text the `summary` then the first of `text`, `content`,
//! `transcript`, `notes`, `description` (a string, or a list of `{speaker, text}`); time
//! `created_at`, else `updated_at`, `date`; link `url`, `web_url`, `share_url`, `link` (http(s)
//! only); author `author`/`owner`/`creator`/`user` (an object with `name`, `email`, `id`, or
//! an email); participants `participants`/`attendees` (the same forms). Nothing is guessed
//! beyond these names.

use serde_json::Value;

use super::text::turns::{self, Turn};
use super::{fields, Kind, Model, Person};

pub fn model(raw: &Value, content: Option<&Value>, default: Kind) -> Model {
    let sources: Vec<&Value> = content
        .filter(|c| c.is_object())
        .into_iter()
        .chain(Some(raw).filter(|r| r.is_object()))
        .collect();
    let text_of = |ptrs: &[&str]| sources.iter().find_map(|s| fields::first_text(s, ptrs));
    let kind = text_of(&["/kind", "/type"])
        .and_then(|k| Kind::parse(&k.to_ascii_lowercase()))
        .unwrap_or(default);
    let mut m = Model::empty(kind);
    m.title = text_of(&["/title", "/name", "/subject"]);
    m.occurred_at = sources
        .iter()
        .find_map(|s| fields::first_time(s, &["/created_at", "/updated_at", "/date"]));
    m.url = text_of(&["/url", "/web_url", "/share_url", "/link"])
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"));
    m.author = sources.iter().find_map(|s| {
        ["author", "owner", "creator", "user"]
            .iter()
            .find_map(|k| person(s.get(*k)?))
    });
    m.participants = sources
        .iter()
        .find_map(|s| {
            ["participants", "attendees"]
                .iter()
                .find_map(|k| s.get(*k)?.as_array())
        })
        .map(|list| list.iter().filter_map(person).collect())
        .unwrap_or_default();
    let summary = text_of(&["/summary"]);
    let body = sources.iter().find_map(|s| {
        ["text", "content", "transcript", "notes", "description"]
            .iter()
            .find_map(|k| body(s.get(*k)?))
    });
    m.text = fields::sections([summary, body]);
    m
}

/// A person as an object (`name`, `email`, `id`) or a plain email address or name.
fn person(v: &Value) -> Option<Person> {
    match v {
        Value::String(s) if s.contains('@') => Person::new(None, Some(s.clone()), None),
        Value::String(s) => Person::new(Some(s.clone()), None, None),
        Value::Object(_) => Person::new(
            fields::first_text(v, &["/name", "/display_name"]),
            fields::first_text(v, &["/email", "/phone"]),
            fields::id(v, "/id"),
        ),
        _ => None,
    }
}

/// A text field: a string, or a list of `{speaker, text}` turns.
fn body(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => fields::tidy(s.trim()),
        Value::Array(items) => turns::render(items.iter().map(|t| Turn {
            speaker: fields::first_text(t, &["/speaker", "/speaker_name"]),
            words: fields::text(t, "/text").unwrap_or_default(),
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::model as map;
    use crate::connectors::Platform;
    use crate::items::Context;
    use serde_json::json;

    // No public API documentation describes these records: the shapes below only exercise
    // the common field names the mapping reads.
    #[test]
    fn common_field_names_are_read_and_nothing_else() {
        let raw = json!({"id": "n1", "title": "Design review", "updated_at": "2024-05-03T16:20:00Z",
            "created_at": "2024-05-03T15:00:00Z", "summary": "Agreed on the layout.",
            "transcript": [{"speaker": "Ann", "text": "Shall we?"}, {"speaker": "Ann", "text": "Yes."}],
            "url": "https://app.example/notes/n1", "owner": {"name": "Ann", "email": "ann@example.com"},
            "attendees": ["bo@example.com", {"name": "Cy"}], "secret_field": "ignored"});
        let m = map(Platform::Granola, &raw, None, &Context::default());
        assert_eq!(m.kind, Kind::Note);
        assert_eq!(m.title.as_deref(), Some("Design review"));
        assert_eq!(
            m.text.as_deref(),
            Some("Agreed on the layout.\n\nAnn: Shall we? Yes.")
        );
        assert_eq!(
            m.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-05-03T15:00:00+00:00")
        );
        assert_eq!(m.url.as_deref(), Some("https://app.example/notes/n1"));
        assert_eq!(
            m.author.and_then(|p| p.address).as_deref(),
            Some("ann@example.com")
        );
        assert_eq!(m.participants.len(), 2);
        assert_eq!(m.thread, None);
    }

    #[test]
    fn each_platform_has_its_default_kind_and_a_named_kind_wins() {
        let raw = json!({"name": "x"});
        let kinds: Vec<Kind> = [
            Platform::Otter,
            Platform::Loom,
            Platform::Granola,
            Platform::ZeroDb,
        ]
        .into_iter()
        .map(|p| map(p, &raw, None, &Context::default()).kind)
        .collect();
        assert_eq!(
            kinds,
            [Kind::Transcript, Kind::Recording, Kind::Note, Kind::Note]
        );
        let typed = json!({"type": "Document", "link": "javascript:alert(1)"});
        let m = map(
            Platform::ZeroDb,
            &typed,
            Some(&json!({"text": "  body  "})),
            &Context::default(),
        );
        assert_eq!(m.kind, Kind::Document);
        assert_eq!(m.text.as_deref(), Some("body"));
        assert_eq!(m.url, None);
    }
}

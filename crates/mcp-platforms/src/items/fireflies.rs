//! Fireflies. The listing stores `transcripts { id title date }` entries; the content is the
//! GraphQL `transcript(id:)` object (https://docs.fireflies.ai/graphql-api/query/transcript,
//! fields per https://docs.fireflies.ai/schema/transcript: `sentences[]` with `speaker_name`
//! and `text`, `summary` with `overview` and `action_items`, `participants` (emails),
//! `meeting_attendees`, `organizer_email`, `transcript_url`, `date` in ms since the epoch);
//! the whole GraphQL answer (`{"data": {"transcript": …}}`) is read too. The text is the
//! summary's overview and action items, then the sentences as "Speaker: words" lines.

use serde_json::Value;

use super::text::turns::{self, Turn};
use super::{fields, Kind, Model, Person};

pub fn model(raw: &Value, content: Option<&Value>) -> Model {
    let t = content
        .map(|c| c.pointer("/data/transcript").unwrap_or(c))
        .filter(|c| c.is_object())
        .unwrap_or(raw);
    let mut m = Model::empty(Kind::Transcript);
    m.title = fields::text(t, "/title").or_else(|| fields::text(raw, "/title"));
    m.occurred_at =
        fields::first_time(t, &["/date", "/dateString"]).or_else(|| fields::time(raw, "/date"));
    m.url = fields::text(t, "/transcript_url");
    m.author = Person::new(
        None,
        fields::first_text(t, &["/organizer_email", "/host_email"]),
        None,
    );
    let spoken: Vec<Turn> = fields::array(t, "/sentences")
        .iter()
        .map(|s| Turn {
            speaker: fields::text(s, "/speaker_name"),
            words: fields::text(s, "/text").unwrap_or_default(),
        })
        .collect();
    m.participants = participants(t, &spoken);
    let summary = fields::text(t, "/summary/overview").map(|o| format!("Summary:\n{o}"));
    let actions = fields::text(t, "/summary/action_items").map(|a| format!("Action items:\n{a}"));
    m.text = fields::sections([summary, actions, turns::render(spoken)]);
    m
}

/// Attendees (name and email), else the `participants` emails (an entry may hold several,
/// comma-separated), then speakers whose name no attendee has.
fn participants(t: &Value, spoken: &[Turn]) -> Vec<Person> {
    let mut people: Vec<Person> = fields::array(t, "/meeting_attendees")
        .iter()
        .filter_map(|a| {
            Person::new(
                fields::first_text(a, &["/displayName", "/name"]),
                fields::first_text(a, &["/email", "/phoneNumber"]),
                None,
            )
        })
        .collect();
    if people.is_empty() {
        people = fields::array(t, "/participants")
            .iter()
            .filter_map(Value::as_str)
            .flat_map(|s| s.split(','))
            .filter_map(|e| Person::new(None, Some(e.to_string()), None))
            .collect();
    }
    for name in turns::speakers(spoken) {
        if !people
            .iter()
            .any(|p| p.name.as_deref() == Some(name.as_str()))
        {
            people.extend(Person::new(Some(name), None, None));
        }
    }
    people
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // https://docs.fireflies.ai/graphql-api/query/transcript: the documented answer is
    // `{"data": {"transcript": {"title": "Weekly sync", "id": "transcript-id"}}}`; the other
    // fields are those of https://docs.fireflies.ai/schema/transcript,
    // https://docs.fireflies.ai/schema/sentence and https://docs.fireflies.ai/schema/summary
    // (Fireflies shows no values for them: these are ours).
    const TRANSCRIPT: &str = r#"{"data": {"transcript": {
        "title": "Weekly sync",
        "id": "transcript-id",
        "date": 1700000000000,
        "duration": 31.5,
        "organizer_email": "maya@example.com",
        "host_email": "maya@example.com",
        "participants": ["maya@example.com,leo@example.com", "sam@example.com"],
        "transcript_url": "https://app.fireflies.ai/view/transcript-id",
        "speakers": [{"id": 0, "name": "Maya"}, {"id": 1, "name": "Leo"}],
        "sentences": [
            {"index": 0, "speaker_name": "Maya", "speaker_id": 0, "text": "Let's start with the launch.",
             "raw_text": "let's start with the launch", "start_time": 0.5, "end_time": 2.1},
            {"index": 1, "speaker_name": "Maya", "speaker_id": 0, "text": "Where are we?",
             "raw_text": "where are we", "start_time": 2.2, "end_time": 3.0},
            {"index": 2, "speaker_name": "Leo", "speaker_id": 1, "text": "Docs are done; QA finishes Friday.",
             "raw_text": "docs are done qa finishes friday", "start_time": 3.4, "end_time": 6.0},
            {"index": 3, "speaker_name": "Maya", "speaker_id": 0, "text": "Great.",
             "raw_text": "great", "start_time": 6.3, "end_time": 6.6}
        ],
        "summary": {
            "keywords": ["launch", "QA"],
            "action_items": "Leo: send the QA report on Friday",
            "overview": "The team reviewed launch readiness: docs are complete and QA ends Friday."
        }
    }}}"#;

    #[test]
    fn the_summary_comes_first_then_who_said_what() {
        let content: Value = serde_json::from_str(TRANSCRIPT).expect("fixture");
        let listed =
            json!({"id": "transcript-id", "title": "Weekly sync", "date": 1700000000000u64});
        let m = model(&listed, Some(&content));
        assert_eq!(m.kind, Kind::Transcript);
        assert_eq!(m.title.as_deref(), Some("Weekly sync"));
        assert_eq!(
            m.text.as_deref(),
            Some(
                "Summary:\nThe team reviewed launch readiness: docs are complete and QA ends Friday.\n\n\
                 Action items:\nLeo: send the QA report on Friday\n\n\
                 Maya: Let's start with the launch. Where are we?\n\
                 Leo: Docs are done; QA finishes Friday.\nMaya: Great."
            )
        );
        assert_eq!(
            m.author.and_then(|p| p.address).as_deref(),
            Some("maya@example.com")
        );
        let who: Vec<String> = m
            .participants
            .iter()
            .map(|p| p.address.clone().or(p.name.clone()).unwrap_or_default())
            .collect();
        assert_eq!(
            who,
            [
                "maya@example.com",
                "leo@example.com",
                "sam@example.com",
                "Maya",
                "Leo"
            ]
        );
        assert_eq!(
            m.url.as_deref(),
            Some("https://app.fireflies.ai/view/transcript-id")
        );
        assert_eq!(m.occurred_at.map(|t| t.timestamp()), Some(1_700_000_000));
    }

    #[test]
    fn the_listing_alone_gives_title_and_time() {
        let listed =
            json!({"id": "transcript-id", "title": "Weekly sync", "date": 1700000000000u64});
        let m = model(&listed, None);
        assert_eq!(m.title.as_deref(), Some("Weekly sync"));
        assert_eq!(m.occurred_at.map(|t| t.timestamp()), Some(1_700_000_000));
        assert_eq!((m.text, m.url), (None, None));
    }
}

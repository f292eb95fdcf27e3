use super::*;
use crate::items::Context;
use serde_json::json;

// A `users.messages.get?format=full` answer in the shape of Google's `Message` and
// `MessagePart` resources
// (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages#Message,
// https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages#MessagePart;
// Google shows the schema, not a sample, so the values are ours): multipart/mixed holding a
// multipart/alternative (a text/plain part in ISO-8859-1 still quoted-printable, a UTF-8 HTML
// part whose transfer encoding Gmail already undid), a windows-1252 text part and a PDF
// attachment; RFC 2047 encoded Subject and From.
const MULTIPART: &str = include_str!("fixtures/gmail_multipart.json");
// The same shape: a text/plain stub ("best viewed in … HTML") beside the HTML part that
// holds the message; "quinoa" is only in the HTML part.
const HTML_ONLY_WORD: &str = include_str!("fixtures/gmail_html_only_word.json");

fn fixture(s: &str) -> Value {
    serde_json::from_str(s).expect("fixture")
}

#[test]
fn a_full_message_reads_as_an_email_with_its_parts_decoded() {
    let full = fixture(MULTIPART);
    let listed = json!({"id": "18bcfe8e2f1c2a44", "threadId": "18bcfe8e2f1c2a44"});
    let ctx = Context {
        account: Some("team@example.com".into()),
        ..Context::default()
    };
    let m = model(&listed, Some(&full), &ctx);
    assert_eq!(m.kind, Kind::Email);
    assert_eq!(m.title.as_deref(), Some("Menu du vendredi à midi"));
    assert_eq!(
        m.author,
        Person::new(
            Some("Renée Dupont".into()),
            Some("renee@example.com".into()),
            None
        )
    );
    let to: Vec<(Option<&str>, Option<&str>)> = m
        .participants
        .iter()
        .map(|p| (p.name.as_deref(), p.address.as_deref()))
        .collect();
    assert_eq!(
        to,
        [
            (None, Some("team@example.com")),
            (Some("Doe, Jane"), Some("jane@example.com")),
            (None, Some("bob@example.com")),
        ]
    );
    assert_eq!(
        m.text.as_deref(),
        Some(
            "Café menu for Friday: crème brûlée and a long line.\n\n\
             Price: 5 € – per person.\n\n[attachment: report.pdf]"
        )
    );
    assert_eq!(
        m.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2023-11-14T22:13:20+00:00"),
        "internalDate, not the Date header"
    );
    assert_eq!(m.thread.as_deref(), Some("18bcfe8e2f1c2a44"));
    assert_eq!(
        m.url.as_deref(),
        Some("https://mail.google.com/mail/?authuser=team%40example.com#all/18bcfe8e2f1c2a44")
    );
}

#[test]
fn the_plain_alternative_is_preferred_when_it_carries_the_message() {
    let m = model(&json!({}), Some(&fixture(MULTIPART)), &Context::default());
    let text = m.text.unwrap_or_default();
    assert!(
        !text.contains("appétit"),
        "the HTML alternative was shown: {text}"
    );
}

#[test]
fn a_word_only_in_the_html_part_is_in_the_text_when_the_plain_part_is_a_stub() {
    let m = model(
        &json!({}),
        Some(&fixture(HTML_ONLY_WORD)),
        &Context::default(),
    );
    let text = m.text.unwrap_or_default();
    assert!(text.contains("a bag of red quinoa"), "{text}");
    assert!(text.starts_with("## Weekly farm box"), "{text}");
    assert!(!text.contains("padding"), "{text}");
    assert!(text.contains("https://farm.example/box"), "{text}");
    assert_eq!(m.title.as_deref(), Some("Your farm box this week"));
    assert_eq!(
        m.author.and_then(|p| p.name).as_deref(),
        Some("Green Valley Farm")
    );
    assert_eq!(
        m.url.as_deref(),
        Some("https://mail.google.com/mail/u/0/#all/18bd0f3a9c7e1b20")
    );
}

#[test]
fn a_listed_message_without_content_has_its_thread_and_link() {
    let listed = json!({"id": "18bcfe8e2f1c2a44", "threadId": "18bcfe8e2f1a0000"});
    let m = model(&listed, None, &Context::default());
    assert_eq!(m.thread.as_deref(), Some("18bcfe8e2f1a0000"));
    assert_eq!(
        m.url.as_deref(),
        Some("https://mail.google.com/mail/u/0/#all/18bcfe8e2f1c2a44")
    );
    assert_eq!((m.title, m.text, m.author), (None, None, None));
}

#[test]
fn without_a_payload_the_snippet_is_the_text_and_the_date_header_the_time() {
    let content = json!({"id": "a1", "snippet": "It&#39;s here &amp; ready",
        "payload": {"mimeType": "text/plain", "headers": [
            {"name": "Date", "value": "Tue, 14 Nov 2023 22:13:20 +0000"}], "body": {"size": 0}}});
    let m = model(&json!({}), Some(&content), &Context::default());
    assert_eq!(m.text.as_deref(), Some("It's here & ready"));
    assert_eq!(m.occurred_at.map(|t| t.timestamp()), Some(1_700_000_000));
}

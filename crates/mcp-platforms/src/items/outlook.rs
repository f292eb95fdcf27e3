//! Outlook (Microsoft Graph). The inbox delta listing stores each `message` resource
//! (https://learn.microsoft.com/en-us/graph/api/resources/message); asked with
//! `$select=subject,from,toRecipients,ccRecipients,receivedDateTime,body,bodyPreview,
//! conversationId,webLink` it carries the body itself, so there is no separate content: a
//! `content` given is read as a fuller copy of the same message. `body.contentType` `html`
//! is turned into text, `text` (asked with `Prefer: outlook.body-content-type="text"`) kept;
//! without `body`, `bodyPreview` (its first 255 characters).

use serde_json::Value;

use super::text::html;
use super::{fields, Kind, Model, Person};

pub fn model(raw: &Value, content: Option<&Value>) -> Model {
    let msg = content.filter(|c| c.is_object()).unwrap_or(raw);
    let mut m = Model::empty(Kind::Email);
    m.title = fields::text(msg, "/subject");
    m.author = recipient(msg.pointer("/from")).or_else(|| recipient(msg.pointer("/sender")));
    m.participants = ["/toRecipients", "/ccRecipients"]
        .iter()
        .flat_map(|p| fields::array(msg, p))
        .filter_map(|r| recipient(Some(r)))
        .collect();
    m.occurred_at = fields::first_time(msg, &["/receivedDateTime", "/sentDateTime"]);
    m.text = body(msg).or_else(|| fields::text(msg, "/bodyPreview").and_then(|s| fields::tidy(&s)));
    m.url = fields::text(msg, "/webLink");
    m.thread = fields::text(msg, "/conversationId");
    m
}

/// A `recipient` (`{"emailAddress": {"name", "address"}}`).
fn recipient(r: Option<&Value>) -> Option<Person> {
    let r = r?;
    Person::new(
        fields::text(r, "/emailAddress/name"),
        fields::text(r, "/emailAddress/address"),
        None,
    )
}

/// The `body` (an `itemBody`: `contentType` `html` or `text`, `content`).
fn body(msg: &Value) -> Option<String> {
    let content = msg.pointer("/body/content").and_then(Value::as_str)?;
    match fields::text(msg, "/body/contentType") {
        Some(t) if t.eq_ignore_ascii_case("html") => html::to_text(content),
        _ => fields::tidy(content),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // https://learn.microsoft.com/en-us/graph/api/message-get?view=graph-rest-1.0&tabs=http#example-1-get-a-specific-message
    // (the example response, as the delta listing stores a message).
    const GET_MESSAGE: &str = r#"{
        "@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('7f180cbb-a5ae-457c-b7e8-6f5b42ba33e7')/messages/$entity",
        "@odata.etag":"W/\"CQAAABYAAAC4ofQHEIqCSbQPot83AFcbAAAnjjuZ\"",
        "id":"AAMkADhMGAAA=",
        "createdDateTime":"2018-09-09T03:15:05Z",
        "lastModifiedDateTime":"2018-09-09T03:15:08Z",
        "changeKey":"CQAAABYAAAC4ofQHEIqCSbQPot83AFcbAAAnjjuZ",
        "categories":[],
        "receivedDateTime":"2018-09-09T03:15:08Z",
        "sentDateTime":"2018-09-09T03:15:06Z",
        "hasAttachments":false,
        "internetMessageId":"<MWHPR6E1BE060@MWHPR1120.namprd22.prod.outlook.com>",
        "subject":"9/9/2018: concert",
        "bodyPreview":"The group represents Nevada.",
        "importance":"normal",
        "parentFolderId":"AAMkADcbAAAAAAEJAAA=",
        "conversationId":"AAQkADOUpag6yWs=",
        "isDeliveryReceiptRequested":false,
        "isReadReceiptRequested":false,
        "isRead":true,
        "isDraft":false,
        "webLink":"https://outlook.office365.com/owa/?ItemID=AAMkADMGAAA%3D&exvsurl=1&viewmodel=ReadMessageItem",
        "inferenceClassification":"focused",
        "body":{
            "contentType":"html",
            "content":"<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n<meta content=\"text/html; charset=us-ascii\">\r\n</head>\r\n<body>\r\nThe group represents Nevada.\r\n</body>\r\n</html>\r\n"
        },
        "sender":{"emailAddress":{"name":"Adele Vance","address":"adelev@contoso.OnMicrosoft.com"}},
        "from":{"emailAddress":{"name":"Adele Vance","address":"adelev@contoso.OnMicrosoft.com"}},
        "toRecipients":[{"emailAddress":{"name":"Alex Wilber","address":"AlexW@contoso.OnMicrosoft.com"}}],
        "ccRecipients":[],
        "bccRecipients":[],
        "replyTo":[],
        "flag":{"flagStatus":"notFlagged"}
    }"#;

    // https://learn.microsoft.com/en-us/graph/api/message-get?view=graph-rest-1.0&tabs=http#example-3-get-the-body-and-uniquebody-of-the-specified-message-in-text-format
    // (the body asked as text; the example's surrogate-pair emoji kept as written).
    const TEXT_BODY: &str = r#"{
        "@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('cd209b0b-3f83-4c35-82d2-d88a61820480')/messages(subject,body,bodyPreview,uniqueBody)/$entity",
        "@odata.etag":"W/\"CQAAABYAAABmWdbhEgBXTophjCWt81m9AAAoZYj4\"",
        "id":"AAMkAGI1AAAoZCfHAAA=",
        "subject":"Welcome to our group!",
        "bodyPreview":"Welcome to our group, Dana! Hope you will enjoy working with us !\r\n\r\nWould you like to choose a day for our orientation from the available times below:\r\n\r\n\r\nDate\r\n        Time\r\n\r\nApril 14, 2017\r\n        1-3pm\r\n\r\nApril 21, 2017\r\n        10-12noon\r\n\r\n\r\n\r\nTh",
        "body":{
            "contentType":"text",
            "content":"Welcome to our group, Dana! Hope you will enjoy working with us [\ud83d\ude0a] [\ud83d\ude0a] [\ud83d\ude0a] [\ud83d\ude0a] [\ud83d\ude0a] !\r\n\r\nWould you like to choose a day for our orientation from the available times below:\r\n\r\n\r\nDate\r\n        Time\r\n\r\nApril 14, 2017\r\n        1-3pm\r\n\r\nApril 21, 2017\r\n        10-12noon\r\n\r\n\r\n\r\nThanks!\r\n\r\n"
        }
    }"#;

    #[test]
    fn an_html_body_becomes_text_and_the_message_its_fields() {
        let raw: Value = serde_json::from_str(GET_MESSAGE).expect("fixture");
        let m = model(&raw, None);
        assert_eq!(m.kind, Kind::Email);
        assert_eq!(m.title.as_deref(), Some("9/9/2018: concert"));
        assert_eq!(m.text.as_deref(), Some("The group represents Nevada."));
        assert_eq!(
            m.author,
            Person::new(
                Some("Adele Vance".into()),
                Some("adelev@contoso.OnMicrosoft.com".into()),
                None
            )
        );
        assert_eq!(m.participants.len(), 1);
        assert_eq!(m.participants[0].name.as_deref(), Some("Alex Wilber"));
        assert_eq!(
            m.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2018-09-09T03:15:08+00:00")
        );
        assert_eq!(m.thread.as_deref(), Some("AAQkADOUpag6yWs="));
        assert_eq!(
            m.url.as_deref(),
            Some("https://outlook.office365.com/owa/?ItemID=AAMkADMGAAA%3D&exvsurl=1&viewmodel=ReadMessageItem")
        );
    }

    #[test]
    fn a_text_body_is_kept_with_its_blank_lines_collapsed() {
        let raw: Value = serde_json::from_str(TEXT_BODY).expect("fixture");
        let text = model(&raw, None).text.unwrap_or_default();
        assert!(
            text.starts_with(
                "Welcome to our group, Dana! Hope you will enjoy working with us [😊]"
            ),
            "{text}"
        );
        assert!(text.ends_with("        10-12noon\n\nThanks!"), "{text}");
        assert!(!text.contains("\n\n\n"), "{text}");
    }

    #[test]
    fn without_a_body_the_preview_is_the_text() {
        let raw = json!({"subject": "Holiday hours update", "bodyPreview": "We close at noon.",
            "sender": {"emailAddress": {"name": "Dana Swope", "address": "danas@contoso.com"}}});
        let m = model(&raw, None);
        assert_eq!(m.text.as_deref(), Some("We close at noon."));
        assert_eq!(
            m.author.and_then(|p| p.address).as_deref(),
            Some("danas@contoso.com")
        );
    }
}

//! Graph's `message` resource (https://learn.microsoft.com/en-us/graph/api/resources/message)
//! as the inbox delta listing carries it: subject, sender and recipients, times, an HTML
//! `body` and its `bodyPreview`, conversation and web link. `$select` keeps the properties it
//! names (`id` always), as Graph does for delta
//! (https://learn.microsoft.com/en-us/graph/api/message-delta: "The id property is always
//! returned"); without it, every property here. Test double only.

use serde_json::{json, Map, Value};

/// The word only a message's HTML `body` holds (its `bodyPreview` is the body's text).
pub const BODY_WORD: &str = "heron";

fn address(name: &str, address: &str) -> Value {
    json!({"emailAddress": {"name": name, "address": address}})
}

/// Message `i` of `login`'s inbox, with only the `select`ed properties (all without).
pub fn message(i: u64, login: &str, select: Option<&[String]>) -> Value {
    let id = format!("AAMk{i:08}");
    let text = format!("Quarterly notes {i}: the {BODY_WORD} survey is done, the report follows.");
    let all = json!({
        "id": id,
        "subject": format!("mail {i}"),
        "receivedDateTime": "2025-01-01T00:00:00Z",
        "sentDateTime": "2025-01-01T00:00:00Z",
        "hasAttachments": false,
        "internetMessageId": format!("<{id}@sandbox.test>"),
        "importance": "normal",
        "isRead": false,
        "conversationId": format!("AAQk-conv-{}", i / 2),
        "webLink": format!("https://outlook.office365.com/owa/?ItemID={id}&exvsurl=1&viewmodel=ReadMessageItem"),
        "bodyPreview": text,
        "body": {"contentType": "html", "content": format!(
            "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head>\
             <body><p>Quarterly notes {i}: the <b>{BODY_WORD}</b> survey is done,</p>\
             <p>the report follows.</p></body></html>")},
        "sender": address("Dana Swope", "dana@sandbox.test"),
        "from": address("Dana Swope", "dana@sandbox.test"),
        "toRecipients": [address(login, &format!("{login}@sandbox.test"))],
        "ccRecipients": [address("Team", "team@sandbox.test")],
    });
    let Some(select) = select else {
        return all;
    };
    let mut kept = Map::new();
    if let Value::Object(props) = all {
        for (k, v) in props {
            if k == "id" || select.iter().any(|s| s.eq_ignore_ascii_case(&k)) {
                kept.insert(k, v);
            }
        }
    }
    Value::Object(kept)
}

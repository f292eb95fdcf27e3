//! Gmail. The listing stores `messages.list`/`history.list` entries (`id`, `threadId`, at
//! most `labelIds`); the content is the `users.messages.get?format=full` answer (a `Message`:
//! https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages#Message).
//! Subject, From, To, Cc and Date come from `payload.headers`, read by `mail-parser`; the
//! text from the MIME tree (`text::mime`), else the `snippet`.

use chrono::DateTime;
use mail_parser::{Addr, Address};
use serde_json::Value;

use super::text::{mime, vtt};
use super::{fields, Context, Kind, Model, Person};

pub fn model(raw: &Value, content: Option<&Value>, ctx: &Context) -> Model {
    let msg = content.filter(|c| c.is_object()).unwrap_or(raw);
    let mut m = Model::empty(Kind::Email);
    let id = fields::id(msg, "/id").or_else(|| fields::id(raw, "/id"));
    m.thread = fields::text(msg, "/threadId").or_else(|| fields::text(raw, "/threadId"));
    let headers = mime::parse_headers(fields::array(msg, "/payload/headers"));
    let mut sent = None;
    if let Some(h) = &headers {
        m.title = h
            .subject()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from);
        m.author = h.from().and_then(|a| people(a).into_iter().next());
        m.participants = [h.to(), h.cc()]
            .into_iter()
            .flatten()
            .flat_map(people)
            .collect();
        sent = h
            .date()
            .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0));
    }
    // `internalDate`: when Gmail accepted the message (ms since epoch), its inbox order.
    m.occurred_at = fields::time(msg, "/internalDate").or(sent);
    m.text = msg
        .get("payload")
        .and_then(mime::payload_text)
        .or_else(|| fields::text(msg, "/snippet").map(|s| vtt::decode_references(&s)));
    m.url = id.map(|id| link(&id, ctx));
    m
}

fn people(a: &Address<'_>) -> Vec<Person> {
    a.iter().filter_map(person).collect()
}

fn person(a: &Addr<'_>) -> Option<Person> {
    Person::new(
        a.name().map(String::from),
        a.address().map(String::from),
        None,
    )
}

/// Gmail's web link to a message. Google documents none; `#all/<message id>` is the form the
/// web client opens (the API's id is the web client's hex message id). With the mailbox's
/// address the link names the signed-in account (`authuser`), else the first one (`u/0`).
fn link(id: &str, ctx: &Context) -> String {
    match ctx.account.as_deref().filter(|a| a.contains('@')) {
        Some(address) => {
            let who: String = url::form_urlencoded::byte_serialize(address.as_bytes()).collect();
            format!("https://mail.google.com/mail/?authuser={who}#all/{id}")
        }
        None => format!("https://mail.google.com/mail/u/0/#all/{id}"),
    }
}

#[cfg(test)]
#[path = "gmail_tests.rs"]
mod tests;

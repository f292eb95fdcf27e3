//! What a platform's module makes of a verified webhook event, in the types the webhook intake
//! (`crate::webhooks`) stores and acts on: a handshake to answer, the refusal of a body that is
//! not what the platform sends, the deletions an event reports, and the small readers of JSON
//! fields they share. Pure; never logs a body.

use ::http::StatusCode;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Why a delivery is refused; `outcome()` is its `mcp_webhook_events_total` label.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("signature refused: {0}")]
    BadSignature(&'static str),
    #[error("signed timestamp outside the replay window")]
    Stale,
    #[error("body is not what the platform sends")]
    Malformed,
}

impl Refusal {
    pub fn outcome(&self) -> &'static str {
        match self {
            Refusal::BadSignature(_) => "bad_signature",
            Refusal::Stale => "stale",
            Refusal::Malformed => "malformed",
        }
    }
}

/// The answer to a handshake, exactly as the platform expects it: its status (200, or 204 with
/// an empty body for Discord's webhook-events PING), content type and body.
#[derive(Debug, PartialEq, Eq)]
pub struct Handshake {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

/// A handshake answered 200 with a JSON body.
pub fn json_handshake(v: Value) -> Handshake {
    Handshake {
        status: StatusCode::OK,
        content_type: "application/json",
        body: v.to_string(),
    }
}

/// What a platform reads in a verified body: a handshake, or an event with the platform's own
/// id of it (the dedup key; `None`: the body's hash) and its type.
#[derive(Debug)]
pub enum Read {
    Answer(Handshake),
    Event {
        id: Option<String>,
        event_type: Option<String>,
    },
}

/// What a deletion removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gone {
    /// The item with this external id.
    Item(String),
    /// Every item whose external id starts with this.
    Prefix(String),
    /// The item with external id `item`, only if its stored `raw` has an array `list` and every
    /// element's `id` is one of `parts`: the event names some parts, and the item is gone only
    /// when they were all it held.
    Emptied {
        item: String,
        list: &'static str,
        parts: Vec<String>,
    },
}

/// One deletion an event reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub gone: Gone,
    /// What the platform said, e.g. `slack: message deleted`.
    pub reason: &'static str,
}

/// At most one deletion.
pub fn one(gone: Option<Gone>, reason: &'static str) -> Vec<Deletion> {
    gone.map(|gone| Deletion { gone, reason })
        .into_iter()
        .collect()
}

/// The string at a JSON pointer, as it is (even empty).
pub fn str_of<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// A non-empty string at a JSON pointer.
pub fn str_at(v: &Value, ptr: &str) -> Option<String> {
    str_of(v, ptr).filter(|s| !s.is_empty()).map(String::from)
}

/// The first of `ptrs` that holds a string, as it is.
pub fn first_str(v: &Value, ptrs: &[&str]) -> Option<String> {
    ptrs.iter().find_map(|p| str_of(v, p)).map(String::from)
}

/// The distinct scalar ids (strings or numbers, `http::json_id`) at `ptrs`, in order.
pub fn ids_at(v: &Value, ptrs: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = Vec::with_capacity(2);
    for ptr in ptrs {
        if let Some(a) = super::http::json_id(v, ptr) {
            if !found.contains(&a) {
                found.push(a);
            }
        }
    }
    found
}

/// A channel id as the Slack connector keeps them (ASCII letters and digits, not empty).
pub fn is_channel_id(c: &str) -> bool {
    !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// HMAC-SHA256 of the concatenated `parts`.
pub fn hmac_sha256(secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail here.
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret) else {
        return Vec::new();
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

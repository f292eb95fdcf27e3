//! What a verified body is: a handshake to answer (and store nothing), or an event with the key
//! that deduplicates its repeated deliveries — the platform's event id where there is one, else
//! the body's SHA-256. Runs only after verification; never logs the body.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{hmac_sha256, Refusal};
use crate::connectors::Platform;

/// The answer to a handshake, exactly as the platform expects it.
#[derive(Debug, PartialEq, Eq)]
pub struct Handshake {
    pub content_type: &'static str,
    pub body: String,
}

#[derive(Debug)]
pub enum Parsed {
    Handshake(Handshake),
    Event {
        dedup_key: String,
        event_type: Option<String>,
        payload: Value,
        body_sha256: Vec<u8>,
    },
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// A scalar field as text (ids come as strings or numbers).
fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    match cur {
        Value::String(x) if !x.is_empty() => Some(x.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn json_handshake(v: Value) -> Parsed {
    Parsed::Handshake(Handshake {
        content_type: "application/json",
        body: v.to_string(),
    })
}

/// Parses a verified body. `secret` is the webhook's (Zoom's validation reply is keyed by it).
pub fn parse(p: Platform, body: &[u8], secret: Option<&[u8]>) -> Result<Parsed, Refusal> {
    let body_sha256 = Sha256::digest(body).to_vec();
    let payload: Value = if p == Platform::ZeroVoice {
        let m: Map<String, Value> = url::form_urlencoded::parse(body)
            .into_owned()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        Value::Object(m)
    } else {
        serde_json::from_slice(body).map_err(|_| Refusal::Malformed)?
    };
    if !payload.is_object() {
        return Err(Refusal::Malformed);
    }
    let (id, event_type) = match p {
        Platform::Slack => {
            if s(&payload, &["type"]) == Some("url_verification") {
                let challenge = s(&payload, &["challenge"]).ok_or(Refusal::Malformed)?;
                return Ok(Parsed::Handshake(Handshake {
                    content_type: "text/plain",
                    body: challenge.to_string(),
                }));
            }
            (
                text(&payload, &["event_id"]),
                s(&payload, &["event", "type"]).or(s(&payload, &["type"])),
            )
        }
        Platform::Zoom => {
            let event = s(&payload, &["event"]);
            if event == Some("endpoint.url_validation") {
                let plain = s(&payload, &["payload", "plainToken"]).ok_or(Refusal::Malformed)?;
                let key = secret.ok_or(Refusal::BadSignature("no secret for this webhook"))?;
                let encrypted = hex::encode(hmac_sha256(key, &[plain.as_bytes()]));
                return Ok(json_handshake(
                    json!({"plainToken": plain, "encryptedToken": encrypted}),
                ));
            }
            let id =
                text(&payload, &["event_ts"]).map(|ts| format!("{ts}:{}", event.unwrap_or("")));
            (id, event)
        }
        Platform::Discord => {
            if payload.get("type").and_then(Value::as_i64) == Some(1) {
                return Ok(json_handshake(json!({"type": 1})));
            }
            (text(&payload, &["id"]), None)
        }
        Platform::Monday => {
            if let Some(c) = payload.get("challenge") {
                return Ok(json_handshake(json!({ "challenge": c })));
            }
            (
                text(&payload, &["event", "triggerUuid"]),
                s(&payload, &["event", "type"]),
            )
        }
        Platform::Notion => (text(&payload, &["id"]), s(&payload, &["type"])),
        Platform::Gmail => (text(&payload, &["message", "messageId"]), None),
        Platform::Outlook => (outlook_key(&payload), None),
        Platform::ZeroVoice => {
            let sid = text(&payload, &["MessageSid"]).or(text(&payload, &["CallSid"]));
            // Status callbacks repeat the Sid with each new status: each status is its own event.
            let status = s(&payload, &["MessageStatus"])
                .or(s(&payload, &["CallStatus"]))
                .or(s(&payload, &["RecordingStatus"]));
            (
                sid.map(|sid| format!("{sid}:{}", status.unwrap_or(""))),
                status,
            )
        }
        Platform::Fireflies => (
            text(&payload, &["meetingId"])
                .map(|m| format!("{m}:{}", s(&payload, &["eventType"]).unwrap_or(""))),
            s(&payload, &["eventType"]),
        ),
        Platform::Otter | Platform::Loom | Platform::Granola | Platform::ZeroDb => (
            text(&payload, &["event_id"]).or(text(&payload, &["id"])),
            s(&payload, &["type"]).or(s(&payload, &["event"])),
        ),
    };
    let event_type = event_type.map(str::to_string);
    let dedup_key = id.unwrap_or_else(|| format!("sha256:{}", hex::encode(&body_sha256)));
    Ok(Parsed::Event {
        dedup_key,
        event_type,
        payload,
        body_sha256,
    })
}

/// Outlook batches notifications: the key names each one's subscription, change and resource.
fn outlook_key(v: &Value) -> Option<String> {
    let items = v.get("value")?.as_array()?;
    let mut parts = Vec::with_capacity(items.len());
    for n in items {
        parts.push(format!(
            "{}|{}|{}|{}",
            s(n, &["subscriptionId"])?,
            s(n, &["changeType"]).unwrap_or(""),
            s(n, &["resource"]).unwrap_or(""),
            s(n, &["lifecycleEvent"]).unwrap_or("")
        ));
    }
    if parts.len() == 1 {
        parts.pop()
    } else {
        Some(format!(
            "batch:{}",
            hex::encode(Sha256::digest(parts.join("\n").as_bytes()))
        ))
    }
}

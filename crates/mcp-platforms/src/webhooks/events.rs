//! What a verified body is: a handshake to answer (and store nothing), or an event with the key
//! that deduplicates its repeated deliveries — the platform's event id where there is one
//! (Outlook's: its notifications, `client_state::dedup_key`), else the body's SHA-256; Outlook's
//! stored payload without its clientState. Runs only after verification; never logs the body.

use http::StatusCode;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{client_state, hmac_sha256, Refusal};
use crate::connectors::Platform;

/// The answer to a handshake, exactly as the platform expects it: its status (200, or 204 with
/// an empty body for Discord's webhook-events PING), content type and body.
#[derive(Debug, PartialEq, Eq)]
pub struct Handshake {
    pub status: StatusCode,
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
        status: StatusCode::OK,
        content_type: "application/json",
        body: v.to_string(),
    })
}

/// Parses a verified body. `secret` is the webhook's (Zoom's validation reply is keyed by it).
pub fn parse(p: Platform, body: &[u8], secret: Option<&[u8]>) -> Result<Parsed, Refusal> {
    let body_sha256 = Sha256::digest(body).to_vec();
    let mut payload: Value = if p == Platform::ZeroVoice {
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
                    status: StatusCode::OK,
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
        Platform::Discord => match discord(&payload)? {
            Discord::Answer(h) => return Ok(h),
            Discord::Event(id, event_type) => (id, event_type),
        },
        Platform::Monday => {
            if let Some(c) = payload.get("challenge") {
                return Ok(json_handshake(json!({ "challenge": c })));
            }
            // Board webhooks: `{"event": {"type", "triggerUuid", …}}`
            // (https://developer.monday.com/api-reference/reference/webhooks); app lifecycle
            // webhooks: `{"type": "install" | "uninstall" | …, "data": {…}}`
            // (https://developer.monday.com/apps/docs/webhooks).
            (
                text(&payload, &["event", "triggerUuid"]),
                s(&payload, &["event", "type"]).or(s(&payload, &["type"])),
            )
        }
        Platform::Notion => (text(&payload, &["id"]), s(&payload, &["type"])),
        Platform::Gmail => (text(&payload, &["message", "messageId"]), None),
        Platform::Outlook => {
            // The clientState (the subscription's secret, verified by now) is not stored.
            client_state::redact(&mut payload);
            (client_state::dedup_key(&payload), None)
        }
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
        Platform::Fireflies => {
            // Webhooks V2 (`meeting_id`, `event`: `meeting.transcribed`, …) and the legacy V1
            // (`meetingId`, `eventType`: `Transcription completed`), both still delivered.
            let meeting = text(&payload, &["meeting_id"]).or(text(&payload, &["meetingId"]));
            let event = s(&payload, &["event"]).or(s(&payload, &["eventType"]));
            (
                meeting.map(|m| format!("{m}:{}", event.unwrap_or(""))),
                event,
            )
        }
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

/// What a Discord body is. The application's two URLs may both be this one: Interactions
/// (they carry the interaction's `id` and `token`; `type` 1 is the PING, answered 200 with
/// `{"type": 1}`) and Webhook Events (`version`, `application_id`, `type`: 0 is the PING,
/// answered 204 with an empty body; 1 is an event, `event: {type, timestamp, data}`). Any other
/// webhook-events `type` is not what Discord sends.
enum Discord<'a> {
    Answer(Parsed),
    /// The event's dedup id (an interaction's `id`; webhook events have none) and type.
    Event(Option<String>, Option<&'a str>),
}

fn discord(payload: &Value) -> Result<Discord<'_>, Refusal> {
    let kind = payload.get("type").and_then(Value::as_i64);
    let interaction = payload.get("id").is_some() || payload.get("token").is_some();
    if interaction {
        if kind == Some(1) {
            return Ok(Discord::Answer(json_handshake(json!({"type": 1}))));
        }
        return Ok(Discord::Event(text(payload, &["id"]), None));
    }
    match kind {
        Some(0) => Ok(Discord::Answer(Parsed::Handshake(Handshake {
            status: StatusCode::NO_CONTENT,
            // Discord asks for a valid content type on PING answers, even an empty one.
            content_type: "application/json",
            body: String::new(),
        }))),
        Some(1) => Ok(Discord::Event(None, s(payload, &["event", "type"]))),
        _ => Err(Refusal::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(p: Platform, body: &str) -> (String, Option<String>) {
        match parse(p, body.as_bytes(), None) {
            Ok(Parsed::Event {
                dedup_key,
                event_type,
                ..
            }) => (dedup_key, event_type),
            other => panic!("{p}: not an event: {other:?}"),
        }
    }

    fn handshake(p: Platform, body: &str) -> Handshake {
        match parse(p, body.as_bytes(), None) {
            Ok(Parsed::Handshake(h)) => h,
            other => panic!("{p}: not a handshake: {other:?}"),
        }
    }

    /// A Discord Webhook Events PING: the outer payload's fields with `type` 0 and no `event`
    /// (the page gives the structure, not a literal body):
    /// https://discord.com/developers/docs/events/webhook-events#payload-structure
    const DISCORD_WEBHOOK_PING: &str =
        r#"{"version": 1, "application_id": "1234560123453231555", "type": 0}"#;

    /// Discord's documented APPLICATION_AUTHORIZED example, with its `// user data` placeholder
    /// (not JSON) left empty:
    /// https://discord.com/developers/docs/events/webhook-events#application-authorized
    const DISCORD_APPLICATION_AUTHORIZED: &str = r#"{
        "version": 1,
        "application_id": "1234560123453231555",
        "type": 1,
        "event": {
            "type": "APPLICATION_AUTHORIZED",
            "timestamp": "2024-10-18T14:42:53.064834",
            "data": {
                "integration_type": 1,
                "scopes": [
                    "applications.commands"
                ],
                "user": {}
            }
        }
    }"#;

    #[test]
    fn discord_webhook_events_ping_is_204_empty() {
        let h = handshake(Platform::Discord, DISCORD_WEBHOOK_PING);
        assert_eq!(h.status, StatusCode::NO_CONTENT);
        assert_eq!(h.body, "");
        assert_eq!(h.content_type, "application/json");
    }

    #[test]
    fn discord_webhook_event_is_an_event_of_its_type() {
        let (key, event_type) = event(Platform::Discord, DISCORD_APPLICATION_AUTHORIZED);
        assert_eq!(event_type.as_deref(), Some("APPLICATION_AUTHORIZED"));
        // Webhook events carry no id: the body's hash deduplicates Discord's retries.
        assert!(key.starts_with("sha256:"), "{key}");
        // A webhook-events `type` Discord does not send.
        assert_eq!(
            parse(
                Platform::Discord,
                br#"{"version": 1, "application_id": "1", "type": 7}"#,
                None
            )
            .err(),
            Some(Refusal::Malformed)
        );
    }

    #[test]
    fn discord_interactions_ping_is_answered_with_a_pong() {
        // An interaction's fields (`id`, `application_id`, `type` 1 = PING, `token`, `version`):
        // https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object
        // answered `{"type": 1}` with 200:
        // https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint
        let ping = r#"{"id": "867794291820986368", "application_id": "775799577604522054",
            "type": 1, "token": "A_UNIQUE_TOKEN", "version": 1}"#;
        let h = handshake(Platform::Discord, ping);
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.body, r#"{"type":1}"#);
        // Any other interaction is an event keyed by its id.
        let command = r#"{"id": "867794291820986368", "application_id": "775799577604522054",
            "type": 2, "token": "A_UNIQUE_TOKEN", "version": 1, "guild_id": "772904309264089089",
            "data": {"id": "866818195033292850", "name": "context-menu-user-2", "type": 2}}"#;
        assert_eq!(
            event(Platform::Discord, command),
            ("867794291820986368".to_string(), None)
        );
    }

    /// Fireflies' documented V1 payload: https://docs.fireflies.ai/graphql-api/webhooks
    const FIREFLIES_V1: &str = r#"{
        "meetingId": "ASxwZxCstx",
        "eventType": "Transcription completed",
        "clientReferenceId": "be582c46-4ac9-4565-9ba6-6ab4264496a8"
    }"#;

    /// Fireflies' documented Webhooks V2 payloads:
    /// https://docs.fireflies.ai/graphql-api/webhooks-v2
    const FIREFLIES_V2_TRANSCRIBED: &str = r#"{
        "event": "meeting.transcribed",
        "timestamp": 1710876543210,
        "meeting_id": "ASxwZxCstx",
        "client_reference_id": "be582c46-4ac9-4565-9ba6-6ab4264496a8"
    }"#;
    const FIREFLIES_V2_SUMMARIZED: &str = r#"{
        "event": "meeting.summarized",
        "timestamp": 1710876789456,
        "meeting_id": "ASxwZxCstx"
    }"#;

    #[test]
    fn fireflies_v1_and_v2() {
        assert_eq!(
            event(Platform::Fireflies, FIREFLIES_V1),
            (
                "ASxwZxCstx:Transcription completed".to_string(),
                Some("Transcription completed".to_string())
            )
        );
        assert_eq!(
            event(Platform::Fireflies, FIREFLIES_V2_TRANSCRIBED),
            (
                "ASxwZxCstx:meeting.transcribed".to_string(),
                Some("meeting.transcribed".to_string())
            )
        );
        // Two events of one meeting are two events.
        assert_eq!(
            event(Platform::Fireflies, FIREFLIES_V2_SUMMARIZED),
            (
                "ASxwZxCstx:meeting.summarized".to_string(),
                Some("meeting.summarized".to_string())
            )
        );
    }
}

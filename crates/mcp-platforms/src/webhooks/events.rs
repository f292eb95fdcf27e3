//! What a verified body is: a handshake to answer (and store nothing), or an event with the key
//! that deduplicates its repeated deliveries — the platform's event id where there is one
//! (Outlook's: its notifications, `client_state::dedup_key`), else the body's SHA-256; Outlook's
//! stored payload without its clientState. Runs only after verification; never logs the body.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{client_state, Refusal};
pub use crate::connectors::event::Handshake;
use crate::connectors::event::Read;
use crate::connectors::spec::{read_generic, Scheme};
use crate::connectors::Platform;

type ReadFn = fn(&Value, Option<&[u8]>) -> Result<Read, Refusal>;

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

/// Parses a verified body. `secret` is the webhook's (Zoom's validation reply is keyed by it).
pub fn parse(p: Platform, body: &[u8], secret: Option<&[u8]>) -> Result<Parsed, Refusal> {
    let body_sha256 = Sha256::digest(body).to_vec();
    let webhooks = p.spec().webhooks.as_ref();
    let mut payload: Value = if webhooks.is_some_and(|w| w.form_body) {
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
    let read = webhooks.map_or(read_generic as ReadFn, |w| w.read);
    let (id, event_type) = match read(&payload, secret)? {
        Read::Answer(h) => return Ok(Parsed::Handshake(h)),
        Read::Event { id, event_type } => (id, event_type),
    };
    let id = match webhooks.map(|w| w.scheme) {
        // The clientState (the subscription's secret, verified by now) is not stored; the
        // delivery is keyed by its notifications.
        Some(Scheme::ClientState) => {
            client_state::redact(&mut payload);
            client_state::dedup_key(&payload)
        }
        _ => id,
    };
    let dedup_key = id.unwrap_or_else(|| format!("sha256:{}", hex::encode(&body_sha256)));
    Ok(Parsed::Event {
        dedup_key,
        event_type,
        payload,
        body_sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

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

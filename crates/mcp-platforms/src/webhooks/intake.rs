//! What each platform's deliveries look like before their signature is checked: the media type
//! of their body, a handshake answered from the URL alone, and the form of the acknowledgement.
//! Pure functions; the daemon's intake asks them instead of naming platforms.

use serde_json::Value;

use crate::connectors::Platform;

/// The media type a platform's deliveries carry: form fields where its spec says so (Twilio's,
/// ZeroVoice), every other platform JSON.
pub fn content_type(p: Platform) -> &'static str {
    match &p.spec().webhooks {
        Some(w) if w.form_body => "application/x-www-form-urlencoded",
        _ => "application/json",
    }
}

/// A handshake the URL alone asks for, as the text to echo (Outlook's: Graph's subscription
/// validation, `?validationToken=…`).
pub fn url_handshake(p: Platform, query: Option<&str>) -> Option<String> {
    (p.spec().webhooks.as_ref()?.url_handshake)(query?)
}

/// Whether an event is acknowledged with 204 and no body (Discord's webhook events); every
/// other with 200 JSON.
pub fn empty_ack(p: Platform, payload: &Value) -> bool {
    p.spec()
        .webhooks
        .as_ref()
        .is_some_and(|w| (w.empty_ack)(payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_platform_answers_its_own_form() {
        assert_eq!(
            content_type(Platform::ZeroVoice),
            "application/x-www-form-urlencoded"
        );
        assert_eq!(content_type(Platform::Slack), "application/json");
        assert_eq!(
            url_handshake(Platform::Outlook, Some("validationToken=a%20b")).as_deref(),
            Some("a b")
        );
        assert_eq!(
            url_handshake(Platform::Slack, Some("validationToken=x")),
            None
        );
        assert_eq!(url_handshake(Platform::Outlook, None), None);
        assert!(empty_ack(
            Platform::Discord,
            &json!({"event": {"type": "X"}})
        ));
        assert!(!empty_ack(Platform::Discord, &json!({"type": 0})));
        assert!(!empty_ack(Platform::Slack, &json!({"event": {}})));
    }
}

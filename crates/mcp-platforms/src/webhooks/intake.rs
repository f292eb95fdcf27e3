//! What each platform's deliveries look like before their signature is checked: the media type
//! of their body, a handshake answered from the URL alone, and the form of the acknowledgement.
//! Pure functions; the daemon's intake asks them instead of naming platforms.

use serde_json::Value;

use crate::connectors::Platform;

/// The media type a platform's deliveries carry: Twilio (ZeroVoice) posts form fields
/// (https://www.twilio.com/docs/usage/webhooks/webhooks-overview); every other platform JSON.
pub fn content_type(p: Platform) -> &'static str {
    match p {
        Platform::ZeroVoice => "application/x-www-form-urlencoded",
        _ => "application/json",
    }
}

/// A handshake the URL alone asks for, as the text to echo: Graph's subscription validation, a
/// POST with `?validationToken=…` answered 200 `text/plain` with the token
/// (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#notificationurl-validation).
pub fn url_handshake(p: Platform, query: Option<&str>) -> Option<String> {
    if p != Platform::Outlook {
        return None;
    }
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "validationToken")
        .map(|(_, v)| v.into_owned())
}

/// Whether an event is acknowledged with 204 and no body: Discord's webhook events
/// (https://discord.com/developers/docs/events/webhook-events); every other with 200 JSON.
pub fn empty_ack(p: Platform, payload: &Value) -> bool {
    p == Platform::Discord && payload.get("event").is_some_and(Value::is_object)
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

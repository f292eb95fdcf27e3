//! What a verified event means for its integration, by platform: each platform's reading is
//! its own (`Webhooks::meaning` in its spec, `connectors::<platform>::event_meaning`), from the
//! event type or, for the platforms in `PAYLOAD_READ`, the payload. Pure functions.

use serde_json::Value;

pub use crate::connectors::meaning::Meaning;
use crate::connectors::Platform;

crate::connectors::platforms_where! {
    /// The platforms whose events' meaning is read from the payload (the others' from the event
    /// type alone).
    pub const PAYLOAD_READ = |s| s.meaning_reads_payload();
}

/// What an event of platform `p` means (`payload` is read only for `PAYLOAD_READ`).
pub fn meaning(p: Platform, event_type: Option<&str>, payload: &Value) -> Meaning {
    match &p.spec().webhooks {
        Some(w) => (w.meaning)(event_type, payload),
        None => Meaning::Changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn revocations_are_told_apart_from_changes() {
        assert_eq!(
            meaning(Platform::Slack, Some("tokens_revoked"), &json!({})),
            Meaning::Revoked("slack: tokens revoked")
        );
        assert_eq!(
            meaning(Platform::Zoom, Some("app_deauthorized"), &json!({})),
            Meaning::Revoked("zoom: app deauthorized")
        );
        // Graph removed a subscription: made again, not a revocation.
        assert_eq!(
            meaning(
                Platform::Outlook,
                None,
                &json!({"value": [{"lifecycleEvent": "subscriptionRemoved"}]})
            ),
            Meaning::Resubscribe("outlook: subscription removed")
        );
        assert_eq!(
            meaning(
                Platform::Discord,
                None,
                &json!({"event": {"type": "APPLICATION_DEAUTHORIZED"}})
            ),
            Meaning::Revoked("discord: application deauthorized")
        );
        assert_eq!(
            meaning(Platform::Slack, Some("message"), &json!({})),
            Meaning::Changed
        );
        assert_eq!(meaning(Platform::Gmail, None, &json!({})), Meaning::Changed);
        // Monday's uninstall only asks for a check of the token.
        for t in ["uninstall", "app_uninstall"] {
            assert!(matches!(
                meaning(Platform::Monday, Some(t), &json!({})),
                Meaning::CheckAccess(_)
            ));
        }
    }

    #[test]
    fn payload_meanings_are_on_platforms_whose_payload_is_read() {
        for (p, payload) in [
            (
                Platform::Outlook,
                json!({"value": [{"lifecycleEvent": "subscriptionRemoved"}]}),
            ),
            (
                Platform::Discord,
                json!({"event": {"type": "APPLICATION_DEAUTHORIZED"}}),
            ),
        ] {
            assert!(matches!(
                meaning(p, None, &payload),
                Meaning::Revoked(_) | Meaning::Resubscribe(_)
            ));
            assert_eq!(meaning(p, None, &Value::Null), Meaning::Changed);
            assert!(PAYLOAD_READ.contains(&p), "{p} must bring its payload");
        }
    }
}

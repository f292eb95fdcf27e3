//! The account a grant is for and the account an event names: what routes a delivery on an
//! app-level webhook URL (one URL and one secret for every customer of the app) to the
//! integration connected to that account (`core.integrations.external_account_id`). Facts from
//! each platform's documentation; docs/WEBHOOKS.md has the table.

use serde_json::Value;

use crate::connectors::Platform;

crate::connectors::platforms_where! {
    /// The platforms that deliver every customer's events to one URL of the app, signed with the
    /// app's secret (`POST /webhooks/{platform}`): Slack's Events API Request URL, a Zoom
    /// Marketplace app's event subscription, a Discord application's webhook events, a Notion
    /// public integration's subscription, and Gmail's one Pub/Sub push subscription.
    pub const APP_LEVEL = |s| s.accounts.app_level;
}

/// The account in an OAuth token answer, where the platform puts it there: Slack's
/// `team.id` (an org-wide Enterprise Grid install has no team: `enterprise.id`), Notion's
/// `workspace_id`, Discord's `guild.id` (a bot install). The others name it only through an
/// identity call (`Identity::account`).
pub fn from_token_answer(p: Platform, answer: &Value) -> Option<String> {
    (p.spec().accounts.from_token_answer)(answer)
}

/// The accounts a verified event names, most specific first: Slack's installation the event is
/// delivered for, Zoom's `payload.account_id`, Discord's `guild_id` (interactions) or
/// `event.data.guild.id` (webhook events), Notion's `workspace_id`, Gmail's `emailAddress` in
/// the base64 JSON of the Pub/Sub `message.data`. Empty when the event names none: it cannot be
/// routed.
pub fn from_event(p: Platform, payload: &Value) -> Vec<String> {
    (p.spec().accounts.from_event)(payload)
}

/// The account as stored and compared: Gmail addresses in lower case (the event and the
/// profile may differ in case); every other platform's ids as given.
pub fn normalise(p: Platform, account: &str) -> String {
    if p.spec().accounts.case_insensitive {
        account.to_ascii_lowercase()
    } else {
        account.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::json;

    /// Slack's documented envelope of a `message` event (subtype `channel_topic`), verbatim
    /// but for the trailing comma after `"is_enterprise_install": false` that the page has
    /// (not JSON): https://docs.slack.dev/reference/events/message/channel_topic
    const SLACK_CHANNEL_TOPIC: &str = r#"{
        "token": "XXYYZZ",
        "team_id": "T123ABC456",
        "api_app_id": "A123ABC456",
        "event": {
            "type": "message",
            "subtype": "channel_topic",
            "ts": "1358877455.000010",
            "user": "U2147483828",
            "topic": "hello world",
            "text": "<@U2147483828|cal> set the channel topic: hello world"
        },
        "type": "event_callback",
        "authorizations": [
            {
                "team_id": "T123ABC456",
                "user_id": "U123ABC456",
                "is_bot": false,
                "is_enterprise_install": false
            }
        ],
        "event_id": "Ev123ABC456",
        "event_time": 123456789
    }"#;

    fn slack_envelope() -> Value {
        serde_json::from_str(SLACK_CHANNEL_TOPIC).expect("documented example")
    }

    #[test]
    fn slack_routes_by_the_installation_the_event_is_for() {
        assert_eq!(
            from_event(Platform::Slack, &slack_envelope()),
            vec!["T123ABC456"]
        );
        // A Slack Connect channel: the event occurred in the other organisation's workspace
        // (outer `team_id`, https://api.slack.com/types/event "the workspace where the event
        // occurred"); it is delivered for our customer's installation (`authorizations`,
        // https://docs.slack.dev/reference/methods/apps.event.authorizations.list "Each
        // authorization represents an app installation that the event is visible to").
        let mut shared = slack_envelope();
        shared["team_id"] = json!("T0OTHERORG");
        shared["enterprise_id"] = json!("E0OTHERORG");
        assert_eq!(from_event(Platform::Slack, &shared), vec!["T123ABC456"]);
        // An org-wide install (`is_enterprise_install`, fields of apps.event.authorizations.list)
        // is connected to its enterprise.
        let mut org = slack_envelope();
        org["authorizations"][0]["enterprise_id"] = json!("E123ABC456");
        org["authorizations"][0]["is_enterprise_install"] = json!(true);
        assert_eq!(from_event(Platform::Slack, &org), vec!["E123ABC456"]);
        // A workspace install inside an enterprise is connected to its workspace.
        org["authorizations"][0]["is_enterprise_install"] = json!(false);
        assert_eq!(from_event(Platform::Slack, &org), vec!["T123ABC456"]);
        // An installation that names no account is not routed by the outer fields.
        org["authorizations"][0]["is_enterprise_install"] = json!(true);
        org["authorizations"][0]["enterprise_id"] = Value::Null;
        assert!(from_event(Platform::Slack, &org).is_empty());
    }

    #[test]
    fn slack_without_authorizations_falls_back_to_where_it_occurred() {
        let mut e = slack_envelope();
        e.as_object_mut().expect("object").remove("authorizations");
        e["enterprise_id"] = json!("E1");
        assert_eq!(from_event(Platform::Slack, &e), vec!["T123ABC456", "E1"]);
        e["authorizations"] = json!([]);
        assert_eq!(from_event(Platform::Slack, &e), vec!["T123ABC456", "E1"]);
        let t = json!({"ok": true, "team": null, "enterprise": {"id": "E9"}});
        assert_eq!(
            from_token_answer(Platform::Slack, &t).as_deref(),
            Some("E9")
        );
    }

    #[test]
    fn gmail_reads_the_address_from_the_message_data() {
        let data = base64::engine::general_purpose::STANDARD
            .encode(br#"{"emailAddress":"Ada@Example.com","historyId":"9"}"#);
        let e = json!({"message": {"data": data, "messageId": "1"}, "subscription": "s"});
        assert_eq!(from_event(Platform::Gmail, &e), vec!["ada@example.com"]);
        assert!(from_event(Platform::Gmail, &json!({"message": {"data": "%%"}})).is_empty());
    }

    #[test]
    fn discord_and_zoom_and_notion() {
        let d = json!({"version": 1, "type": 1, "event": {"data": {"guild": {"id": "42"}}}});
        assert_eq!(from_event(Platform::Discord, &d), vec!["42"]);
        let z = json!({"event": "meeting.started", "payload": {"account_id": "acc"}});
        assert_eq!(from_event(Platform::Zoom, &z), vec!["acc"]);
        let n = json!({"type": "page.created", "workspace_id": "w"});
        assert_eq!(from_event(Platform::Notion, &n), vec!["w"]);
        assert!(from_event(Platform::Monday, &n).is_empty());
    }
}

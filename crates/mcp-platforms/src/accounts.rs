//! The account a grant is for and the account an event names: what routes a delivery on an
//! app-level webhook URL (one URL and one secret for every customer of the app) to the
//! integration connected to that account (`core.integrations.external_account_id`). Facts from
//! each platform's documentation; docs/WEBHOOKS.md has the table.

use base64::Engine;
use serde_json::Value;

use crate::connectors::Platform;

/// The platforms that deliver every customer's events to one URL of the app, signed with the
/// app's secret (`POST /webhooks/{platform}`): Slack's Events API Request URL, a Zoom Marketplace
/// app's event subscription, a Discord application's webhook events, a Notion public
/// integration's subscription, and Gmail's one Pub/Sub push subscription.
pub const APP_LEVEL: [Platform; 5] = [
    Platform::Slack,
    Platform::Zoom,
    Platform::Discord,
    Platform::Notion,
    Platform::Gmail,
];

fn text(v: &Value, pointer: &str) -> Option<String> {
    match v.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The account in an OAuth token answer, where the platform puts it there: Slack's
/// `team.id` (an org-wide Enterprise Grid install has no team: `enterprise.id`), Notion's
/// `workspace_id`, Discord's `guild.id` (a bot install). The others name it only through an
/// identity call (`Identity::account`).
pub fn from_token_answer(p: Platform, answer: &Value) -> Option<String> {
    match p {
        Platform::Slack => text(answer, "/team/id").or_else(|| text(answer, "/enterprise/id")),
        Platform::Notion => text(answer, "/workspace_id"),
        Platform::Discord => text(answer, "/guild/id"),
        _ => None,
    }
}

/// The accounts a verified event names, most specific first: Slack's `team_id` then
/// `enterprise_id` (an org-wide install is connected to the enterprise), Zoom's
/// `payload.account_id`, Discord's `guild_id` (interactions) or `event.data.guild.id` (webhook
/// events), Notion's `workspace_id`, Gmail's `emailAddress` in the base64 JSON of the Pub/Sub
/// `message.data`. Empty when the event names none: it cannot be routed.
pub fn from_event(p: Platform, payload: &Value) -> Vec<String> {
    let pointers: &[&str] = match p {
        Platform::Slack => &["/team_id", "/enterprise_id", "/authorizations/0/team_id"],
        Platform::Zoom => &["/payload/account_id"],
        Platform::Discord => &["/guild_id", "/event/data/guild/id", "/event/data/guild_id"],
        Platform::Notion => &["/workspace_id"],
        Platform::Gmail => return gmail_account(payload).into_iter().collect(),
        _ => &[],
    };
    let mut found: Vec<String> = Vec::with_capacity(2);
    for ptr in pointers {
        if let Some(a) = text(payload, ptr) {
            if !found.contains(&a) {
                found.push(a);
            }
        }
    }
    found
}

/// The account as stored and compared: Gmail addresses in lower case (the event and the
/// profile may differ in case); every other platform's ids as given.
pub fn normalise(p: Platform, account: &str) -> String {
    if p == Platform::Gmail {
        account.to_ascii_lowercase()
    } else {
        account.to_string()
    }
}

/// Gmail's Pub/Sub push: `message.data` is base64 of `{"emailAddress": …, "historyId": …}`.
fn gmail_account(payload: &Value) -> Option<String> {
    let data = payload.pointer("/message/data")?.as_str()?;
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ];
    let bytes = engines.iter().find_map(|e| e.decode(data).ok())?;
    let inner: Value = serde_json::from_slice(&bytes).ok()?;
    text(&inner, "/emailAddress").map(|a| normalise(Platform::Gmail, &a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slack_names_the_team_then_the_enterprise() {
        let e = json!({"team_id": "T1", "enterprise_id": "E1", "event": {"type": "message"}});
        assert_eq!(from_event(Platform::Slack, &e), vec!["T1", "E1"]);
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

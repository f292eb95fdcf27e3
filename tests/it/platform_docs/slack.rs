//! Slack, from its method reference (docs.slack.dev, as scraped in slack-ruby/slack-api-ref):
//! `auth.test`, `conversations.list` and `conversations.history` as a listing reads them.

use mcp_platforms::connectors::{Credentials, Platform};
use mcp_platforms::secret::Secret;
use serde_json::json;

use super::{json, DocServer};

/// https://docs.slack.dev/reference/methods/auth.test ("Success response when using a bot
/// user token").
const AUTH_TEST: &str = r#"{
  "ok": true,
  "url": "https://subarachnoid.slack.com/",
  "team": "Subarachnoid Workspace",
  "user": "bot",
  "team_id": "T0G9PQBBK",
  "user_id": "W23456789",
  "bot_id": "BZYBOTHED"
}"#;

/// https://docs.slack.dev/reference/methods/conversations.list ("Typical success response with
/// only public channels", its first channel).
const LIST: &str = r#"{
  "ok": true,
  "channels": [{
    "id": "C012AB3CD", "name": "general", "is_channel": true, "is_group": false,
    "is_im": false, "created": 1449252889, "creator": "U012A3CDE", "is_archived": false,
    "is_general": true, "unlinked": 0, "name_normalized": "general", "is_shared": false,
    "is_ext_shared": false, "is_org_shared": false, "pending_shared": [],
    "is_pending_ext_shared": false, "is_member": true, "is_private": false, "is_mpim": false,
    "updated": 1678229664302,
    "topic": {"value": "Company-wide announcements and work-based matters", "creator": "", "last_set": 0},
    "purpose": {"value": "This channel is for team-wide communication and announcements. All team members are in this channel.", "creator": "", "last_set": 0},
    "previous_names": [], "num_members": 4
  }],
  "response_metadata": {"next_cursor": "dGVhbTpDMDYxRkE1UEI="}
}"#;

/// https://docs.slack.dev/reference/methods/conversations.history ("Typical success response
/// containing a channel's messages").
const HISTORY: &str = r#"{
  "ok": true,
  "messages": [
    {"type": "message", "user": "U123ABC456", "text": "I find you punny and would like to smell your nose letter", "ts": "1512085950.000216"},
    {"type": "message", "user": "U222BBB222", "text": "What, you want to smell my shoes better?", "ts": "1512104434.000490"}
  ],
  "has_more": true,
  "pin_count": 0,
  "response_metadata": {"next_cursor": "bmV4dF90czoxNTEyMDg1ODYxMDAwNTQz"}
}"#;

fn token() -> Credentials {
    Credentials::Bearer(Secret::new("xoxb-doc"))
}

#[tokio::test]
async fn the_identity_names_the_team() {
    let server = DocServer::start(vec![json("POST", "/api/auth.test", AUTH_TEST)]).await;
    let c = server.connectors(Platform::Slack, |_| {});
    let id = c
        .get(Platform::Slack)
        .health_check(&token())
        .await
        .expect("identity");
    assert_eq!(id.account.as_deref(), Some("T0G9PQBBK"));
    assert_eq!(id.account_id.as_deref(), Some("W23456789"));
    // The workspace's address, which a message's permalink is made from.
    assert_eq!(
        id.web_base.as_deref(),
        Some("https://subarachnoid.slack.com/")
    );
}

/// Without configured channels the listing asks `conversations.list` for the public channels
/// the app is in, then reads each one's history; a message's id is `<channel>:<ts>`, its time
/// the `ts`, and `next_cursor` pages on. A non-Marketplace app asks 15 messages a page.
#[tokio::test]
async fn channels_are_listed_then_their_history_read() {
    for (limited, limit) in [(false, "100"), (true, "15")] {
        let server = DocServer::start(vec![
            json("GET", "/api/conversations.list", LIST),
            json("GET", "/api/conversations.history", HISTORY),
        ])
        .await;
        let c = server.connectors(Platform::Slack, |o| {
            o.non_marketplace_app = limited.then_some(true);
        });
        let slack = c.get(Platform::Slack);
        let first = slack
            .list_page(&token(), None, &json!({}), Some("T0G9PQBBK"))
            .await
            .expect("channels");
        assert!(first.items.is_empty() && !first.done);
        let second = slack
            .list_page(
                &token(),
                first.next_cursor.as_deref(),
                &json!({}),
                Some("T0G9PQBBK"),
            )
            .await
            .expect("history");
        let ids: Vec<&str> = second
            .items
            .iter()
            .map(|i| i.external_id.as_str())
            .collect();
        assert_eq!(
            ids,
            ["C012AB3CD:1512085950.000216", "C012AB3CD:1512104434.000490"]
        );
        assert_eq!(
            second.items[0].occurred_at.map(|t| t.timestamp()),
            Some(1_512_085_950)
        );
        assert!(!second.done, "has_more with a next_cursor: more to read");
        assert!(second
            .next_cursor
            .as_deref()
            .is_some_and(|c| c.contains("bmV4dF90czoxNTEyMDg1ODYxMDAwNTQz")));
        let seen = server.seen();
        assert_eq!(seen[0].q("types"), Some("public_channel"));
        assert_eq!(seen[0].q("exclude_archived"), Some("true"));
        assert_eq!(seen[1].q("channel"), Some("C012AB3CD"));
        assert_eq!(seen[1].q("limit"), Some(limit), "limited: {limited}");
        assert_eq!(seen[1].header("authorization"), Some("Bearer xoxb-doc"));
    }
}

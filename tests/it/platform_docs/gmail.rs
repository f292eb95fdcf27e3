//! Gmail: Google publishes no example responses for these methods, only their schemas (the
//! Gmail discovery document, https://gmail.googleapis.com/$discovery/rest?version=v1, and the
//! reference pages' "JSON representation"): these answers follow the schemas, uint64 ids as
//! strings, counts as numbers.

use mcp_platforms::connectors::{Credentials, Platform};
use mcp_platforms::secret::Secret;
use serde_json::json;

use super::{json, DocServer};

/// `Profile` (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users/getProfile).
const PROFILE: &str = r#"{"emailAddress": "User@Example.com", "messagesTotal": 1234, "threadsTotal": 987, "historyId": "1234567890"}"#;

/// `ListHistoryResponse`
/// (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.history/list).
const HISTORY: &str = r#"{
  "history": [
    {"id": "1234567891",
     "messages": [{"id": "18c0a1b2c3d4e5f6", "threadId": "18c0a1b2c3d4e5f6"}],
     "messagesAdded": [{"message": {"id": "18c0a1b2c3d4e5f6", "threadId": "18c0a1b2c3d4e5f6", "labelIds": ["UNREAD", "INBOX"]}}]},
    {"id": "1234567895",
     "messages": [{"id": "18c0a1b2c3d4e5f0", "threadId": "18c0a1b2c3d4e5f0"}],
     "messagesDeleted": [{"message": {"id": "18c0a1b2c3d4e5f0", "threadId": "18c0a1b2c3d4e5f0"}}]}
  ],
  "historyId": "1234567899"
}"#;

fn token() -> Credentials {
    Credentials::Bearer(Secret::new("gmail-doc-token"))
}

#[tokio::test]
async fn the_identity_is_the_address_in_lower_case_routing() {
    let server = DocServer::start(vec![json("GET", "/gmail/v1/users/me/profile", PROFILE)]).await;
    let c = server.connectors(Platform::Gmail, |_| {});
    let id = c
        .get(Platform::Gmail)
        .health_check(&token())
        .await
        .expect("identity");
    assert_eq!(id.account.as_deref(), Some("User@Example.com"));
    assert_eq!(
        mcp_platforms::accounts::normalise(Platform::Gmail, "User@Example.com"),
        "user@example.com",
        "push notifications name the address as they like: compared in lower case"
    );
}

/// From a history id, the history names the messages added (items) and deleted (tombstones);
/// the answer's `historyId` is the next cursor.
#[tokio::test]
async fn history_names_added_and_deleted_messages() {
    let server = DocServer::start(vec![json("GET", "/gmail/v1/users/me/history", HISTORY)]).await;
    let c = server.connectors(Platform::Gmail, |_| {});
    let page = c
        .get(Platform::Gmail)
        .list_page(&token(), Some("1234567890"), &json!({}), None)
        .await
        .expect("page");
    let ids: Vec<&str> = page.items.iter().map(|i| i.external_id.as_str()).collect();
    assert_eq!(ids, ["18c0a1b2c3d4e5f6"]);
    assert_eq!(page.deleted, ["18c0a1b2c3d4e5f0"]);
    assert!(page.done);
    assert_eq!(page.next_cursor.as_deref(), Some("1234567899"));
    assert_eq!(server.seen()[0].q("startHistoryId"), Some("1234567890"));
}

//! Notion, from its API reference: the token's bot user and the search the listing sorts by
//! last edit.

use mcp_platforms::connectors::{Credentials, Platform};
use mcp_platforms::secret::Secret;
use serde_json::json;

use super::{json, DocServer};

/// https://developers.notion.com/reference/get-self (also the example of Notion's OpenAPI file,
/// operation `get-self`).
const ME: &str = r#"{
  "object": "user",
  "id": "16d84278-ab0e-484c-9bdd-b35da3bd8905",
  "name": "pied piper",
  "avatar_url": null,
  "type": "bot",
  "bot": {
    "owner": {
      "type": "user",
      "user": {
        "object": "user",
        "id": "5389a034-eb5c-47b5-8a9e-f79c99ef166c",
        "name": "christine makenotion",
        "avatar_url": null,
        "type": "person",
        "person": {"email": "christine@makenotion.com"}
      }
    }
  }
}"#;

/// https://developers.notion.com/reference/post-search: the page's generated example (its
/// `<string>` placeholders kept), one result.
const SEARCH: &str = r#"{
  "type": "page_or_data_source",
  "page_or_data_source": {},
  "object": "list",
  "next_cursor": "<string>",
  "has_more": true,
  "results": [{
    "object": "page",
    "id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "created_time": "2023-11-07T05:31:56Z",
    "last_edited_time": "2023-11-07T05:31:56Z",
    "is_archived": true,
    "in_trash": true,
    "is_locked": true,
    "url": "<string>",
    "public_url": "<string>",
    "parent": {"type": "<string>", "database_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a"},
    "properties": {},
    "created_by": {"id": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "object": "<string>"},
    "last_edited_by": {"id": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "object": "<string>"}
  }]
}"#;

fn token() -> Credentials {
    Credentials::Bearer(Secret::new("notion-doc-token"))
}

#[tokio::test]
async fn the_identity_is_the_bot_and_every_call_names_the_api_version() {
    let server = DocServer::start(vec![json("GET", "/v1/users/me", ME)]).await;
    let c = server.connectors(Platform::Notion, |_| {});
    let id = c
        .get(Platform::Notion)
        .health_check(&token())
        .await
        .expect("identity");
    assert_eq!(
        id.account_id.as_deref(),
        Some("16d84278-ab0e-484c-9bdd-b35da3bd8905")
    );
    assert!(server.seen()[0].header("notion-version").is_some());
}

/// The search asks pages sorted by `last_edited_time`, newest first; a result's id and last
/// edit are the item's; `has_more` with a `next_cursor` pages on.
#[tokio::test]
async fn the_search_reads_pages_newest_first() {
    let server = DocServer::start(vec![json("POST", "/v1/search", SEARCH)]).await;
    let c = server.connectors(Platform::Notion, |_| {});
    let page = c
        .get(Platform::Notion)
        .list_page(&token(), None, &json!({}), None)
        .await
        .expect("page");
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        page.items[0].external_id,
        "3c90c3cc-0d44-4b50-8888-8dd25736052a"
    );
    assert_eq!(
        page.items[0].occurred_at.map(|t| t.to_rfc3339()),
        Some("2023-11-07T05:31:56+00:00".into())
    );
    assert!(!page.done);
    let seen = server.seen();
    assert_eq!(seen[0].method, "POST");
    let body: serde_json::Value = serde_json::from_slice(&seen[0].body).expect("json body");
    assert_eq!(
        body["sort"],
        json!({"timestamp": "last_edited_time", "direction": "descending"})
    );
    assert!(seen[0].header("notion-version").is_some());
}

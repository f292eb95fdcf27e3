//! Twilio (ZeroVoice), from Twilio's OpenAPI description (twilio/twilio-oai,
//! spec/json/twilio_api_v2010.json): the account fetch, the recordings list and its date
//! filter's parameter name.

use mcp_platforms::connectors::{Credentials, Platform};
use mcp_platforms::secret::Secret;
use serde_json::json;

use super::{json, DocServer};

const SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// https://www.twilio.com/docs/iam/api/account#fetch-an-account-resource (the spec's `fetch`
/// example).
const ACCOUNT: &str = r#"{
  "auth_token": "auth_token",
  "date_created": "Thu, 30 Jul 2015 20:00:00 +0000",
  "date_updated": "Thu, 30 Jul 2015 20:00:00 +0000",
  "friendly_name": "friendly_name",
  "owner_account_sid": "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "sid": "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "status": "active",
  "type": "Full",
  "uri": "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json"
}"#;

/// https://www.twilio.com/docs/voice/api/recording#read-multiple-recording-resources (the
/// spec's `readFull` example, its `encryption_details` and `subresource_uris` left out).
const RECORDINGS: &str =
    include_str!("../../../crates/mcp-platforms/fixtures/twilio-recordings-page.json");

fn basic() -> Credentials {
    Credentials::Basic {
        user: SID.into(),
        secret: Secret::new("auth-token"),
    }
}

#[tokio::test]
async fn the_identity_is_the_account_sid() {
    let server = DocServer::start(vec![json(
        "GET",
        "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json",
        ACCOUNT,
    )])
    .await;
    let c = server.connectors(Platform::ZeroVoice, |_| {});
    let id = c
        .get(Platform::ZeroVoice)
        .health_check(&basic())
        .await
        .expect("identity");
    assert_eq!(id.account_id.as_deref(), Some(SID));
    assert_eq!(id.account.as_deref(), Some(SID));
}

/// A listing from a watermark asks `DateCreated>` (the `=` is the query string's) for the
/// watermark's day; a recording's id is its `sid`, its time `date_created` (RFC 2822); a null
/// `next_page_uri` ends the listing.
#[tokio::test]
async fn recordings_are_listed_from_the_watermarks_day_with_date_created_greater_than() {
    let server = DocServer::start(vec![json(
        "GET",
        "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Recordings.json",
        RECORDINGS,
    )])
    .await;
    let c = server.connectors(Platform::ZeroVoice, |_| {});
    let cursor = json!({"since": "2016-10-14"}).to_string();
    let page = c
        .get(Platform::ZeroVoice)
        .list_page(&basic(), Some(&cursor), &json!({}), Some(SID))
        .await
        .expect("page");
    assert!(page.done);
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        page.items[0].external_id,
        "REaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    );
    assert_eq!(
        page.items[0].occurred_at.map(|t| t.to_rfc3339()),
        Some("2016-10-14T21:56:34+00:00".into())
    );
    let seen = server.seen();
    assert_eq!(
        seen[0].q("DateCreated>"),
        Some("2016-10-14"),
        "{}",
        seen[0].raw_query
    );
    assert!(seen[0].q("DateCreated>=").is_none());
    assert!(seen[0].raw_query.contains("DateCreated%3E=2016-10-14"));
}

//! Microsoft Graph (Outlook), from microsoftgraph/microsoft-graph-docs-contrib: `GET /me` and a
//! whole round of the messages delta query, with a removed message in the next round.

use mcp_platforms::connectors::{Credentials, Platform};
use mcp_platforms::secret::Secret;
use serde_json::json;

use super::{json, DocServer};

/// https://learn.microsoft.com/en-us/graph/api/user-get?view=graph-rest-1.0&tabs=http#example-2-signed-in-user-request
const ME: &str = r#"{
  "businessPhones": ["+1 425 555 0109"],
  "displayName": "Adele Vance",
  "givenName": "Adele",
  "jobTitle": "Retail Manager",
  "mail": "AdeleV@contoso.com",
  "mobilePhone": "+1 425 555 0109",
  "officeLocation": "18/2111",
  "preferredLanguage": "en-US",
  "surname": "Vance",
  "userPrincipalName": "AdeleV@contoso.com",
  "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
}"#;

/// https://learn.microsoft.com/en-us/graph/delta-query-messages: the initial response (with
/// `@odata.nextLink`), the final one (with `@odata.deltaLink`), and the next round from the
/// delta link with a removed message. The links' host is the test server's (`{base}`).
const PAGE_1: &str = r##"{
  "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(message)",
  "@odata.nextLink": "{base}/v1.0/me/mailfolders('AQMkADNkNAAAgEMAAAA')/messages/delta?$skiptoken=GwcBoTmPuoTQWfcsAbkYM",
  "value": [
    {"@odata.type": "#microsoft.graph.message", "@odata.etag": "W/\"CQAAABYAAAARn2vdzPFjSbaPPxzjlzOTAAASsKZz\"",
     "subject": "Holiday hours update", "isRead": false,
     "sender": {"emailAddress": {"name": "Dana Swope", "address": "danas@contoso.com"}},
     "id": "AAMkADNkNAAASq35xAAA="},
    {"@odata.type": "#microsoft.graph.message", "@odata.etag": "W/\"CQAAABYAAAARn2vdzPFjSbaPPxzjlzOTAAAEfYB/\"",
     "subject": "Holiday promotion sale", "isRead": true,
     "sender": {"emailAddress": {"name": "Samantha Booth", "address": "samanthab@contoso.com"}},
     "id": "AQMkADNkNAAAVRMKAAAAA=="}
  ]
}"##;

const FINAL: &str = r##"{
  "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(message)",
  "@odata.deltaLink": "{base}/v1.0/me/mailfolders('AQMkADNkNAAAgEMAAAA')/messages/delta?$deltatoken=GwcBoTmPuoGNlgXgF1nyUNMXY",
  "value": [
    {"@odata.type": "#microsoft.graph.message", "@odata.etag": "W/\"CQAAABYAAAARn2vdzFPjSbaPPxzjlzOTAAAEfYB+\"",
     "subject": "Fabric CDN now available", "isRead": true,
     "sender": {"emailAddress": {"name": "Jodie Sharp", "address": "Jodie.Sharp@contoso.com"}},
     "id": "AAMkADk0MGFkODE3LWEAAA="}
  ]
}"##;

const NEXT_ROUND: &str = r##"{
  "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(message)",
  "@odata.deltaLink": "{base}/v1.0/me/mailfolders('AQMkADNkNAAAgEMAAAA')/messages/delta?$deltatoken=GwcBoTmPuoGNlgXgF1nyUNMXY",
  "value": [
    {"@odata.type": "#microsoft.graph.message",
     "id": "AAMkADk0MGFkODE3LWE4MmYtNDRhOS0Dh_6qB-pB2Sa2pUum19a6YAAKnLuxoAAA=",
     "@removed": {"reason": "deleted"}},
    {"@odata.type": "#microsoft.graph.message", "@odata.etag": "W/\"CQAAABYAAAARn2vdzPFjSbaPPxzjlzOTAAASsKZz\"",
     "subject": "Holiday hours update", "isRead": "true",
     "sender": {"emailAddress": {"name": "Dana Swope", "address": "danas@contoso.com"}},
     "id": "AAMkADNkNAAASq35xAAA="}
  ]
}"##;

fn token() -> Credentials {
    Credentials::Bearer(Secret::new("graph-doc-token"))
}

#[tokio::test]
async fn the_identity_is_the_users_id() {
    let server = DocServer::start(vec![json("GET", "/v1.0/me", ME)]).await;
    let c = server.connectors(Platform::Outlook, |_| {});
    let id = c
        .get(Platform::Outlook)
        .health_check(&token())
        .await
        .expect("identity");
    assert_eq!(
        id.account_id.as_deref(),
        Some("87d349ed-44d7-43e1-9a83-5f2406dee5bd")
    );
}

/// The delta round: `@odata.nextLink` pages on, `@odata.deltaLink` ends the listing and is
/// kept as the cursor; from it, a `@removed` entry is a deleted id, never an item.
#[tokio::test]
async fn a_delta_round_pages_to_its_delta_link_and_reports_removals() {
    let server = DocServer::start(vec![]).await;
    let base = server.base();
    let with = |s: &str| s.replace("{base}", &base);
    let folder = "/v1.0/me/mailfolders('AQMkADNkNAAAgEMAAAA')/messages/delta";
    server.add(vec![
        json(
            "GET",
            "/v1.0/me/mailFolders/inbox/messages/delta",
            &with(PAGE_1),
        ),
        json("GET", folder, &with(FINAL)),
        json("GET", folder, &with(NEXT_ROUND)),
    ]);
    let c = server.connectors(Platform::Outlook, |_| {});
    let outlook = c.get(Platform::Outlook);
    let ids = |p: &mcp_platforms::connectors::Page| -> Vec<String> {
        p.items.iter().map(|i| i.external_id.clone()).collect()
    };
    let first = outlook
        .list_page(&token(), None, &json!({}), None)
        .await
        .expect("page 1");
    assert_eq!(
        ids(&first),
        ["AAMkADNkNAAASq35xAAA=", "AQMkADNkNAAAVRMKAAAAA=="]
    );
    assert!(!first.done);
    let last = outlook
        .list_page(&token(), first.next_cursor.as_deref(), &json!({}), None)
        .await
        .expect("final page");
    assert_eq!(ids(&last), ["AAMkADk0MGFkODE3LWEAAA="]);
    assert!(last.done);
    assert!(last
        .next_cursor
        .as_deref()
        .is_some_and(|c| c.ends_with("$deltatoken=GwcBoTmPuoGNlgXgF1nyUNMXY")));
    let next = outlook
        .list_page(&token(), last.next_cursor.as_deref(), &json!({}), None)
        .await
        .expect("next round");
    assert_eq!(ids(&next), ["AAMkADNkNAAASq35xAAA="]);
    assert_eq!(
        next.deleted,
        ["AAMkADk0MGFkODE3LWE4MmYtNDRhOS0Dh_6qB-pB2Sa2pUum19a6YAAKnLuxoAAA="]
    );
}

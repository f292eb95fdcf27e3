//! The content calls against the platforms' documented requests and answers (not the
//! sandbox): what each call sends (path, parameters, headers, body) and how the documented
//! answer is read; Zoom's redirect between two servers (two origins) with the token kept on
//! the first; the listing fields asked by Outlook's `$select` and Monday's `items_page`.

use mcp_platforms::connectors::{Connectors, Credentials, ErrorType, Pace, Platform};
use mcp_platforms::secret::Secret;
use serde_json::{json, Value};

use super::{json, Answer, DocServer};

fn bearer(t: &str) -> Credentials {
    Credentials::Bearer(Secret::new(t))
}

fn free() -> Box<Pace> {
    Box::new(|| Box::pin(async { Ok(()) }))
}

async fn fetch(
    c: &Connectors,
    p: Platform,
    creds: &Credentials,
    raw: &Value,
) -> Result<Value, mcp_platforms::connectors::ConnectorError> {
    c.get(p)
        .fetch_content(creds, raw, &json!({}), &*free())
        .await
}

/// A `users.messages.get?format=full` answer in the `Message` schema (Google publishes no
/// sample; the item model's fixture, whose source is noted there).
const MESSAGE: &str =
    include_str!("../../../crates/mcp-platforms/src/items/fixtures/gmail_multipart.json");

#[tokio::test]
async fn gmail_gets_the_listed_message_in_full() {
    let path = "/gmail/v1/users/me/messages/18bcfe8e2f1c2a44";
    let server = DocServer::start(vec![json("GET", path, MESSAGE)]).await;
    let c = server.connectors(Platform::Gmail, |_| {});
    let raw = json!({"id": "18bcfe8e2f1c2a44", "threadId": "18bcfe8e2f1c2a44"});
    let content = fetch(&c, Platform::Gmail, &bearer("gmail-doc"), &raw)
        .await
        .expect("message");
    assert_eq!(content["payload"]["mimeType"], "multipart/mixed");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].q("format"), Some("full"));
    assert_eq!(seen[0].header("authorization"), Some("Bearer gmail-doc"));
}

/// https://developers.notion.com/reference/get-block-children: the list envelope of its
/// example (`object`, `results`, `next_cursor`, `has_more`, `type: "block"`, `block: {}`)
/// around block objects of https://developers.notion.com/reference/block (the heading_2
/// example, and a toggle with a child).
fn children(results: Value, next: Option<&str>) -> String {
    json!({"object": "list", "results": results, "next_cursor": next,
        "has_more": next.is_some(), "type": "block", "block": {}})
    .to_string()
}

fn block(id: &str, kind: &str, text: &str, kids: bool) -> Value {
    json!({"object": "block", "id": id,
        "parent": {"type": "page_id", "page_id": "59833787-2cf9-4fdf-8782-e53db20768a5"},
        "created_time": "2022-03-01T19:05:00.000Z", "last_edited_time": "2022-07-06T19:41:00.000Z",
        "created_by": {"object": "user", "id": "ee5f0f84-409a-440f-983a-a5315961c6e4"},
        "last_edited_by": {"object": "user", "id": "ee5f0f84-409a-440f-983a-a5315961c6e4"},
        "has_children": kids, "in_trash": false, "type": kind,
        kind: {"rich_text": [{"type": "text", "text": {"content": text, "link": null},
            "annotations": {"bold": false, "italic": false, "strikethrough": false,
                "underline": false, "code": false, "color": "green"},
            "plain_text": text, "href": null}], "color": "default", "is_toggleable": false}})
}

#[tokio::test]
async fn notion_reads_every_page_of_children_then_each_nested_block() {
    let page = "59833787-2cf9-4fdf-8782-e53db20768a5";
    let heading = "c02fc1d3-db8b-45c5-a222-27595b15aea7";
    let toggle = "acc7eb06-05cd-4603-a384-5e1e4f1f4e72";
    let inside = "a1712d54-53e4-4893-a69d-4d581cd2c845";
    let server = DocServer::start(vec![
        json(
            "GET",
            "/v1/blocks/59833787-2cf9-4fdf-8782-e53db20768a5/children",
            &children(
                json!([block(heading, "heading_2", "Lacinato kale", false)]),
                Some(toggle),
            ),
        ),
        json(
            "GET",
            "/v1/blocks/59833787-2cf9-4fdf-8782-e53db20768a5/children",
            &children(
                json!([block(toggle, "toggle", "Growing notes", true)]),
                None,
            ),
        ),
        json(
            "GET",
            "/v1/blocks/acc7eb06-05cd-4603-a384-5e1e4f1f4e72/children",
            &children(
                json!([block(inside, "paragraph", "Sow in early spring.", false)]),
                None,
            ),
        ),
    ])
    .await;
    let c = server.connectors(Platform::Notion, |_| {});
    let raw = json!({"object": "page", "id": page});
    let content = fetch(&c, Platform::Notion, &bearer("notion-doc"), &raw)
        .await
        .expect("blocks");
    let ids: Vec<(&str, u64)> = content["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| Some((b["id"].as_str()?, b["depth"].as_u64()?)))
        .collect();
    assert_eq!(ids, [(heading, 0), (toggle, 0), (inside, 1)]);
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.q("page_size") == Some("100")));
    assert!(seen
        .iter()
        .all(|s| s.header("notion-version") == Some("2022-06-28")));
    assert_eq!(seen[0].q("start_cursor"), None);
    assert_eq!(seen[1].q("start_cursor"), Some(toggle));
}

/// https://docs.fireflies.ai/graphql-api/query/transcript: the `transcript(id:)` query and its
/// example answer; a missing transcript as the error codes page shows `object_not_found`
/// (https://docs.fireflies.ai/miscellaneous/error-codes).
#[tokio::test]
async fn fireflies_asks_the_transcript_by_id() {
    let server = DocServer::start(vec![
        json(
            "POST",
            "/graphql",
            r#"{"data": {"transcript": {"title": "Weekly sync", "id": "transcript-id"}}}"#,
        ),
        json(
            "POST",
            "/graphql",
            r#"{"errors": [{"message": "Transcript not found", "code": "object_not_found",
               "extensions": {"code": "object_not_found", "status": 404,
               "metadata": {"objectType": "Transcript"}}}]}"#,
        ),
    ])
    .await;
    let c = server.connectors(Platform::Fireflies, |_| {});
    let key = Credentials::ApiKey(Secret::new("ff-doc"));
    let raw = json!({"id": "transcript-id", "title": "Weekly sync"});
    let content = fetch(&c, Platform::Fireflies, &key, &raw)
        .await
        .expect("transcript");
    assert_eq!(
        content,
        json!({"title": "Weekly sync", "id": "transcript-id"})
    );
    let sent: Value = serde_json::from_slice(&server.seen()[0].body).expect("json");
    assert_eq!(sent["variables"]["id"], "transcript-id");
    let q = sent["query"].as_str().unwrap_or_default();
    for field in [
        "transcript(id: $id)",
        "sentences { index speaker_name text",
        "summary { overview action_items",
    ] {
        assert!(q.contains(field), "{field}: {q}");
    }
    let e = fetch(&c, Platform::Fireflies, &key, &raw)
        .await
        .expect_err("gone");
    assert_eq!(e.error_type, ErrorType::NotFound);
}

/// Zoom's `download_url` with the token as a Bearer header, answered with a 302 to another
/// origin (a storage server): followed without the token; a 301 and a web page are refused.
#[tokio::test]
async fn zoom_downloads_with_the_token_and_follows_a_302_without_it() {
    let storage = DocServer::start(vec![Answer {
        method: "GET",
        path: "/files/transcript.vtt",
        status: 200,
        headers: vec![("content-type", "text/vtt".into())],
        body: "WEBVTT\n\n1\n00:00:00.000 --> 00:00:03.000\nJill Chill: Hello from the docs.\n"
            .into(),
    }])
    .await;
    let to = format!("{}/files/transcript.vtt?signature=abc", storage.base());
    let api = DocServer::start(vec![
        Answer {
            method: "GET",
            path: "/rec/download/Tr75t7xZ",
            status: 302,
            headers: vec![("location", to)],
            body: String::new(),
        },
        Answer {
            method: "GET",
            path: "/rec/download/moved",
            status: 301,
            headers: vec![(
                "location",
                format!("{}/files/transcript.vtt", storage.base()),
            )],
            body: String::new(),
        },
        Answer {
            method: "GET",
            path: "/rec/download/page",
            status: 200,
            headers: vec![("content-type", "text/html".into())],
            body: "<html><body>Only the host can download this recording.</body></html>".into(),
        },
    ])
    .await;
    let c = api.connectors(Platform::Zoom, |_| {});
    let meeting = |file: &str| {
        json!({"uuid": "BOKXuumlTAGXuqwr3bLyuQ==", "recording_files": [{
            "file_type": "TRANSCRIPT", "file_extension": "VTT", "status": "completed",
            "recording_type": "audio_transcript",
            "download_url": format!("{}/rec/download/{file}", api.base())}]})
    };
    let token = bearer("zoom-doc-token");
    let content = fetch(&c, Platform::Zoom, &token, &meeting("Tr75t7xZ"))
        .await
        .expect("vtt");
    assert!(content["vtt"]
        .as_str()
        .is_some_and(|v| v.contains("Jill Chill: Hello")));
    assert_eq!(
        api.seen()[0].header("authorization"),
        Some("Bearer zoom-doc-token")
    );
    let at_storage = storage.seen();
    assert_eq!(at_storage.len(), 1);
    assert_eq!(
        at_storage[0].header("authorization"),
        None,
        "the token stays with Zoom"
    );
    assert_eq!(at_storage[0].q("signature"), Some("abc"));

    let e = fetch(&c, Platform::Zoom, &token, &meeting("moved"))
        .await
        .expect_err("301");
    assert_eq!(e.code.as_deref(), Some("redirect_refused"));
    let e = fetch(&c, Platform::Zoom, &token, &meeting("page"))
        .await
        .expect_err("html");
    assert_eq!(
        (e.error_type, e.code.as_deref()),
        (ErrorType::InsufficientScope, Some("download_refused"))
    );
    let mut elsewhere = meeting("x");
    elsewhere["recording_files"][0]["download_url"] =
        json!(format!("{}/rec/download/x", storage.base()));
    let e = fetch(&c, Platform::Zoom, &token, &elsewhere)
        .await
        .expect_err("foreign");
    assert_eq!(e.code.as_deref(), Some("foreign_link"));
    assert_eq!(
        storage.seen().len(),
        1,
        "no request, token or not, to a URL off Zoom"
    );
}

/// Graph keeps the first request's `$select` in its links
/// (https://learn.microsoft.com/en-us/graph/api/message-delta): asked once, never again.
#[tokio::test]
async fn outlook_asks_select_on_the_first_delta_request_only() {
    let server = DocServer::start(vec![]).await;
    let next = format!(
        "{}/v1.0/me/mailfolders('AQMk')/messages/delta?$skiptoken=GwcB",
        server.base()
    );
    server.add(vec![
        json(
            "GET",
            "/v1.0/me/mailFolders/inbox/messages/delta",
            &json!({"@odata.nextLink": next, "value": []}).to_string(),
        ),
        json(
            "GET",
            "/v1.0/me/mailfolders('AQMk')/messages/delta",
            &json!({"@odata.deltaLink": "x", "value": []}).to_string(),
        ),
    ]);
    let c = server.connectors(Platform::Outlook, |_| {});
    let outlook = c.get(Platform::Outlook);
    let first = outlook
        .list_page(&bearer("g"), None, &json!({}), None)
        .await
        .expect("first");
    outlook
        .list_page(&bearer("g"), first.next_cursor.as_deref(), &json!({}), None)
        .await
        .expect("next");
    let seen = server.seen();
    let select = seen[0].q("$select").unwrap_or_default();
    for field in [
        "subject",
        "from",
        "toRecipients",
        "ccRecipients",
        "receivedDateTime",
        "body",
        "bodyPreview",
        "conversationId",
        "webLink",
    ] {
        assert!(select.split(',').any(|f| f == field), "{field}: {select}");
    }
    assert_eq!(seen[1].q("$select"), None);
    assert_eq!(seen[1].q("$skiptoken"), Some("GwcB"));
}

#[tokio::test]
async fn monday_asks_the_items_columns_and_updates() {
    let server = DocServer::start(vec![json(
        "POST",
        "/v2",
        r#"{"data": {"boards": [{"items_page": {"cursor": null, "items": []}}]}}"#,
    )])
    .await;
    let c = server.connectors(Platform::Monday, |_| {});
    c.get(Platform::Monday)
        .list_page(&bearer("m"), None, &json!({}), None)
        .await
        .expect("page");
    let sent: Value = serde_json::from_slice(&server.seen()[0].body).expect("json");
    let q = sent["query"].as_str().unwrap_or_default();
    for field in [
        "url",
        "board { id }",
        "column_values { id type text value column { title } }",
        "updates(limit: 10) { id text_body body created_at creator",
    ] {
        assert!(q.contains(field), "{field}: {q}");
    }
}

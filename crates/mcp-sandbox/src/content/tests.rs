//! The sandbox's content calls over plain HTTP, as a client other than our connectors sees
//! them: Notion's `page_size` and cursors, Graph's `$select` carried through its links,
//! Gmail's formats, the storage host's signed URLs, and the control endpoints of content
//! faults and large items.

use serde_json::{json, Value};

use mcp_platforms::connectors::{Connectors, HttpClientConfig, Platform};

use crate::{start, Sandbox};

const LOGIN: &str = "reader";

async fn get(
    c: &Connectors,
    url: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> (u16, Value, axum::http::HeaderMap) {
    let mut req = c.client().get(url).bearer_auth(token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("send");
    let (status, h) = (resp.status().as_u16(), resp.headers().clone());
    (status, resp.json().await.unwrap_or(Value::Null), h)
}

async fn setup() -> (Sandbox, Connectors) {
    let sb = start("127.0.0.1:0").await.expect("sandbox");
    sb.set_items_per_account(6);
    let c = Connectors::from_config(&HttpClientConfig::default(), &sb.config_overrides())
        .expect("connectors");
    (sb, c)
}

#[tokio::test]
async fn notion_block_children_honour_page_size_and_cursor() {
    let (sb, c) = setup().await;
    let (token, _) = sb.mint_token(Platform::Notion, LOGIN);
    let page = "00000002-0000-4000-8000-000000000002";
    let base = format!("{}/notion/v1/blocks/{page}/children", sb.base_url());
    let v = [("notion-version", "2022-06-28")];
    let (status, first, _) = get(&c, &format!("{base}?page_size=5"), &token, &v).await;
    assert_eq!(status, 200);
    assert_eq!(first["results"].as_array().map(Vec::len), Some(5));
    assert_eq!(first["has_more"], true);
    let cursor = first["next_cursor"].as_str().expect("cursor");
    assert_eq!(
        first["results"][4]["id"].as_str().map(|s| s < cursor),
        Some(true)
    );
    let (_, rest, _) = get(
        &c,
        &format!("{base}?page_size=100&start_cursor={cursor}"),
        &token,
        &v,
    )
    .await;
    assert_eq!(rest["results"].as_array().map(Vec::len), Some(7));
    assert_eq!(rest["has_more"], false);
    assert_eq!(rest["next_cursor"], Value::Null);
    assert_eq!(rest["results"][0]["id"], cursor);
    let (status, _, _) = get(&c, &base, &token, &[]).await;
    assert_eq!(status, 400, "Notion-Version is required");
    let other = format!(
        "{}/notion/v1/blocks/00000009-0000-4000-8000-000000000009/children",
        sb.base_url()
    );
    let (status, gone, _) = get(&c, &other, &token, &v).await;
    assert_eq!(
        (status, gone["code"].as_str()),
        (404, Some("object_not_found"))
    );
}

#[tokio::test]
async fn outlook_select_is_kept_in_the_links() {
    let (sb, c) = setup().await;
    sb.set_items_per_account(12);
    let (token, _) = sb.mint_token(Platform::Outlook, LOGIN);
    let first = format!(
        "{}/outlook/v1.0/me/mailFolders/inbox/messages/delta?$select=subject,body",
        sb.base_url()
    );
    let (_, page, _) = get(&c, &first, &token, &[]).await;
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    };
    assert_eq!(keys(&page["value"][0]), ["body", "id", "subject"]);
    let next = page["@odata.nextLink"].as_str().expect("next");
    let (_, page, _) = get(&c, next, &token, &[]).await;
    assert_eq!(keys(&page["value"][0]), ["body", "id", "subject"]);
    let all = format!(
        "{}/outlook/v1.0/me/mailFolders/inbox/messages/delta",
        sb.base_url()
    );
    let (_, page, _) = get(&c, &all, &token, &[]).await;
    assert!(
        keys(&page["value"][0]).len() > 10,
        "no $select: every property"
    );
}

#[tokio::test]
async fn gmail_messages_get_answers_its_formats() {
    let (sb, c) = setup().await;
    let (token, _) = sb.mint_token(Platform::Gmail, LOGIN);
    let url = |f: &str| {
        format!(
            "{}/gmail/gmail/v1/users/me/messages/m270f?format={f}",
            sb.base_url()
        )
    };
    let (status, full, _) = get(&c, &url("full"), &token, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        full["payload"]["parts"][0]["parts"][1]["mimeType"],
        "text/html"
    );
    let (_, meta, _) = get(&c, &url("metadata"), &token, &[]).await;
    assert!(meta["payload"]["headers"].is_array() && meta["payload"].get("parts").is_none());
    let (_, minimal, _) = get(&c, &url("minimal"), &token, &[]).await;
    assert!(minimal.get("payload").is_none() && minimal["threadId"].is_string());
    let unknown = format!("{}/gmail/gmail/v1/users/me/messages/m1", sb.base_url());
    let (status, e, _) = get(&c, &unknown, &token, &[]).await;
    assert_eq!(
        (status, e["error"]["status"].as_str()),
        (404, Some("NOT_FOUND"))
    );
}

#[tokio::test]
async fn zoom_storage_serves_only_signed_urls() {
    let (sb, c) = setup().await;
    let (token, _) = sb.mint_token(Platform::Zoom, LOGIN);
    let no_redirect =
        mcp_platforms::connectors::http::build_download_client(&HttpClientConfig::default())
            .expect("a client that follows no redirect");
    let dl = format!("{}/zoom/rec/download/rec2-vtt", sb.base_url());
    let resp = no_redirect
        .get(&dl)
        .bearer_auth(&token)
        .send()
        .await
        .expect("download");
    assert_eq!(resp.status().as_u16(), 302);
    let to = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert!(to.starts_with("http://localhost:"), "{to}");
    let (status, _, _) = get(&c, &dl.replace("rec2", "rec3"), &token, &[]).await;
    assert_eq!(status, 404, "meeting 3 has no transcript");
    let forged = to.replace("sig=", "sig=0");
    let resp = no_redirect.get(&forged).send().await.expect("storage");
    assert_eq!(resp.status().as_u16(), 403);
    let resp = no_redirect.get(&to).send().await.expect("storage");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp
        .text()
        .await
        .unwrap_or_default()
        .starts_with("WEBVTT\n\n1\n"));
    assert_eq!(sb.zoom_storage_downloads(), (2, 0));
}

#[tokio::test]
async fn content_faults_and_large_items_over_http() {
    let (sb, c) = setup().await;
    let post = |path: &str, body: Value| {
        c.client()
            .post(format!("{}{path}", sb.base_url()))
            .json(&body)
            .send()
    };
    let r = post(
        "/_sandbox/faults/content",
        json!({"platform": "fireflies",
        "fault": "rate_limit_seconds", "count": 1, "after": 1}),
    )
    .await
    .expect("arm");
    assert_eq!(r.status().as_u16(), 200);
    let r = post(
        "/_sandbox/items/enlarge",
        json!({"platform": "zoom", "account": LOGIN,
        "indexes": [0], "bytes": 100_000}),
    )
    .await
    .expect("enlarge");
    assert_eq!(r.status().as_u16(), 200);
    let (key, _) = sb.mint_token(Platform::Fireflies, LOGIN);
    let gql = |q: &str| {
        c.client()
            .post(format!("{}/fireflies/graphql", sb.base_url()))
            .bearer_auth(&key)
            .json(&json!({"query": q, "variables": {"id": "tr1"}}))
            .send()
    };
    let one = "query ($id: String!) { transcript(id: $id) { id } }";
    let list = "query { transcripts(limit: 5) { id } }";
    assert_eq!(
        gql(one).await.expect("1st").status().as_u16(),
        200,
        "let through"
    );
    assert_eq!(
        gql(list).await.expect("listing").status().as_u16(),
        200,
        "not a content call"
    );
    assert_eq!(
        gql(one).await.expect("2nd").status().as_u16(),
        429,
        "the second content call"
    );
    assert_eq!(gql(one).await.expect("3rd").status().as_u16(), 200, "spent");
    assert!(crate::content::zoom::transcript(0, Some(100_000)).len() >= 100_000);
    assert_eq!(
        sb.state.content.large(Platform::Zoom, LOGIN, 0),
        Some(100_000)
    );
}

//! Each platform's content call against the sandbox: the content's shape, and the model's text
//! from the listed record and its content. Outlook and Monday have none: their listings carry
//! what the model reads.

use mcp_platforms::connectors::Platform;
use mcp_sandbox::content::{gmail, monday, outlook};
use serde_json::json;

use super::*;

#[tokio::test]
async fn gmail_content_is_the_full_message_with_its_parts_decoded() {
    let (sb, c) = setup().await;
    let conn = c.get(Platform::Gmail);
    let cr = creds(&sb, Platform::Gmail);
    let plain = item_where(&sb, &c, Platform::Gmail, |it| {
        !gmail::html_only(&it.external_id)
    })
    .await;
    assert!(
        conn.needs_content(&plain.raw),
        "a listed message has no body"
    );
    let got = fetch(&sb, &*conn, &cr, &plain.raw, &json!({})).await;
    let content = got.result.expect("message");
    assert_eq!((got.paces, got.calls), (1, 1), "one messages.get");
    assert_eq!(content["id"], plain.raw["id"]);
    assert_eq!(content["payload"]["mimeType"], "multipart/mixed");
    assert!(
        !conn.needs_content(&content),
        "a full message needs no more"
    );
    let m = model(Platform::Gmail, &plain.raw, &content);
    let text = text_of(&m);
    // ISO-8859-1 text/plain, marked quoted-printable, decoded once.
    assert!(text.contains("Le café du jour"), "{text}");
    assert!(text.contains("[attachment: menu-"), "{text}");
    assert!(m
        .title
        .as_deref()
        .is_some_and(|t| t.starts_with("Café du jour")));
    let author = m.author.expect("From");
    assert_eq!(author.name.as_deref(), Some("Renée Dupont"));

    let html = item_where(&sb, &c, Platform::Gmail, |it| {
        gmail::html_only(&it.external_id)
    })
    .await;
    let content = fetch(&sb, &*conn, &cr, &html.raw, &json!({}))
        .await
        .result
        .expect("message");
    let text = text_of(&model(Platform::Gmail, &html.raw, &content));
    assert!(text.contains(gmail::HTML_ONLY_WORD), "{text}");
    assert!(
        !text.contains("se lit en HTML"),
        "the stub is not shown: {text}"
    );
}

/// Zoom's download answers 302 to a storage host (`localhost` for `127.0.0.1`, over TLS
/// here): followed, the file read, and the token not sent there.
#[tokio::test]
async fn zoom_transcript_follows_the_redirect_without_the_token() {
    let (sb, cert) = sandbox::start_https("127.0.0.1:0").await.expect("sandbox");
    sb.set_items_per_account(6);
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("sandbox-ca.pem");
    std::fs::write(&ca, cert).expect("cert");
    let c = connectors(&sb, Some(ca));
    let conn = c.get(Platform::Zoom);
    let cr = creds(&sb, Platform::Zoom);
    let all = listed(&*conn, &cr).await;
    assert_eq!(all.len(), 6);
    let (with, without): (Vec<_>, Vec<_>) = all.iter().partition(|it| conn.needs_content(&it.raw));
    assert!(!with.is_empty() && !without.is_empty());
    for it in &without {
        let files = it.raw["recording_files"].as_array().expect("files");
        assert!(
            files.iter().all(|f| f["file_type"] != "TRANSCRIPT"),
            "{it:?}"
        );
    }
    let meeting = &with[0];
    let got = fetch(&sb, &*conn, &cr, &meeting.raw, &json!({})).await;
    let content = got.result.expect("transcript");
    assert_eq!(
        (got.paces, got.calls),
        (2, 2),
        "the download and its redirect"
    );
    assert_eq!(
        sb.zoom_storage_downloads(),
        (1, 0),
        "no token to the storage host"
    );
    let vtt = content["vtt"].as_str().expect("vtt");
    assert!(vtt.starts_with("WEBVTT"), "{vtt}");
    let m = model(Platform::Zoom, &meeting.raw, &content);
    let text = text_of(&m);
    assert!(
        text.contains("Ben Okafor: Thanks Ana. The launch of release"),
        "{text}"
    );
    let speakers: Vec<_> = m
        .participants
        .iter()
        .filter_map(|p| p.name.clone())
        .collect();
    assert_eq!(speakers, ["Ana Lima", "Ben Okafor", "Chloé Martin"]);
}

#[tokio::test]
async fn zoom_redirects_over_plain_http_stay_on_plain_http_without_the_token() {
    let (sb, c) = setup().await;
    let conn = c.get(Platform::Zoom);
    let cr = creds(&sb, Platform::Zoom);
    let meeting = item_where(&sb, &c, Platform::Zoom, |it| conn.needs_content(&it.raw)).await;
    let content = fetch(&sb, &*conn, &cr, &meeting.raw, &json!({}))
        .await
        .result
        .expect("transcript");
    assert!(content["vtt"]
        .as_str()
        .is_some_and(|v| v.contains("Ana Lima:")));
    assert_eq!(sb.zoom_storage_downloads(), (1, 0));
}

#[tokio::test]
async fn fireflies_transcript_reads_with_its_sentences_and_summary() {
    let (sb, c) = setup().await;
    let conn = c.get(Platform::Fireflies);
    let cr = creds(&sb, Platform::Fireflies);
    let listed = item_where(&sb, &c, Platform::Fireflies, |_| true).await;
    assert!(conn.needs_content(&listed.raw));
    let got = fetch(&sb, &*conn, &cr, &listed.raw, &json!({})).await;
    let content = got.result.expect("transcript");
    assert_eq!((got.paces, got.calls), (1, 1));
    assert_eq!(content["id"], listed.raw["id"]);
    assert!(content["sentences"]
        .as_array()
        .is_some_and(|s| s.len() == 4));
    let m = model(Platform::Fireflies, &listed.raw, &content);
    let text = text_of(&m);
    assert!(text.starts_with("Summary:\nCall"), "{text}");
    assert!(text.contains("Action items:\nBen Okafor: send the revised budget"));
    assert!(text.contains("Ben Okafor: I will send the revised budget by Friday."));
    assert_eq!(
        m.author.and_then(|a| a.address).as_deref(),
        Some("ana@sandbox.test")
    );
}

#[tokio::test]
async fn notion_content_is_the_pages_blocks_in_order_to_three_levels() {
    let (sb, c) = setup().await;
    let conn = c.get(Platform::Notion);
    let cr = creds(&sb, Platform::Notion);
    let page = item_where(&sb, &c, Platform::Notion, |_| true).await;
    assert!(conn.needs_content(&page.raw));
    let got = fetch(&sb, &*conn, &cr, &page.raw, &json!({})).await;
    let content = got.result.expect("blocks");
    // The page, "Goals", "Ship the beta" and the toggle: one call each (no child page).
    assert_eq!((got.paces, got.calls), (4, 4));
    let blocks = content["blocks"].as_array().expect("blocks");
    let depths: Vec<u64> = blocks.iter().filter_map(|b| b["depth"].as_u64()).collect();
    assert_eq!(depths, [0, 0, 0, 1, 2, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    let text = text_of(&model(Platform::Notion, &page.raw, &content));
    let want = "- Goals\n  - Ship the beta\n    Beta opens to ten teams.\n    [ ] Write the launch note\n  - Hire two engineers\n[x] Book the review room";
    assert!(text.contains(want), "{text}");
    assert!(
        !text.contains("Deep detail"),
        "a fourth level is not read: {text}"
    );
    assert!(!text.contains("Inside the child page"), "{text}");
    assert!(text.contains("[page: Notes"), "{text}");
}

#[tokio::test]
async fn notion_content_depth_is_the_integrations_setting() {
    let (sb, c) = setup().await;
    let conn = c.get(Platform::Notion);
    let cr = creds(&sb, Platform::Notion);
    let page = item_where(&sb, &c, Platform::Notion, |_| true).await;
    let deep = fetch(&sb, &*conn, &cr, &page.raw, &json!({"content_depth": 4})).await;
    assert_eq!(deep.calls, 5);
    let text = text_of(&model(
        Platform::Notion,
        &page.raw,
        &deep.result.expect("blocks"),
    ));
    assert!(text.contains("      Deep detail of page"), "{text}");
    let flat = fetch(&sb, &*conn, &cr, &page.raw, &json!({"content_depth": 1})).await;
    assert_eq!(flat.calls, 1);
    let blocks = flat.result.expect("blocks")["blocks"]
        .as_array()
        .map(Vec::len);
    assert_eq!(blocks, Some(12));
    let bad = fetch(
        &sb,
        &*conn,
        &cr,
        &page.raw,
        &json!({"content_depth": "all"}),
    )
    .await;
    let e = bad.result.expect_err("refused");
    assert_eq!(
        e.error_type,
        mcp_platforms::connectors::ErrorType::BadRequest
    );
    assert_eq!(bad.calls, 0, "refused before any call");
}

/// Outlook has no content call: the delta listing asks `$select` (kept through its links)
/// and carries the HTML body.
#[tokio::test]
async fn outlook_listing_carries_the_selected_fields_and_body() {
    let (sb, c) = setup().await;
    sb.set_items_per_account(15);
    let conn = c.get(Platform::Outlook);
    let all = listed(&*conn, &creds(&sb, Platform::Outlook)).await;
    assert_eq!(all.len(), 15, "two pages");
    for it in &all {
        assert!(!conn.needs_content(&it.raw));
        assert_eq!(it.raw["body"]["contentType"], "html", "{it:?}");
        assert!(it.raw.get("isRead").is_none(), "only the selected fields");
    }
    let m = mcp_platforms::connectors::model(
        Platform::Outlook,
        &all[14].raw,
        None,
        &Context::default(),
    );
    assert!(text_of(&m).contains(outlook::BODY_WORD));
    assert_eq!(m.title.as_deref(), Some("mail 14"));
    assert_eq!(m.participants.len(), 2);
    let fetched = conn
        .fetch_content(
            &creds(&sb, Platform::Outlook),
            &all[0].raw,
            &json!({}),
            &*pace(None).1,
        )
        .await
        .expect("no call");
    assert_eq!(fetched, json!(null));
}

/// Monday has no content call: `items_page` asks the columns and updates.
#[tokio::test]
async fn monday_listing_carries_columns_and_updates() {
    let (sb, c) = setup().await;
    let conn = c.get(Platform::Monday);
    let all = listed(&*conn, &creds(&sb, Platform::Monday)).await;
    assert_eq!(all.len(), 6);
    assert!(!conn.needs_content(&all[0].raw));
    let m =
        mcp_platforms::connectors::model(Platform::Monday, &all[0].raw, None, &Context::default());
    let text = text_of(&m);
    assert!(
        text.contains("Notes: Order 0 needs a second supplier"),
        "{text}"
    );
    assert!(text.contains(monday::UPDATE_WORD), "{text}");
    assert_eq!(
        m.thread.as_deref(),
        Some(monday::BOARD.to_string().as_str())
    );
    assert!(m.url.is_some());
}

/// The platforms without a content call need none and fetch nothing.
#[tokio::test]
async fn platforms_without_a_content_call_fetch_nothing() {
    let (sb, c) = setup().await;
    for p in [
        Platform::Slack,
        Platform::Discord,
        Platform::ZeroVoice,
        Platform::Otter,
        Platform::Loom,
        Platform::Granola,
        Platform::ZeroDb,
    ] {
        let conn = c.get(p);
        let raw = json!({"id": "x1", "text": "hello"});
        assert!(!conn.needs_content(&raw), "{p}");
        assert!(conn.content_limit().is_none(), "{p}");
        let got = fetch(&sb, &*conn, &creds(&sb, p), &raw, &json!({})).await;
        assert_eq!(got.result.expect("nothing"), json!(null), "{p}");
        assert_eq!((got.paces, got.calls), (0, 0), "{p}");
    }
}

//! Items written by a sync carry the model: every platform's listing through the real
//! connectors and the sandbox, the model's kind, its fields, the feed's copy of them, and (where
//! a connector says its listing lacks the content) the content fetched by the sync itself.

use mcp_platforms::connectors::Platform;
use mcp_platforms::items::{Kind, MODEL_VERSION};

use super::*;
use crate::common::start_configured_worker;
use crate::sync::{seed, seed_all, set_settings, setup, sync_all, sync_once, FAST};

/// The model's kind of each platform's records (docs/ITEMS.md, "Kinds").
fn kind_of(p: Platform) -> Kind {
    match p {
        Platform::Gmail | Platform::Outlook => Kind::Email,
        Platform::Slack | Platform::Discord => Kind::Message,
        Platform::Zoom | Platform::ZeroVoice | Platform::Loom => Kind::Recording,
        Platform::Fireflies | Platform::Otter => Kind::Transcript,
        Platform::Monday => Kind::Task,
        Platform::Notion => Kind::Document,
        Platform::Granola | Platform::ZeroDb => Kind::Note,
    }
}

type Row = (
    String,
    serde_json::Value,
    String,
    i16,
    String,
    Option<String>,
    Option<String>,
    bool,
);

/// Every platform synced once: each item's kind is the model's, its version the current one,
/// and its content state says what its connector said of its listing (`needs_content`): fetched
/// where the listing lacks the content (Gmail, Zoom meetings with a transcript, Fireflies,
/// Notion: their content arrived), listed elsewhere.
#[tokio::test]
async fn items_written_by_a_sync_carry_the_model() {
    let (db, sb, cfg, ws) = setup(Some(12), FAST).await;
    let connectors = cfg.connectors().expect("connectors");
    let ids = seed_all(&db, &sb, ws, Platform::ALL).await;
    let worker = start_configured_worker(&db, cfg).await;
    sync_all(&db, &ids).await;
    let mut fetching = Vec::new();
    for (p, id) in &ids {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT external_id, raw, kind, model_version, content_state, title, text, \
                    content IS NOT NULL FROM mcp.synced_items \
             WHERE integration_id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .fetch_all(&db.pool)
        .await
        .expect("items");
        assert_eq!(rows.len(), 12, "{p}");
        for (ext, raw, kind, version, state, title, text, has_content) in rows {
            assert_eq!(kind, kind_of(*p).as_str(), "{p} {ext}");
            assert_eq!(version, MODEL_VERSION, "{p} {ext}");
            if connectors.get(*p).needs_content(&raw) {
                assert_eq!(
                    state, "fetched",
                    "{p} {ext}: its content is fetched by the sync"
                );
                assert!(has_content, "{p} {ext}");
                fetching.push(*p);
            } else {
                assert_eq!(state, "listed", "{p} {ext}");
                assert!(!has_content, "{p} {ext}");
            }
            match p {
                Platform::Slack => {
                    let said = raw.get("text").and_then(|t| t.as_str()).map(str::to_string);
                    assert_eq!(text, said, "a Slack message's text is its own");
                }
                Platform::Outlook => {
                    assert!(title.is_some_and(|t| t.starts_with("mail ")), "{ext}")
                }
                Platform::Otter | Platform::Loom | Platform::Granola | Platform::ZeroDb => {
                    assert!(title.is_some_and(|t| t.starts_with("item ")), "{p} {ext}")
                }
                _ => {}
            }
        }
    }
    // Slack's links are made from the workspace's address, which the sync asked `auth.test`
    // for before writing the first items.
    let slack = ids
        .iter()
        .find(|(p, _)| *p == Platform::Slack)
        .expect("slack")
        .1;
    let (web_base, linked): (Option<String>, i64) = sqlx::query_as(
        "SELECT (SELECT settings ->> 'web_base' FROM core.integrations WHERE id = $1), \
                (SELECT count(*) FROM mcp.synced_items WHERE integration_id = $1 \
                 AND url LIKE 'https://sandbox.slack.test/archives/%')",
    )
    .bind(slack)
    .fetch_one(&db.pool)
    .await
    .expect("slack links");
    assert_eq!(web_base.as_deref(), Some("https://sandbox.slack.test/"));
    assert_eq!(linked, 12, "every message has its permalink");
    fetching.dedup();
    assert_eq!(
        fetching,
        vec![
            Platform::Gmail,
            Platform::Zoom,
            Platform::Fireflies,
            Platform::Notion
        ],
        "the platforms whose listing lacks content (docs/ITEMS.md)"
    );
    // The sync's own statements computed each row's search vector (the trigger that computes
    // it for other writers skips the daemon's): the same vector, for listings and contents.
    let (vectors, stale): (i64, i64) = sqlx::query_as(
        "SELECT count(search), \
                count(*) FILTER (WHERE search IS DISTINCT FROM mcp.item_search_vector(title, text)) \
         FROM mcp.synced_items",
    )
    .fetch_one(&db.pool)
    .await
    .expect("vectors");
    assert_eq!(stale, 0, "every vector is its title's and text's");
    assert!(vectors >= 12 * 13, "{vectors} items have a vector");
    worker.shutdown().await;
    db.drop_db().await;
}

/// The change feed carries the model beside `raw`: a Slack message's change has its text,
/// author, link, thread; once deleted, none of it.
#[tokio::test]
async fn the_change_feed_carries_the_model() {
    let (db, sb, cfg, ws) = setup(Some(3), FAST).await;
    let id = seed(&db, &sb, ws, Platform::Slack, "acme").await;
    set_settings(
        &db,
        id,
        serde_json::json!({"web_base": "https://acme.slack.com/"}),
    )
    .await;
    let worker = start_configured_worker(&db, cfg).await;
    sync_once(&db, id).await;
    ops_of(&db, ws, 3).await;
    type Feed = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<serde_json::Value>,
        Option<String>,
        Option<String>,
        Option<serde_json::Value>,
    );
    let rows: Vec<Feed> = sqlx::query_as(
        "SELECT op, kind, title, text, author, url, content_state, item \
         FROM mcp.changes($1, NULL, 100)",
    )
    .bind(ws)
    .fetch_all(&db.pool)
    .await
    .expect("feed");
    assert_eq!(rows.len(), 3);
    for (op, kind, _title, text, author, url, state, item) in &rows {
        assert_eq!((op.as_str(), kind.as_str()), ("ADDED", "message"));
        let item = item.as_ref().expect("raw stays available");
        assert_eq!(text.as_deref(), item.get("text").and_then(|t| t.as_str()));
        assert!(author.is_some(), "{item}");
        assert!(
            url.as_deref()
                .is_some_and(|u| u.starts_with("https://acme.slack.com/archives/")),
            "{url:?}"
        );
        assert_eq!(state.as_deref(), Some("listed"));
    }
    // Deleted by plain SQL: the change names the item, and carries none of its fields.
    db.exec("DELETE FROM mcp.synced_items").await;
    assert_eq!(ops_of(&db, ws, 6).await.len(), 6);
    let gone: Vec<(Option<String>, Option<serde_json::Value>)> =
        sqlx::query_as("SELECT text, item FROM mcp.changes($1, NULL, 100) WHERE op = 'DELETED'")
            .bind(ws)
            .fetch_all(&db.pool)
            .await
            .expect("feed");
    assert_eq!(gone, vec![(None, None); 3]);
    worker.shutdown().await;
    db.drop_db().await;
}

//! Erasure: an integration moved to DELETED loses its items, their text and content, in that
//! move's transaction, whoever makes it; a disconnect (REVOKED) keeps them; a page written at
//! the same moment as the deletion never brings items back.

use mcp_queue::pg::Db;
use std::sync::Arc;

use mcp_daemon::config::Config;
use mcp_daemon::integrations;
use mcp_daemon::items::config::ItemsConfig;
use mcp_daemon::items::{self, Modeller};
use mcp_platforms::connectors::{Platform, SyncItem};
use serde_json::json;

use super::*;

async fn items_of(pool: &Db, i: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM mcp.synced_items WHERE integration_id = $1")
        .bind(i)
        .fetch_one(pool)
        .await
        .expect("count")
}

/// `n` items with text, and one tombstone, by plain SQL.
async fn fill(pool: &Db, i: Uuid, n: i32) {
    sqlx::query(
        "INSERT INTO mcp.synced_items (integration_id, external_id, workspace_id, platform, kind, \
           raw, title, text, content, content_state) \
         SELECT id, 'm' || g, workspace_id, platform, 'email', '{}', 'Subject ' || g, \
                'private words ' || g, '{\"body\": \"private\"}', 'fetched' \
         FROM core.integrations, generate_series(1, $2) g WHERE id = $1",
    )
    .bind(i)
    .bind(n)
    .execute(pool)
    .await
    .expect("fill");
    sqlx::query(
        "UPDATE mcp.synced_items SET deleted_at = now(), deleted_reason = 'gone' \
         WHERE integration_id = $1 AND external_id = 'm1'",
    )
    .bind(i)
    .execute(pool)
    .await
    .expect("tombstone");
}

async fn to_state(pool: &Db, i: Uuid, state: &str) {
    sqlx::query("SELECT mcp.transition_integration_state($1, $2, 'test')")
        .bind(i)
        .bind(state)
        .execute(pool)
        .await
        .expect("transition");
}

#[tokio::test]
async fn deleting_an_integration_erases_its_items_and_the_feed_says_so() {
    let db = TestDb::new().await;
    let ws = workspace(&db, "a").await;
    let gone = bare_active(&db.pool, ws, Platform::Gmail).await;
    let kept = bare_active(&db.pool, ws, Platform::Slack).await;
    fill(&db.pool, gone, 2500).await;
    fill(&db.pool, kept, 3).await;
    let before = ops_of(&db, ws, 2505).await.len();
    to_state(&db.pool, gone, "DELETED").await;
    assert_eq!(
        items_of(&db.pool, gone).await,
        0,
        "items, text and content erased"
    );
    assert_eq!(
        items_of(&db.pool, kept).await,
        3,
        "another integration's stay"
    );
    // One DELETED change per live item (the tombstone was announced when it was made), written
    // as one change row per 1,000 items.
    let ops = ops_of(&db, ws, before + 2499).await;
    let deleted = ops[before..]
        .iter()
        .filter(|(op, _)| op == "DELETED")
        .count();
    assert_eq!((ops.len() - before, deleted), (2499, 2499));
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mcp.item_changes WHERE integration_id = $1 AND op = 'D'",
    )
    .bind(gone)
    .fetch_one(&db.pool)
    .await
    .expect("rows");
    assert_eq!(
        rows,
        1 + 3,
        "the tombstone's own, then one per 1,000 erased"
    );
    // Search and the feed keep nothing of the text.
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM mcp.search_items($1, 'private')")
        .bind(ws)
        .fetch_one(&db.pool)
        .await
        .expect("search");
    assert_eq!(found, 2, "only the other integration's live items");
    db.drop_db().await;
}

/// A member may delete its own integration (it changes the state of its rows): the erasure
/// runs with the rights it needs.
#[tokio::test]
async fn a_members_deletion_erases_too() {
    let db = TestDb::new().await;
    let ws = workspace(&db, "a").await;
    let i = bare_active(&db.pool, ws, Platform::Zoom).await;
    fill(&db.pool, i, 5).await;
    let role = format!("{}_member", db.name);
    db.exec(&format!(
        "CREATE ROLE {role} NOLOGIN; GRANT mcp_workspace_member TO {role}; \
         INSERT INTO core.workspace_roles (role_name, workspace_id) VALUES ('{role}', '{ws}');"
    ))
    .await;
    let mut conn = db.pool.acquire().await.expect("conn");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET ROLE {role}; UPDATE core.integrations SET state = 'DELETED' WHERE id = '{i}'; RESET ROLE"
    )))
    .execute(&mut *conn)
    .await
    .expect("member deletes");
    drop(conn);
    assert_eq!(items_of(&db.pool, i).await, 0);
    db.exec(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .await;
    db.drop_db().await;
}

/// A disconnect moves the integration to REVOKED: its items, text and content stay (and stay
/// searchable) until it is deleted or reconnected.
#[tokio::test]
async fn a_disconnect_keeps_the_items() {
    let db = TestDb::new().await;
    let ws = workspace(&db, "a").await;
    let i = bare_active(&db.pool, ws, Platform::Gmail).await;
    fill(&db.pool, i, 4).await;
    integrations::transition(
        &db.pool,
        i,
        integrations::IntegrationState::Revoked,
        "disconnected",
    )
    .await
    .expect("disconnect");
    assert_eq!(items_of(&db.pool, i).await, 4);
    let (texts, contents): (i64, i64) = sqlx::query_as(
        "SELECT count(text), count(content) FROM mcp.synced_items WHERE integration_id = $1",
    )
    .bind(i)
    .fetch_one(&db.pool)
    .await
    .expect("kept");
    assert_eq!((texts, contents), (4, 4));
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM mcp.search_items($1, 'private')")
        .bind(ws)
        .fetch_one(&db.pool)
        .await
        .expect("search");
    assert_eq!(found, 3);
    // Deleted later: erased then.
    to_state(&db.pool, i, "DELETED").await;
    assert_eq!(items_of(&db.pool, i).await, 0);
    db.drop_db().await;
}

fn modeller() -> Modeller {
    let connectors = Config::default().connectors().expect("connectors");
    Modeller::new(Arc::new(connectors), ItemsConfig::default())
}

fn page(n: u32) -> Vec<SyncItem> {
    (0..n)
        .map(|k| SyncItem {
            external_id: format!("C1:{k}.000100"),
            kind: "message".into(),
            occurred_at: None,
            raw: json!({"type": "message", "text": format!("hello {k}"), "ts": format!("{k}.000100")}),
        })
        .collect()
}

/// A page written while the integration is being deleted: whichever commits first, no item of
/// the deleted integration is left.
#[tokio::test]
async fn a_page_written_during_the_deletion_leaves_no_item() {
    let db = TestDb::new().await;
    let ws = workspace(&db, "a").await;
    let m = modeller();
    // The page first: the deletion waits for it, then erases it too.
    let i = bare_active(&db.pool, ws, Platform::Slack).await;
    let integration = integrations::load(&db.pool, i).await.expect("load");
    let mut tx = items::begin(&db.pool).await.expect("tx");
    let saved = items::write_items(&mut tx, &m, &integration, &page(5), &[])
        .await
        .expect("write");
    assert_eq!(saved.written, 5);
    let pool = db.pool.clone();
    let deletion = tokio::spawn(async move { to_state(&pool, i, "DELETED").await });
    waiting_on_a_lock(&db).await;
    assert!(
        !deletion.is_finished(),
        "the deletion waits for the page's transaction"
    );
    tx.commit().await.expect("commit");
    deletion.await.expect("deletion");
    assert_eq!(items_of(&db.pool, i).await, 0);

    // The deletion first: the page waits for it, then writes nothing.
    let j = bare_active(&db.pool, ws, Platform::Slack).await;
    let integration = integrations::load(&db.pool, j).await.expect("load");
    let mut del = db.pool.begin().await.expect("tx");
    sqlx::query("SELECT mcp.transition_integration_state($1, 'DELETED', 'test')")
        .bind(j)
        .execute(&mut *del)
        .await
        .expect("transition");
    let pool = db.pool.clone();
    let writer = tokio::spawn(async move {
        let mut tx = items::begin(&pool).await.expect("tx");
        let saved = items::write_items(&mut tx, &m, &integration, &page(5), &[])
            .await
            .expect("write");
        tx.commit().await.expect("commit");
        saved
    });
    waiting_on_a_lock(&db).await;
    assert!(
        !writer.is_finished(),
        "the page waits for the deletion's transaction"
    );
    del.commit().await.expect("commit");
    let saved = writer.await.expect("writer");
    assert!(saved.refused && saved.written == 0, "{saved:?}");
    assert_eq!(items_of(&db.pool, j).await, 0);
    db.drop_db().await;
}

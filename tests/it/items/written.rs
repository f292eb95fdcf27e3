//! Another service writes an item with plain SQL, as docs/CHANGES.md shows: the documented
//! statement, run as written, is a change (ADDED, then UPDATED when it differs), is found by search, and keeps
//! its own model through a backfill.

use mcp_platforms::connectors::Platform;

use super::*;
use crate::common::start_builtin_worker;

/// The documented INSERT (the block that writes `note-42`), for integration `id`.
fn documented_insert(id: Uuid) -> String {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CHANGES.md"))
        .expect("docs/CHANGES.md");
    let block = page
        .split("```sql")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.contains("'note-42'"))
        .expect("the documented INSERT");
    block.replace("00000000-0000-0000-0000-000000000000", &id.to_string())
}

#[tokio::test]
async fn the_documented_item_insert_is_a_change_found_and_kept_by_a_backfill() {
    let db = TestDb::new().await;
    let ws = workspace(&db, "writer").await;
    let id = bare_active(&db.pool, ws, Platform::Notion).await;
    let sql = documented_insert(id);
    db.exec(&sql).await;
    // The same item written again unchanged is no change; with a difference it is one.
    db.exec(&sql).await;
    db.exec(&sql.replace("moves to Friday", "moves to Friday at noon"))
        .await;
    let want = vec![
        ("ADDED".to_string(), "note-42".to_string()),
        ("UPDATED".to_string(), "note-42".to_string()),
    ];
    assert_eq!(ops_of(&db, ws, 2).await, want);
    let hits: Vec<String> = sqlx::query_scalar(
        "SELECT external_id FROM mcp.search_items($1, 'budget friday', '{}', NULL, 10)",
    )
    .bind(ws)
    .fetch_all(&db.pool)
    .await
    .expect("search");
    assert_eq!(hits, vec!["note-42".to_string()]);

    // A backfill of every stale row leaves the written model as it is.
    let worker = start_builtin_worker(&db).await;
    let job = db
        .scalar_i64("SELECT mcp.enqueue_job('items_backfill')")
        .await;
    db.wait_until(
        &format!("SELECT state = 'completed' FROM mcp.sync_jobs WHERE id = {job}"),
        std::time::Duration::from_secs(30),
    )
    .await;
    let (title, text): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT title, text FROM mcp.synced_items WHERE external_id = 'note-42'")
            .fetch_one(&db.pool)
            .await
            .expect("item");
    assert_eq!(title.as_deref(), Some("Quarterly plan"));
    assert_eq!(
        text.as_deref(),
        Some("The budget review moves to Friday at noon.")
    );
    worker.shutdown().await;
    db.drop_db().await;
}

//! The items' hot statements: the writers' lock, the content step's, the backfill's batches,
//! search and threads, against the fixture's 50,000 modelled items.

use chrono::Utc;
use mcp_daemon::items::{backfill, content, LOCK_SQL};
use mcp_platforms::items::MODEL_VERSION;
use uuid::Uuid;

use super::{args, integration, Harness};
use crate::common::TestDb;

/// What a statement on one row (or a handful) may touch.
const SMALL: i64 = 25;
/// The content step's batch and the backfill's (the defaults).
const CONTENT_BATCH: i64 = 50;
const BACKFILL_BATCH: i64 = 500;

/// A sync page of `ids` (changed or new) with its models, as `SAVE_ITEMS_SQL` binds it.
pub fn page_args(
    id: Uuid,
    workspace: Uuid,
    platform: &str,
    ids: &[String],
) -> sqlx::postgres::PgArguments {
    let n = ids.len();
    args!(
        id,
        workspace,
        platform,
        ids,
        vec!["message"; n],
        vec![Some(Utc::now()); n],
        vec![r#"{"changed": true}"#; n],
        vec![Some("A title"); n],
        vec![Some("Some text of the item"); n],
        vec![false; n],
        vec![Some(r#"{"name": "Ann"}"#); n],
        vec!["[]"; n],
        vec![Some("https://example.com/x"); n],
        vec![Some("t1"); n],
        vec!["listed"; n],
        MODEL_VERSION
    )
}

pub async fn check(h: &mut Harness, db: &TestDb) {
    let id = integration(5);
    let ws: Uuid = sqlx::query_scalar("SELECT workspace_id FROM core.integrations WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("workspace");
    h.check("items: writer's lock", LOCK_SQL, args!(id), SMALL, true)
        .await;
    // The pending index holds a seventh of the items: a batch reads its own entries only.
    let m = h
        .check(
            "content: pending batch",
            content::PENDING_SQL,
            args!(id, CONTENT_BATCH, ""),
            3 * CONTENT_BATCH + SMALL,
            true,
        )
        .await;
    assert!(m.rows > 0, "{}", m.describe());
    let none: Option<&str> = None;
    h.check(
        "content: save one",
        content::SAVE_CONTENT_SQL,
        args!(
            id,
            "item-12005",
            Utc::now(),
            Some(r#"{"text": "x"}"#),
            "message",
            Some("title"),
            Some("text"),
            false,
            none,
            "[]",
            Some(Utc::now()),
            none,
            none,
            "fetched",
            MODEL_VERSION
        ),
        SMALL,
        true,
    )
    .await;
    h.check(
        "content: give up",
        content::GIVE_UP_SQL,
        args!(id, "item-12005", Utc::now()),
        SMALL,
        true,
    )
    .await;
    // The backfill walks the primary key: a batch reads its rows and their integrations.
    let m = h
        .check(
            "backfill: batch (500)",
            backfill::BATCH_SQL,
            args!(id, "item-5", BACKFILL_BATCH),
            4 * BACKFILL_BATCH + SMALL,
            true,
        )
        .await;
    assert_eq!(m.rows as i64, BACKFILL_BATCH, "{}", m.describe());
    h.check(
        "backfill: first batch (500)",
        backfill::BATCH_FIRST_SQL,
        args!(BACKFILL_BATCH),
        4 * BACKFILL_BATCH + SMALL,
        true,
    )
    .await;
    let n = 25usize;
    let ids = vec![id; n];
    let ext: Vec<String> = (0..n).map(|k| format!("item-{}", 5 + 2000 * k)).collect();
    let seen = vec![Utc::now(); n];
    let texts = vec![Some("t"); n];
    let m = h
        .check(
            "backfill: write (25)",
            backfill::WRITE_SQL,
            args!(
                &ids,
                &ext,
                &seen,
                vec!["message"; n],
                &texts,
                &texts,
                vec![false; n],
                vec![None::<String>; n],
                vec!["[]"; n],
                vec![Some(Utc::now()); n],
                &texts,
                &texts,
                vec!["listed"; n],
                vec![None::<String>; n],
                MODEL_VERSION
            ),
            5 * n as i64 + SMALL,
            true,
        )
        .await;
    assert_eq!(m.of("mcp.synced_items").updated, 0, "{}", m.describe());
    // Search: a rare word in one workspace's 6,250 items, through the GIN index; and the
    // newest without words, read off synced_items_recent. Functions: their statements are
    // counted.
    let m = h
        .check(
            "search: a word",
            "SELECT * FROM mcp.search_items($1, $2, '{}', NULL, 20)",
            args!(ws, "tag5"),
            500,
            false,
        )
        .await;
    assert!(m.rows > 0, "{}", m.describe());
    let m = h
        .check(
            "search: newest, no words",
            "SELECT * FROM mcp.search_items($1, NULL, '{}', NULL, 20)",
            args!(ws),
            200,
            false,
        )
        .await;
    assert_eq!(m.rows, 20, "{}", m.describe());
    let m = h
        .check(
            "threads: one thread",
            "SELECT * FROM mcp.thread_items($1, $2)",
            args!(id, "t5"),
            SMALL,
            false,
        )
        .await;
    assert!(m.rows > 0, "{}", m.describe());
}

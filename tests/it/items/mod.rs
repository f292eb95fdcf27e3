//! Items: their model and content, search and threads, erasure, deletions and the change feed
//! (tombstones from events, listings and reconciles, and `mcp.changes` read as its users read
//! it: plain SQL, a cursor, LISTEN).

use mcp_queue::pg::Db;
use uuid::Uuid;

pub(super) use crate::common::TestDb;
pub(super) use mcp_testkit::integrations::{bare_active, workspace};

mod carried;
pub(crate) mod changes;
mod content;
mod deletions;
mod erase;
mod fake;
mod feed_lag;
mod feed_property;
mod found;
mod kill;
mod model;
mod reconcile;
mod search;
mod threads;
mod written;

/// One row of `mcp.changes`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub(super) struct Change {
    pub cursor: String,
    pub op: String,
    pub integration_id: Uuid,
    pub external_id: String,
    pub kind: Option<String>,
    pub item: Option<serde_json::Value>,
}

pub(super) const CHANGES_SQL: &str =
    "SELECT cursor, op, integration_id, external_id, kind, item FROM mcp.changes($1, $2, $3)";

/// One call of the feed.
pub(super) async fn page(
    pool: &Db,
    ws: Uuid,
    after: Option<&str>,
    max: i32,
) -> Result<Vec<Change>, sqlx::Error> {
    mcp_queue::pg::query_as(CHANGES_SQL)
        .bind(ws)
        .bind(after)
        .bind(max)
        .fetch_all(pool)
        .await
}

/// Everything the feed holds now for `ws` after `after`, `max` rows per call; and the last cursor.
pub(super) async fn read_all(
    pool: &Db,
    ws: Uuid,
    mut after: Option<String>,
    max: i32,
) -> (Vec<Change>, Option<String>) {
    let mut all = Vec::new();
    loop {
        let got = page(pool, ws, after.as_deref(), max)
            .await
            .expect("changes");
        if got.is_empty() {
            return (all, after);
        }
        after = got.last().map(|c| c.cursor.clone());
        all.extend(got);
    }
}

/// The feed's (op, external id) of `ws` from the start, once every change below has settled
/// (the feed shows a change only when every older transaction on the server has ended).
pub(super) async fn ops_of(db: &TestDb, ws: Uuid, want: usize) -> Vec<(String, String)> {
    let start = std::time::Instant::now();
    loop {
        let (all, _) = read_all(&db.pool, ws, None, 1000).await;
        if all.len() >= want || start.elapsed() > std::time::Duration::from_secs(30) {
            return all.into_iter().map(|c| (c.op, c.external_id)).collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A page of items written by the daemon's page statement (`SAVE_ITEMS_SQL`) in the caller's
/// item-writer transaction, each with a bare model (kind `message`, no text); how many it wrote.
pub(super) async fn save_page(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    (ws, integration, platform): (Uuid, Uuid, &str),
    ids: &[&str],
    raws: &[String],
) -> i64 {
    let n = ids.len();
    mcp_queue::pg::query_scalar(mcp_daemon::items::SAVE_ITEMS_SQL)
        .bind(integration)
        .bind(ws)
        .bind(platform)
        .bind(ids)
        .bind(vec!["message"; n])
        .bind(vec![None::<chrono::DateTime<chrono::Utc>>; n])
        .bind(raws)
        .bind(vec![None::<String>; n])
        .bind(vec![None::<String>; n])
        .bind(vec![false; n])
        .bind(vec![None::<String>; n])
        .bind(vec!["[]"; n])
        .bind(vec![None::<String>; n])
        .bind(vec![None::<String>; n])
        .bind(vec!["listed"; n])
        .bind(mcp_platforms::items::MODEL_VERSION)
        .fetch_one(&mut **tx)
        .await
        .expect("page statement")
}

/// One item written (`raw`): by the daemon's page statement, or by plain SQL.
pub(super) async fn write(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    daemon: bool,
    (ws, integration, platform): (Uuid, Uuid, mcp_platforms::connectors::Platform),
    id: &str,
    raw: &str,
) {
    if daemon {
        save_page(
            tx,
            (ws, integration, platform.as_str()),
            &[id],
            &[raw.to_string()],
        )
        .await;
    } else {
        mcp_queue::pg::query(
            "INSERT INTO mcp.synced_items AS s (integration_id, external_id, workspace_id, \
             platform, kind, raw) SELECT id, $2, workspace_id, platform, 'x', $3::jsonb \
             FROM core.integrations WHERE id = $1 \
             ON CONFLICT (integration_id, external_id) DO UPDATE SET raw = EXCLUDED.raw",
        )
        .bind(integration)
        .bind(id)
        .bind(raw)
        .execute(&mut **tx)
        .await
        .expect("plain write");
    }
}

/// An item written by plain SQL, as another service would.
pub(super) async fn insert_item(pool: &Db, integration: Uuid, external_id: &str) {
    insert_item_as(
        pool,
        integration,
        external_id,
        "message",
        "jsonb_build_object('id', $2)",
    )
    .await;
}

/// An item of `kind` written by plain SQL, its raw record the SQL expression `raw` (in which
/// `$2` is the item's external id).
pub(super) async fn insert_item_as(
    pool: &Db,
    integration: Uuid,
    external_id: &str,
    kind: &str,
    raw: &str,
) {
    mcp_queue::pg::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO mcp.synced_items (integration_id, external_id, workspace_id, platform, \
         kind, raw) SELECT id, $2, workspace_id, platform, '{kind}', {raw} \
         FROM core.integrations WHERE id = $1"
    )))
    .bind(integration)
    .bind(external_id)
    .execute(pool)
    .await
    .expect("insert item");
}

/// A test database with the workspace `a` and an ACTIVE integration of `p` in it.
pub(super) async fn setup(p: mcp_platforms::connectors::Platform) -> (TestDb, Uuid, Uuid) {
    let db = TestDb::new().await;
    let ws = workspace(&db, "a").await;
    let i = bare_active(&db.pool, ws, p).await;
    (db, ws, i)
}

/// An ACTIVE integration of each of Slack, Notion, Zoom and Gmail in `ws`: (workspace,
/// integration, platform).
pub(super) async fn four_integrations(
    db: &TestDb,
    ws: Uuid,
) -> Vec<(Uuid, Uuid, mcp_platforms::connectors::Platform)> {
    use mcp_platforms::connectors::Platform;
    let mut v = Vec::new();
    for p in [
        Platform::Slack,
        Platform::Notion,
        Platform::Zoom,
        Platform::Gmail,
    ] {
        v.push((ws, bare_active(&db.pool, ws, p).await, p));
    }
    v
}

/// A transaction opened as the daemon's item writer opens it, or (not `daemon`) a plain one.
pub(super) async fn begin_writer(
    pool: &Db,
    daemon: bool,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    if daemon {
        pool.begin_with(mcp_daemon::items::WRITER_BEGIN).await
    } else {
        pool.begin().await
    }
    .expect("tx")
}

/// Takes the transaction's id now, so that it is older than what it waits for later.
pub(super) async fn take_xid(tx: &mut sqlx::Transaction<'static, sqlx::Postgres>) {
    mcp_queue::pg::query("SELECT pg_current_xact_id()")
        .execute(&mut **tx)
        .await
        .expect("xid");
}

/// One call of the feed (`max` rows after `cursor`), its (op, external id) added to `seen` and
/// `cursor` moved to its last row.
pub(super) async fn read_into(
    pool: &Db,
    ws: Uuid,
    cursor: &mut Option<String>,
    max: i32,
    seen: &mut Vec<(String, String)>,
) {
    let got = page(pool, ws, cursor.as_deref(), max).await.expect("page");
    if let Some(last) = got.last() {
        *cursor = Some(last.cursor.clone());
    }
    seen.extend(got.into_iter().map(|c| (c.op, c.external_id)));
}

/// (deleted, reason) of an item.
pub(super) async fn tombstone_of(pool: &Db, integration: Uuid, id: &str) -> (bool, Option<String>) {
    mcp_queue::pg::query_as(
        "SELECT deleted_at IS NOT NULL, deleted_reason FROM mcp.synced_items \
         WHERE integration_id = $1 AND external_id = $2",
    )
    .bind(integration)
    .bind(id)
    .fetch_one(pool)
    .await
    .expect("item")
}

/// Returns once a session of this test's database waits for a lock (the write that must wait).
pub(super) async fn waiting_on_a_lock(db: &TestDb) {
    db.wait_until(
        "SELECT count(*) > 0 FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
        std::time::Duration::from_secs(20),
    )
    .await;
}

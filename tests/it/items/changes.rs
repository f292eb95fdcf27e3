//! `mcp.changes`: every write by plain SQL is a change, in commit-safe order, paged by cursor;
//! bad arguments and pruned cursors are clear errors; a workspace role sees its own only;
//! readers LISTEN; four writers committing out of order are read exactly once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_platforms::connectors::Platform;
use rand::{Rng, SeedableRng};
use sqlx::postgres::PgListener;
use tokio::sync::Barrier;

use super::*;

#[tokio::test]
async fn plain_sql_writes_are_changes_paged_in_order() {
    let db = TestDb::new().await;
    let ws = workspace(&db, "a").await;
    let other = workspace(&db, "b").await;
    let i = bare_active(&db.pool, ws, Platform::Notion).await;
    let j = bare_active(&db.pool, other, Platform::Notion).await;
    for id in ["p1", "p2", "p3"] {
        insert_item(&db.pool, i, id).await;
    }
    insert_item(&db.pool, j, "elsewhere").await;
    db.exec(&format!(
        "UPDATE mcp.synced_items SET raw = '{{\"v\": 2}}' WHERE integration_id = '{i}' AND external_id = 'p2'"
    ))
    .await;
    // An update that changes nothing is no change.
    db.exec(&format!(
        "UPDATE mcp.synced_items SET raw = raw WHERE integration_id = '{i}' AND external_id = 'p3'"
    ))
    .await;
    db.exec(&format!(
        "UPDATE mcp.synced_items SET deleted_at = now(), deleted_reason = 'by hand' \
         WHERE integration_id = '{i}' AND external_id = 'p1'"
    ))
    .await;
    db.exec(&format!(
        "DELETE FROM mcp.synced_items WHERE integration_id = '{i}' AND external_id = 'p3'"
    ))
    .await;
    let want: Vec<(String, String)> = [
        ("ADDED", "p1"),
        ("ADDED", "p2"),
        ("ADDED", "p3"),
        ("UPDATED", "p2"),
        ("DELETED", "p1"),
        ("DELETED", "p3"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(ops_of(&db, ws, want.len()).await, want);

    // Paged two at a time, the same rows; the item is read as it is now.
    let (paged, last) = read_all(&db.pool, ws, None, 2).await;
    assert_eq!(paged.len(), 6);
    assert_eq!(paged[3].item, Some(serde_json::json!({"v": 2})));
    assert_eq!(paged[3].kind.as_deref(), Some("message"));
    assert_eq!(paged[4].item, None, "a deleted item is not shown");
    // Nothing new after the last cursor, until something changes.
    let after = page(&db.pool, ws, last.as_deref(), 10)
        .await
        .expect("after");
    assert!(after.is_empty());
    insert_item(&db.pool, i, "p4").await;
    let start = Instant::now();
    let next = loop {
        let got = page(&db.pool, ws, last.as_deref(), 10).await.expect("next");
        if !got.is_empty() || start.elapsed() > Duration::from_secs(30) {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(next.len(), 1);
    assert_eq!(
        (next[0].op.as_str(), next[0].external_id.as_str()),
        ("ADDED", "p4")
    );
    // The other workspace has its own feed.
    assert_eq!(
        ops_of(&db, other, 1).await,
        vec![("ADDED".to_string(), "elsewhere".to_string())]
    );
    db.drop_db().await;
}

#[tokio::test]
async fn bad_arguments_and_pruned_cursors_are_clear_errors() {
    let (db, ws, i) = setup(Platform::Slack).await;
    for n in 0..5 {
        insert_item(&db.pool, i, &format!("m{n}")).await;
    }
    let all = ops_of(&db, ws, 5).await;
    assert_eq!(all.len(), 5);
    let (rows, _) = read_all(&db.pool, ws, None, 100).await;
    let code = |e: &sqlx::Error| {
        e.as_database_error()
            .and_then(|d| d.code().map(|c| c.to_string()))
            .unwrap_or_default()
    };
    for (after, max) in [
        (Some("v1:garbage"), 10),
        (Some("12:3"), 10),
        (None, 0),
        (None, 100_001),
    ] {
        let e = page(&db.pool, ws, after, max).await.expect_err("refused");
        assert_eq!(code(&e), "22023", "{after:?} {max}: {e}");
    }

    // Retention: everything older than zero seconds goes; the cursor of the second row is now
    // older than what is kept, and its reader is told to resync. A NULL cursor starts again.
    let (changes, tombstones) =
        mcp_daemon::items::prune(&db.pool, Duration::ZERO, Duration::ZERO, 2)
            .await
            .expect("prune");
    assert_eq!((changes, tombstones), (5, 0));
    let e = page(&db.pool, ws, Some(&rows[1].cursor), 10)
        .await
        .expect_err("pruned");
    assert_eq!(code(&e), "MCP01", "{e}");
    assert!(
        e.to_string().contains("older than the retained changes"),
        "{e}"
    );
    assert!(page(&db.pool, ws, None, 10)
        .await
        .expect("from the start")
        .is_empty());
    insert_item(&db.pool, i, "m5").await;
    assert_eq!(ops_of(&db, ws, 1).await.len(), 1);

    // Tombstones go after their own retention, and their removal is no new change.
    db.exec(&format!(
        "UPDATE mcp.synced_items SET deleted_at = now() - interval '2 days' \
         WHERE integration_id = '{i}' AND external_id = 'm0'"
    ))
    .await;
    let (_, tombstones) = mcp_daemon::items::prune(
        &db.pool,
        Duration::from_secs(86_400),
        Duration::from_secs(86_400),
        100,
    )
    .await
    .expect("prune");
    assert_eq!(tombstones, 1);
    let ops = ops_of(&db, ws, 2).await;
    assert_eq!(
        ops,
        vec![
            ("ADDED".into(), "m5".into()),
            ("DELETED".into(), "m0".into())
        ],
        "the tombstone by hand is one change; its removal none"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_workspace_role_reads_only_its_own_feed() {
    let db = TestDb::new().await;
    let a = workspace(&db, "a").await;
    let b = workspace(&db, "b").await;
    let ia = bare_active(&db.pool, a, Platform::Zoom).await;
    let ib = bare_active(&db.pool, b, Platform::Zoom).await;
    insert_item(&db.pool, ia, "mine").await;
    insert_item(&db.pool, ib, "theirs").await;
    assert_eq!(ops_of(&db, a, 1).await.len(), 1);
    assert_eq!(ops_of(&db, b, 1).await.len(), 1);
    let role = format!("{}_reader", db.name);
    db.exec(&format!(
        "CREATE ROLE {role} NOLOGIN; GRANT mcp_workspace_member TO {role}; \
         INSERT INTO core.workspace_roles (role_name, workspace_id) VALUES ('{role}', '{a}');"
    ))
    .await;
    let mut conn = db.pool.acquire().await.expect("conn");
    let q = |sql: String| sqlx::raw_sql(sqlx::AssertSqlSafe(sql));
    q(format!("SET ROLE {role}"))
        .execute(&mut *conn)
        .await
        .expect("role");
    for (ws, want) in [(a, 1usize), (b, 0)] {
        let rows: Vec<Change> = sqlx::query_as(CHANGES_SQL)
            .bind(ws)
            .bind(None::<String>)
            .bind(100)
            .fetch_all(&mut *conn)
            .await
            .expect("feed as member");
        assert_eq!(rows.len(), want, "workspace {ws}");
        if want == 1 {
            assert_eq!(rows[0].item, Some(serde_json::json!({"id": "mine"})));
        }
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM mcp.item_changes")
        .fetch_one(&mut *conn)
        .await
        .expect("table as member");
    assert_eq!(n, 1);
    q("RESET ROLE".into())
        .execute(&mut *conn)
        .await
        .expect("reset");
    drop(conn);
    db.drop_db().await;
}

#[tokio::test]
async fn a_reader_listening_is_woken_by_a_committed_change() {
    let (db, ws, i) = setup(Platform::Monday).await;
    let mut listener = PgListener::connect(&db.url).await.expect("listener");
    listener.listen("mcp_item_changes").await.expect("listen");
    // A rolled-back write wakes nobody.
    let mut tx = db.pool.begin().await.expect("tx");
    sqlx::query(
        "INSERT INTO mcp.synced_items (integration_id, external_id, workspace_id, platform, kind, raw) \
         VALUES ($1, 'gone', $2, 'monday', 'item', '{}')",
    )
    .bind(i)
    .bind(ws)
    .execute(&mut *tx)
    .await
    .expect("insert");
    tx.rollback().await.expect("rollback");
    // Then a committed write and a marker: before the marker comes exactly one notification,
    // the committed write's (the rolled-back one sent none).
    insert_item(&db.pool, i, "i1").await;
    db.exec("SELECT pg_notify('mcp_item_changes', 'marker')")
        .await;
    let mut before_marker = Vec::new();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), listener.recv())
            .await
            .expect("woken")
            .expect("notification");
        if n.payload() == "marker" {
            break;
        }
        before_marker.push(n.payload().to_string());
    }
    assert_eq!(before_marker, vec![ws.to_string()]);
    assert_eq!(
        ops_of(&db, ws, 1).await,
        vec![("ADDED".into(), "i1".into())]
    );
    db.drop_db().await;
}

/// Four writers, each committing transactions of a few items in an order the scheduler and
/// random pauses choose (a writer that took its transaction id first often commits last), and
/// a reader paging the feed all the while with small pages: at the end the reader has seen
/// every change exactly once. Many interleavings: several rounds with different seeds.
#[tokio::test]
async fn four_writers_out_of_order_are_read_exactly_once() {
    let db = TestDb::new().await;
    four_writers_are_read_once(&db, db.pool.clone()).await;
    db.drop_db().await;
}

/// Four writers on `pool` commit out of order while a reader on it pages the feed: every
/// change is read exactly once, in each item's order.
pub(crate) async fn four_writers_are_read_once(db: &TestDb, pool: mcp_queue::pg::Db) {
    let ws = workspace(db, "a").await;
    let integrations = four_integrations(db, ws).await;
    const ROUNDS: u64 = 8;
    const TXS: usize = 12;
    let mut cursor: Option<String> = None;
    for round in 0..ROUNDS {
        let start_gate = Arc::new(Barrier::new(integrations.len()));
        let mut writers = Vec::new();
        for (w, integration) in integrations.iter().copied().enumerate() {
            let pool = pool.clone();
            let gate = start_gate.clone();
            writers.push(tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(round * 31 + w as u64);
                gate.wait().await;
                let mut written = Vec::new();
                // Writers 0 and 2 write as the daemon does (the page statement, which writes
                // its own change rows); 1 and 3 by plain SQL (the capture trigger).
                let daemon = w % 2 == 0;
                for t in 0..TXS {
                    let mut tx = begin_writer(&pool, daemon).await;
                    let n = rng.random_range(1..4);
                    for k in 0..n {
                        let id = format!("r{round}-w{w}-t{t}-{k}");
                        write(&mut tx, daemon, integration, &id, "{}").await;
                        written.push(("ADDED".to_string(), id.clone()));
                        // Some items change again in the same transaction.
                        if rng.random_bool(0.3) {
                            write(&mut tx, daemon, integration, &id, "{\"v\": 2}").await;
                            written.push(("UPDATED".to_string(), id));
                        }
                        // Hold the transaction open a while: later ids commit first.
                        tokio::time::sleep(Duration::from_millis(rng.random_range(0..6))).await;
                    }
                    tx.commit().await.expect("commit");
                }
                written
            }));
        }
        // The reader pages while the writers run, and until everything written is seen.
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut writers_done = false;
        let mut expected: Vec<(String, String)> = Vec::new();
        let start = Instant::now();
        loop {
            read_into(&pool, ws, &mut cursor, 3, &mut seen).await;
            if !writers_done && writers.iter().all(|h| h.is_finished()) {
                writers_done = true;
                for h in writers.drain(..) {
                    expected.extend(h.await.expect("writer"));
                }
            }
            if writers_done && seen.len() >= expected.len() {
                // One more read: nothing beyond what was written.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let extra = page(&pool, ws, cursor.as_deref(), 100).await.expect("page");
                seen.extend(extra.into_iter().map(|c| (c.op, c.external_id)));
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "round {round}: saw {} of {}",
                seen.len(),
                expected.len()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut counts: HashMap<(String, String), i32> = HashMap::new();
        for s in &seen {
            *counts.entry(s.clone()).or_default() += 1;
        }
        let dup: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(dup.is_empty(), "round {round}: seen twice: {dup:?}");
        let mut want = expected.clone();
        want.sort();
        let mut got = seen.clone();
        got.sort();
        assert_eq!(got, want, "round {round}: every change exactly once");
        // Within one item, the order is the order of its writes.
        for (op, id) in &seen {
            if op == "UPDATED" {
                let a = seen.iter().position(|s| s.0 == "ADDED" && &s.1 == id);
                let u = seen.iter().position(|s| s.0 == "UPDATED" && &s.1 == id);
                assert!(a < u, "round {round}: {id} updated before added");
            }
        }
    }
}

/// The documented reader (`scripts/feed-reader`) pages the feed, keeps its place across
/// restarts, and stops with status 3 when its place was pruned.
#[tokio::test]
async fn the_documented_reader_resumes_where_it_stopped() {
    let (db, ws, i) = setup(Platform::Notion).await;
    for n in 0..700 {
        insert_item(&db.pool, i, &format!("n{n:03}")).await;
    }
    assert_eq!(ops_of(&db, ws, 700).await.len(), 700);
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("cursor");
    let run = || {
        std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/feed-reader"))
            .arg(ws.to_string())
            .arg(&state)
            .env("DATABASE_URL", &db.url)
            .output()
            .expect("feed-reader")
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 700, "two pages of 500 and 200");
    assert!(
        lines[0].starts_with(&format!("ADDED\t{i}\tn000\tmessage\tv1:")),
        "{}",
        lines[0]
    );
    let out = run();
    assert!(out.stdout.is_empty(), "nothing new");
    insert_item(&db.pool, i, "late").await;
    assert_eq!(ops_of(&db, ws, 701).await.len(), 701);
    let out = run();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("\tlate\t"));
    mcp_daemon::items::prune(&db.pool, Duration::ZERO, Duration::ZERO, 1000)
        .await
        .expect("prune");
    let out = run();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db.drop_db().await;
}

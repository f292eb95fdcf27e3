//! The change feed under the writes a sync really makes: pages of many items in one change row
//! (read a few rows at a time, so that a reader stops inside such a row), tombstones and plain
//! deletions, and the same items changed and tombstoned by several transactions that wait for
//! each other. Every change is read exactly once, and for each item the last change read says
//! what the item is at the end (deleted or not), whatever order the writers' transaction ids
//! were taken in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_platforms::connectors::Platform;
use rand::{Rng, SeedableRng};
use tokio::sync::Barrier;

use super::*;

const SHARED: usize = 3;

/// Tombstones items as the daemon does (the statement writes its own change rows).
async fn tombstone(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    integration: Uuid,
    ids: &[String],
) -> u64 {
    let n = ids.len();
    let rows: Vec<(Uuid, String, i64)> =
        sqlx::query_as(mcp_daemon::items::tombstone::TOMBSTONE_SQL)
            .bind(vec![integration; n])
            .bind(ids)
            .bind(vec!["gone (test)"; n])
            .fetch_all(&mut **tx)
            .await
            .expect("tombstone");
    rows.iter().map(|r| r.2 as u64).sum()
}

#[tokio::test]
async fn pages_deletions_and_contended_items_are_read_once_and_end_as_stored() {
    let db = TestDb::new().await;
    let ws = workspace(&db, "a").await;
    let integrations = four_integrations(&db, ws).await;
    // The items every daemon-style writer changes and tombstones, of one integration.
    let (_, shared_of, shared_platform) = integrations[0];
    const ROUNDS: u64 = 4;
    const TXS: usize = 8;
    let mut cursor: Option<String> = None;
    let mut seen: Vec<(String, String)> = Vec::new();
    for round in 0..ROUNDS {
        let shared: Vec<String> = (0..SHARED)
            .map(|k| format!("shared-r{round}-{k}"))
            .collect();
        {
            let mut tx = begin_writer(&db.pool, true).await;
            let raws = vec!["{}".to_string(); SHARED];
            let refs: Vec<&str> = shared.iter().map(String::as_str).collect();
            save_page(
                &mut tx,
                (ws, shared_of, shared_platform.as_str()),
                &refs,
                &raws,
            )
            .await;
            tx.commit().await.expect("commit");
        }
        let mut expected: Vec<(String, String)> = shared
            .iter()
            .map(|id| ("ADDED".to_string(), id.clone()))
            .collect();
        let gate = Arc::new(Barrier::new(integrations.len()));
        let mut writers = Vec::new();
        for (w, integration) in integrations.iter().copied().enumerate() {
            let pool = db.pool.clone();
            let gate = gate.clone();
            let shared = shared.clone();
            writers.push(tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(round * 131 + w as u64);
                let daemon = w % 2 == 0;
                let (_, iid, platform) = integration;
                let mut live: Vec<String> = Vec::new();
                let mut written = Vec::new();
                gate.wait().await;
                for t in 0..TXS {
                    let mut tx = begin_writer(&pool, daemon).await;
                    // Take a transaction id first, so that it is older than what it waits for.
                    take_xid(&mut tx).await;
                    let n = rng.random_range(1..=7);
                    let ids: Vec<String> = (0..n).map(|k| format!("r{round}-w{w}-t{t}-{k}")).collect();
                    if daemon {
                        // One page: one change row naming every item of it.
                        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                        save_page(&mut tx, (ws, iid, platform.as_str()), &refs, &vec!["{}".to_string(); n]).await;
                    } else {
                        for id in &ids {
                            write(&mut tx, false, integration, id, "{}").await;
                        }
                    }
                    written.extend(ids.iter().map(|id| ("ADDED".to_string(), id.clone())));
                    // Some earlier items of this writer go.
                    if !live.is_empty() && rng.random_bool(0.4) {
                        let k = rng.random_range(0..live.len());
                        let gone = live.swap_remove(k);
                        if daemon {
                            assert_eq!(tombstone(&mut tx, iid, std::slice::from_ref(&gone)).await, 1);
                        } else {
                            sqlx::query("DELETE FROM mcp.synced_items WHERE integration_id = $1 AND external_id = $2")
                                .bind(iid)
                                .bind(&gone)
                                .execute(&mut *tx)
                                .await
                                .expect("delete");
                        }
                        written.push(("DELETED".to_string(), gone));
                    }
                    live.extend(ids);
                    // The daemon-style writers change or tombstone a shared item, waiting for
                    // whoever holds it.
                    if daemon && rng.random_bool(0.7) {
                        let item = shared[rng.random_range(0..SHARED)].clone();
                        if rng.random_bool(0.5) {
                            let raw = format!("{{\"w\": {w}, \"t\": {t}}}");
                            save_page(&mut tx, (ws, shared_of, shared_platform.as_str()), &[item.as_str()], &[raw]).await;
                            written.push(("CHANGED".to_string(), item));
                        } else if tombstone(&mut tx, shared_of, std::slice::from_ref(&item)).await == 1 {
                            written.push(("DELETED".to_string(), item));
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(rng.random_range(0..4))).await;
                    tx.commit().await.expect("commit");
                }
                written
            }));
        }
        for h in writers {
            expected.extend(h.await.expect("writer"));
        }
        // Read until the feed has shown as many changes as were written, three rows a call.
        let before = seen.len();
        let start = Instant::now();
        loop {
            read_into(&db.pool, ws, &mut cursor, 3, &mut seen).await;
            if seen.len() - before >= expected.len() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "round {round}: saw {} of {}",
                seen.len() - before,
                expected.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Exactly once: the same multiset of (op, item). A shared item's change is UPDATED,
        // whether it was live or tombstoned (it comes back).
        let mut want: Vec<(String, String)> = expected
            .iter()
            .map(|(op, id)| {
                (
                    if op == "CHANGED" {
                        "UPDATED".into()
                    } else {
                        op.clone()
                    },
                    id.clone(),
                )
            })
            .collect();
        want.sort();
        let mut got: Vec<(String, String)> = seen[before..].to_vec();
        got.sort();
        assert_eq!(got, want, "round {round}: every change exactly once");
        // Each item ends as its last change says.
        let mut last: HashMap<&str, &str> = HashMap::new();
        for (op, id) in &seen[before..] {
            last.insert(id.as_str(), op.as_str());
        }
        let of_round = |tombstoned: bool| {
            sqlx::query_scalar::<_, String>(
                "SELECT external_id FROM mcp.synced_items WHERE workspace_id = $1 \
                 AND (deleted_at IS NOT NULL) = $3 AND external_id LIKE $2",
            )
            .bind(ws)
            .bind(format!("%r{round}-%"))
            .bind(tombstoned)
            .fetch_all(&db.pool)
        };
        let deleted = of_round(true).await.expect("deleted");
        let present = of_round(false).await.expect("present");
        for (id, op) in &last {
            let is_gone = !present.iter().any(|p| p == id);
            assert_eq!(
                *op == "DELETED",
                is_gone,
                "round {round}: {id} ends {} but its last change read is {op}",
                if deleted.iter().any(|d| d == id) {
                    "tombstoned"
                } else if is_gone {
                    "deleted"
                } else {
                    "live"
                }
            );
        }
    }
    db.drop_db().await;
}

/// The case the random writers above rarely meet, made to happen: a transaction that took its id
/// first waits for a younger one that tombstones an item, then brings the item back. The feed
/// must end with the item live.
#[tokio::test]
async fn an_older_transaction_that_waited_is_read_after_the_one_it_waited_for() {
    let (db, ws, i) = setup(Platform::Slack).await;
    let mut first = begin_writer(&db.pool, true).await;
    save_page(&mut first, (ws, i, "slack"), &["x"], &["{}".to_string()]).await;
    first.commit().await.expect("commit");

    let mut older = begin_writer(&db.pool, true).await;
    take_xid(&mut older).await;
    let mut younger = begin_writer(&db.pool, true).await;
    assert_eq!(tombstone(&mut younger, i, &["x".to_string()]).await, 1);
    let revive = tokio::spawn(async move {
        save_page(
            &mut older,
            (ws, i, "slack"),
            &["x"],
            &["{\"back\": true}".to_string()],
        )
        .await;
        older
    });
    waiting_on_a_lock(&db).await;
    younger.commit().await.expect("commit");
    let older = revive.await.expect("revive");
    older.commit().await.expect("commit");
    let live = db
        .scalar_i64(
            "SELECT count(*) FROM mcp.synced_items WHERE external_id = 'x' AND deleted_at IS NULL",
        )
        .await;
    assert_eq!(live, 1, "the item is back");
    let ops = ops_of(&db, ws, 3).await;
    assert_eq!(
        ops.last().map(|(op, _)| op.as_str()),
        Some("UPDATED"),
        "the feed ends with the item back: {ops:?}"
    );
    db.drop_db().await;
}

//! Per-kind concurrency: `[kinds.<kind>] concurrency` bounds how many jobs of a kind one daemon
//! runs at once, and a kind at its limit leaves the daemon's other slots to other kinds.

use std::time::Duration;

use mcp_daemon::config::KindOverride;

use crate::common::{start_configured_worker, test_config, TestDb};

/// Most intervals [attempted_at, finished_at] of `kind` that overlap at one instant.
async fn max_overlap(db: &TestDb, kind: &str) -> i64 {
    sqlx::query_scalar(
        "WITH ev AS ( \
             SELECT attempted_at AS at, 1 AS d FROM mcp.sync_jobs WHERE kind = $1 \
             UNION ALL \
             SELECT finished_at, -1 FROM mcp.sync_jobs WHERE kind = $1) \
         SELECT max(running)::bigint FROM ( \
             SELECT sum(d) OVER (ORDER BY at, d) AS running FROM ev) s",
    )
    .bind(kind)
    .fetch_one(&db.pool)
    .await
    .expect("overlap")
}

fn limited(url: &str, kind: &str, n: usize) -> mcp_daemon::config::Config {
    let mut cfg = test_config(url);
    cfg.kinds.insert(
        kind.into(),
        KindOverride {
            concurrency: Some(n),
            ..KindOverride::default()
        },
    );
    cfg
}

#[tokio::test]
async fn a_kind_never_runs_more_jobs_at_once_than_its_concurrency() {
    let db = TestDb::new().await;
    let cfg = limited(&db.url, "noop", 3);
    db.exec(
        "INSERT INTO mcp.sync_jobs (kind, payload) \
         SELECT 'noop', '{\"sleep_ms\": 60}' FROM generate_series(1, 24)",
    )
    .await;
    let worker = start_configured_worker(&db, cfg).await;
    db.wait_until(
        "SELECT count(*) = 24 FROM mcp.sync_jobs WHERE kind = 'noop' AND state = 'completed'",
        Duration::from_secs(20),
    )
    .await;
    worker.shutdown().await;
    // A slot is freed only once the outcome is written, so a job's claim never precedes the
    // finish of the job whose slot it took: the overlap is exact.
    assert_eq!(
        max_overlap(&db, "noop").await,
        3,
        "at most 3 noop jobs at once, and the limit was used"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_kind_at_its_limit_leaves_slots_to_other_kinds() {
    let db = TestDb::new().await;
    let cfg = limited(&db.url, "noop", 2);
    // 40 jobs of 30 s, two at a time: ten minutes of work queued ahead of the prune, so none
    // can finish before it unless the prune waited for them.
    db.exec(
        "INSERT INTO mcp.sync_jobs (kind, payload, priority) \
         SELECT 'noop', '{\"sleep_ms\": 30000}', -1 FROM generate_series(1, 40)",
    )
    .await;
    let worker = start_configured_worker(&db, cfg).await;
    db.wait_until(
        "SELECT count(*) = 2 FROM mcp.sync_jobs WHERE kind = 'noop' AND state = 'running'",
        Duration::from_secs(10),
    )
    .await;
    db.exec("INSERT INTO mcp.sync_jobs (kind) VALUES ('prune')")
        .await;
    db.wait_until(
        "SELECT count(*) = 1 FROM mcp.sync_jobs WHERE kind = 'prune' AND state = 'completed'",
        Duration::from_secs(10),
    )
    .await;
    let noop_left = db
        .scalar_i64(
            "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'noop' AND state <> 'completed'",
        )
        .await;
    assert_eq!(
        noop_left, 40,
        "the prune ran beside the saturated kind, not after any of it"
    );
    worker.shutdown().await;
    assert!(max_overlap(&db, "noop").await <= 2);
    db.drop_db().await;
}

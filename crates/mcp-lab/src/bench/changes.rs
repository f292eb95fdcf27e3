//! `mcp-worker-lab bench --suite changes`: the deletions and the change feed. One integration lists
//! `--reconcile-items` items in the sandbox; the real daemon (a child process, rate limits
//! raised) syncs them, the sandbox then removes 1% of them, and a `reconcile` lists everything
//! again and tombstones what is gone: its wall time and items/s are printed. Then the feed is
//! read to its end with `mcp.changes` pages of 1,000: rows/s, once over what the sync and the
//! reconcile wrote (one change row per page) and once over as many single-item changes written
//! by plain SQL (one change row each). It prints numbers; it asserts nothing.

use std::time::Instant;

use anyhow::{bail, Context};
use sqlx::{Connection, PgConnection};

use crate::bench::{machine, BenchArgs};
use mcp_platforms::connectors::Platform;

#[derive(Debug, Default, serde::Serialize)]
pub struct ChangesReport {
    pub machine: String,
    pub items: u64,
    pub sync_s: f64,
    pub reconcile_s: f64,
    pub reconcile_items_per_s: f64,
    pub tombstoned: i64,
    pub feed_rows: i64,
    pub feed_rows_per_s: f64,
    pub single_feed_rows: i64,
    pub single_feed_rows_per_s: f64,
    pub daemon_peak_rss_mb: f64,
}

/// Reads the whole feed of `ws` in pages of 1,000: (rows, seconds).
async fn read_feed(conn: &mut PgConnection, ws: uuid::Uuid) -> anyhow::Result<(i64, f64)> {
    let t = Instant::now();
    let mut cursor: Option<String> = None;
    let mut rows = 0i64;
    loop {
        let page: Vec<(String,)> = sqlx::query_as("SELECT cursor FROM mcp.changes($1, $2, 1000)")
            .bind(ws)
            .bind(cursor.as_deref())
            .fetch_all(&mut *conn)
            .await?;
        let Some(last) = page.last() else { break };
        rows += page.len() as i64;
        cursor = Some(last.0.clone());
    }
    Ok((rows, t.elapsed().as_secs_f64()))
}

pub async fn measure(args: &BenchArgs, db_url: &str) -> anyhow::Result<ChangesReport> {
    let per = args.reconcile_items.max(100);
    let mut report = ChangesReport {
        machine: machine(),
        items: per,
        ..ChangesReport::default()
    };
    println!("machine: {}", report.machine);
    let p = Platform::Granola;
    let crate::bench::health::Seeded {
        pool,
        sandbox,
        keys,
        ids,
        ..
    } = crate::bench::health::setup(db_url, 1, &[p], None).await?;
    let id = *ids.first().context("no integration seeded")?;
    sandbox.set_items_per_account(per);
    let daemon = crate::bench::sync::daemon_unlimited(&keys, &sandbox, args, db_url, "").await?;
    let mut conn = PgConnection::connect(db_url).await?;
    let ws: uuid::Uuid =
        sqlx::query_scalar("SELECT workspace_id FROM core.integrations WHERE id = $1")
            .bind(id)
            .fetch_one(&mut conn)
            .await?;
    // The bench seeds each integration as the sandbox account named by its id.
    let account = id.to_string();

    let t = Instant::now();
    sqlx::query("SELECT mcp.enqueue_job('sync', jsonb_build_object('integration_id', $1::uuid))")
        .bind(id)
        .execute(&mut conn)
        .await?;
    crate::bench::health::wait_jobs_done(&mut conn, "sync", 1).await?;
    report.sync_s = t.elapsed().as_secs_f64();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM mcp.synced_items")
        .fetch_one(&mut conn)
        .await?;
    if stored != per as i64 {
        bail!("the sync stored {stored} items of {per}");
    }
    println!("sync: {per} items in {:.2} s", report.sync_s);

    // 1% removed at the platform, spread over the listing.
    let removed: Vec<u64> = (0..per).step_by(100).collect();
    if sandbox.remove_items(p, &account, &removed) != removed.len() as u64 {
        bail!("the sandbox did not remove the {} items", removed.len());
    }
    let t = Instant::now();
    sqlx::query(
        "SELECT mcp.enqueue_job('reconcile', jsonb_build_object('integration_id', $1::uuid))",
    )
    .bind(id)
    .execute(&mut conn)
    .await?;
    crate::bench::health::wait_jobs_done(&mut conn, "reconcile", 1).await?;
    report.reconcile_s = t.elapsed().as_secs_f64();
    report.reconcile_items_per_s = per as f64 / report.reconcile_s.max(1e-6);
    let (outcome, tombstoned): (Option<String>, i64) = sqlx::query_as(
        "SELECT outcome, tombstoned FROM mcp.reconcile_runs WHERE integration_id = $1",
    )
    .bind(id)
    .fetch_one(&mut conn)
    .await?;
    report.tombstoned = tombstoned;
    println!(
        "reconcile: {per} items listed, {tombstoned} tombstoned ({}), in {:.2} s = {:.0} items/s",
        outcome.as_deref().unwrap_or("unfinished"),
        report.reconcile_s,
        report.reconcile_items_per_s
    );
    report.daemon_peak_rss_mb = daemon.stop().await;

    // The feed, as a reader pages it.
    sqlx::query("VACUUM ANALYZE mcp.item_changes")
        .execute(&mut conn)
        .await?;
    let (rows, secs) = read_feed(&mut conn, ws).await?;
    report.feed_rows = rows;
    report.feed_rows_per_s = rows as f64 / secs.max(1e-6);
    println!(
        "feed (sync and reconcile pages): {rows} rows read in {secs:.2} s = {:.0} rows/s",
        report.feed_rows_per_s
    );
    // As many single-item changes by plain SQL (one transaction each would take long: one
    // statement, one change row per item by the capture trigger), in a workspace of their own.
    let ws2: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO core.workspaces (name) VALUES ('bench-single') RETURNING id",
    )
    .fetch_one(&mut conn)
    .await?;
    sqlx::query(
        "INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids) \
         SELECT $1, $2, 'A', ARRAY['s' || g] FROM generate_series(1, $3) g",
    )
    .bind(ws2)
    .bind(id)
    .bind(per as i64)
    .execute(&mut conn)
    .await?;
    sqlx::query("VACUUM ANALYZE mcp.item_changes")
        .execute(&mut conn)
        .await?;
    let (rows, secs) = read_feed(&mut conn, ws2).await?;
    report.single_feed_rows = rows;
    report.single_feed_rows_per_s = rows as f64 / secs.max(1e-6);
    println!(
        "feed (one change row per item): {rows} rows read in {secs:.2} s = {:.0} rows/s",
        report.single_feed_rows_per_s
    );
    pool.close().await;
    Ok(report)
}

//! `mcp-worker-lab bench --suite sync`: a full sync of many integrations (spread over the 13
//! platforms) with many items each against the sandbox on loopback, run by the real daemon as a
//! child process with the rate limits raised for the bench. One `sync_sweep` enqueues a sync
//! for every integration; prints the wall time until the last sync completed, items/s, pages/s
//! and the daemon's peak RSS. It prints numbers; it asserts nothing, and it never touches any
//! database but the bench's own.

use std::time::Instant;

use anyhow::bail;
use sqlx::{Connection, PgConnection};

use crate::bench::{machine, BenchArgs};
use mcp_platforms::connectors::Platform;

#[derive(Debug, Default, serde::Serialize)]
pub struct SyncReport {
    pub machine: String,
    pub integrations: i64,
    pub items_per_integration: u64,
    pub items: i64,
    pub wall_s: f64,
    pub items_per_s: f64,
    /// Requests the sandbox received per item stored (listing and content calls).
    pub calls_per_item: f64,
    /// Of those, the content calls per item.
    pub content_calls_per_item: f64,
    pub content: bool,
    /// The sandbox's answer time for every request.
    pub latency_ms: u64,
    pub daemon_peak_rss_mb: f64,
}

pub async fn measure(args: &BenchArgs, db_url: &str) -> anyhow::Result<SyncReport> {
    let n = args.sync_integrations.max(1);
    let per = args.sync_items.max(1);
    let mut report = SyncReport {
        machine: machine(),
        integrations: n,
        items_per_integration: per,
        ..SyncReport::default()
    };
    println!("machine: {}", report.machine);
    let crate::bench::health::Seeded {
        pool,
        sandbox,
        keys,
        ..
    } = crate::bench::health::setup(db_url, n, &Platform::ALL, None).await?;
    sandbox.set_items_per_account(per);
    sandbox.set_latency(std::time::Duration::from_millis(args.sync_latency_ms));
    report.latency_ms = args.sync_latency_ms;
    crate::bench::health::discord_channels(&pool).await?;
    println!("seeded {n} integrations over 13 platforms, {per} items each in the sandbox");

    // With `--sync-content false`, no content call: the listings' model alone.
    let extra = if args.sync_content {
        String::new()
    } else {
        Platform::ALL
            .iter()
            .map(|p| format!("[items.{}]\ncontent = false\n\n", p.as_str()))
            .collect()
    };
    report.content = args.sync_content;
    let daemon = daemon_unlimited(&keys, &sandbox, args, db_url, &extra).await?;
    let calls0: u64 = Platform::ALL.iter().map(|p| sandbox.calls(*p)).sum();
    let content0: u64 = Platform::ALL
        .iter()
        .map(|p| sandbox.content_calls(*p))
        .sum();

    let mut conn = PgConnection::connect(db_url).await?;
    let start: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&mut conn)
        .await?;
    let t = Instant::now();
    sqlx::query("SELECT mcp.enqueue_job('sync_sweep', '{\"spread_s\": 0}')")
        .execute(&mut conn)
        .await?;
    crate::bench::health::wait_jobs_done(&mut conn, "sync", n).await?;
    let waited = t.elapsed().as_secs_f64();
    let (last, items, synced): (Option<chrono::DateTime<chrono::Utc>>, i64, i64) = sqlx::query_as(
        "SELECT (SELECT max(last_synced_at) FROM core.integrations), \
                    (SELECT count(*) FROM mcp.synced_items), \
                    (SELECT count(*) FROM core.integrations WHERE last_synced_at >= $1)",
    )
    .bind(start)
    .fetch_one(&mut conn)
    .await?;
    let discarded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'sync' AND state = 'discarded'",
    )
    .fetch_one(&mut conn)
    .await?;
    if discarded > 0 {
        bail!("{discarded} syncs were discarded");
    }
    report.items = items;
    report.wall_s = last
        .map(|l| (l - start).num_microseconds().unwrap_or(0) as f64 / 1e6)
        .unwrap_or(waited);
    report.items_per_s = items as f64 / report.wall_s.max(1e-6);
    let calls: u64 = Platform::ALL.iter().map(|p| sandbox.calls(*p)).sum::<u64>() - calls0;
    let content: u64 = Platform::ALL
        .iter()
        .map(|p| sandbox.content_calls(*p))
        .sum::<u64>()
        - content0;
    report.calls_per_item = calls as f64 / items.max(1) as f64;
    report.content_calls_per_item = content as f64 / items.max(1) as f64;
    println!(
        "full sync: {synced} of {n} integrations, {items} items stored in {:.2} s \
         (sweep enqueued → last sync completed) = {:.0} items/s; {:.3} platform calls per item \
         ({:.3} of them content calls; content calls {}; sandbox latency {} ms)",
        report.wall_s,
        report.items_per_s,
        report.calls_per_item,
        report.content_calls_per_item,
        if args.sync_content { "on" } else { "off" },
        args.sync_latency_ms
    );
    report.daemon_peak_rss_mb = daemon.stop().await;
    pool.close().await;
    Ok(report)
}

/// The daemon against the sandbox with every platform's rate limit (and method limit) raised:
/// the platforms' published rates would make a sync bench a bench of the rate limits.
pub(crate) async fn daemon_unlimited(
    keys: &crate::bench::health::BenchKeys,
    sandbox: &mcp_sandbox::Sandbox,
    args: &BenchArgs,
    db_url: &str,
    extra: &str,
) -> anyhow::Result<crate::bench::BenchDaemon> {
    let mut limits = extra.to_string();
    for p in Platform::ALL {
        limits.push_str(&format!(
            "[sync.rate_limits.{}]\ncapacity = 1000.0\nper_sec = 100000.0\n\n",
            p.as_str()
        ));
    }
    // And the methods a platform limits on their own (Notion's block calls).
    limits.push_str(
        "[sync.method_limits.\"notion:blocks.children\"]\ncapacity = 1000.0\nper_sec = 100000.0\n\n",
    );
    let overrides = mcp_sandbox::overrides_toml(sandbox);
    crate::bench::health::daemon_with(keys, &format!("{limits}{overrides}"), args, db_url).await
}

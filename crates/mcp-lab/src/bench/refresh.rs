//! `mcp-worker-lab bench --suite refresh`: token refresh against the sandbox. First single refreshes
//! one after another in this process (lock, decrypt, platform call, store; median and p99), then
//! the real daemon as a child process refreshing every seeded token in one hourly tick (the
//! sweep enqueued once, all refreshes worked to completion). Prints figures; asserts nothing.

use std::time::{Duration, Instant};

use anyhow::bail;
use sqlx::{Connection, PgConnection};

use crate::bench::{machine, BenchArgs};

#[derive(Debug, Default, serde::Serialize)]
pub struct RefreshReport {
    pub machine: String,
    pub tokens: i64,
    pub single_refresh_median_ms: f64,
    pub single_refresh_p99_ms: f64,
    pub tick_s: f64,
    pub refreshes_per_s: f64,
    pub daemon_peak_rss_mb: f64,
}

pub async fn measure(args: &BenchArgs, db_url: &str) -> anyhow::Result<RefreshReport> {
    let n = args.integrations.max(1);
    let mut report = RefreshReport {
        machine: machine(),
        tokens: n,
        ..RefreshReport::default()
    };
    println!("machine: {}", report.machine);
    // The OAuth platforms whose tokens can be refreshed: monday's (without PKCE) never expire
    // and come with no refresh token.
    let oauth: Vec<_> = mcp_platforms::connectors::registry::oauth_platforms()
        .into_iter()
        .filter(|p| {
            mcp_sandbox::facts::oauth(*p)
                .is_some_and(|f| !matches!(f.refresh, mcp_sandbox::facts::Refresh::None))
        })
        .collect();
    let crate::bench::health::Seeded {
        pool,
        sandbox,
        keys,
        ids,
        seed_s,
    } = crate::bench::health::setup(db_url, n, &oauth, Some(Duration::from_secs(3600))).await?;
    let vault = &keys.vault;
    println!(
        "seeded {n} OAuth integrations over {} platforms, tokens expiring in 1 h, in {seed_s:.1} s",
        oauth.len(),
    );

    let config = mcp_daemon::config::Config {
        platforms: sandbox.config_overrides(),
        ..Default::default()
    };
    let connectors = config.connectors()?;
    let mut samples = Vec::new();
    for id in ids.iter().take(200) {
        let t = Instant::now();
        let out = mcp_daemon::credentials::refresh_token(
            &pool,
            vault,
            &connectors,
            *id,
            Duration::from_secs(5),
        )
        .await?;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
        if !matches!(
            out,
            mcp_daemon::credentials::RefreshOutcome::Refreshed { .. }
        ) {
            bail!("refresh of {id} did not succeed: {out:?}");
        }
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    report.single_refresh_median_ms = samples[samples.len() / 2];
    report.single_refresh_p99_ms = samples[samples.len() * 99 / 100];
    println!(
        "single refresh end to end (row lock, decrypt, sandbox token call, encrypt, store, commit): median {:.3} ms, p99 {:.3} ms over {} refreshes",
        report.single_refresh_median_ms,
        report.single_refresh_p99_ms,
        samples.len()
    );

    let daemon = crate::bench::health::daemon_with(
        &keys,
        &mcp_sandbox::overrides_toml(&sandbox),
        args,
        db_url,
    )
    .await?;
    let mut conn = PgConnection::connect(db_url).await?;
    let start: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&mut conn)
        .await?;
    // What the sweep takes: every token expiring within the day (those the single refreshes
    // above moved further out, Discord's week and Notion's tokens without expiry, are not due).
    let due: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mcp.oauth_tokens \
         WHERE refresh_token_ct IS NOT NULL AND expires_at < now() + interval '1 day'",
    )
    .fetch_one(&mut conn)
    .await?;
    let before: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'token_refresh' \
         AND state IN ('completed', 'discarded')",
    )
    .fetch_one(&mut conn)
    .await?;
    sqlx::query("SELECT mcp.enqueue_job('token_refresh_sweep', '{\"ahead_s\": 86400}')")
        .execute(&mut conn)
        .await?;
    crate::bench::health::wait_jobs_done(&mut conn, "token_refresh", before + due).await?;
    let (last, refreshed): (Option<chrono::DateTime<chrono::Utc>>, i64) = sqlx::query_as(
        "SELECT max(last_refreshed_at), count(*) FILTER (WHERE last_refreshed_at >= $1) \
         FROM mcp.oauth_tokens",
    )
    .bind(start)
    .fetch_one(&mut conn)
    .await?;
    report.tick_s = last
        .map(|l| (l - start).num_microseconds().unwrap_or(0) as f64 / 1e6)
        .unwrap_or(f64::NAN);
    report.refreshes_per_s = refreshed as f64 / report.tick_s.max(1e-6);
    println!(
        "hourly tick: {refreshed} of the {due} tokens due ({n} seeded) refreshed in {:.2} s = {:.0} refreshes/s",
        report.tick_s, report.refreshes_per_s
    );
    report.daemon_peak_rss_mb = daemon.stop().await;
    pool.close().await;
    Ok(report)
}

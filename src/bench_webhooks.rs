//! `mcp-worker bench --suite webhooks`: the webhook intake of the real daemon (a child process).
//! Signed Slack events from concurrent clients for a while (sustained events/s, intake p50/p99),
//! then single events on an idle daemon (received → processed p99), then a backlog of events
//! replayed as fast as the intake takes them, and the daemon's peak RSS. Prints; asserts nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::{Connection, PgConnection};

use crate::bench::{machine, BenchArgs};
use crate::connectors::Platform;
use crate::secret::Secret;

#[derive(Debug, Default, serde::Serialize)]
pub struct WebhooksReport {
    pub machine: String,
    pub clients: usize,
    pub sustained_events_per_s: f64,
    pub intake_p50_ms: f64,
    pub intake_p99_ms: f64,
    pub idle_received_to_processed_p99_ms: f64,
    pub replay_events: u64,
    pub replay_s: f64,
    pub daemon_peak_rss_mb: f64,
}

const CLIENTS: usize = 32;
const SECRET: &str = "bench-slack-signing-secret";

fn pct(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

struct Target {
    client: reqwest::Client,
    url: String,
    next: Arc<AtomicU64>,
}

impl Target {
    /// Posts one new signed event; returns the intake latency in ms.
    async fn post_one(&self) -> anyhow::Result<f64> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let body = format!(
            r#"{{"type":"event_callback","event_id":"EvBench{n}","event":{{"type":"message","text":"hello"}}}}"#
        );
        let ts = chrono::Utc::now().timestamp();
        let headers = crate::sandbox::sign_webhook(
            Platform::Slack,
            SECRET.as_bytes(),
            body.as_bytes(),
            ts,
            "",
        );
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let t = Instant::now();
        let status = req.send().await?.status();
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if !status.is_success() {
            bail!("intake answered {status}");
        }
        Ok(ms)
    }
}

/// `CLIENTS` tasks posting until `deadline` or until `total` events have been sent.
async fn blast(t: &Arc<Target>, deadline: Duration, total: u64) -> anyhow::Result<Vec<f64>> {
    let start = Instant::now();
    let first = t.next.load(Ordering::Relaxed);
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while start.elapsed() < deadline && t.next.load(Ordering::Relaxed) - first < total {
                lat.push(t.post_one().await?);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    all.sort_by(|a, b| a.total_cmp(b));
    Ok(all)
}

pub async fn measure(args: &BenchArgs, db_url: &str) -> anyhow::Result<WebhooksReport> {
    let mut report = WebhooksReport {
        machine: machine(),
        clients: CLIENTS,
        ..WebhooksReport::default()
    };
    println!("machine: {}", report.machine);
    let pool = sqlx::PgPool::connect(db_url).await?;
    crate::db::migrate(&pool, crate::catalog::Catalog::builtin()).await?;
    let keys = crate::bench_health::bench_keys()?;
    let vault = &keys.vault;
    let ws = crate::integrations::create_workspace(&pool, "bench").await?;
    let integration: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, 'slack') RETURNING id",
    )
    .bind(ws)
    .fetch_one(&pool)
    .await?;
    let hook = crate::webhooks::register(
        &pool,
        vault,
        integration,
        Platform::Slack,
        Some(&Secret::new(SECRET)),
        None,
    )
    .await?;
    let daemon = crate::bench_health::daemon_with(&keys, "", args, db_url).await?;
    let target = Arc::new(Target {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(CLIENTS)
            .build()?,
        url: format!("http://127.0.0.1:{}/webhooks/slack/{hook}", daemon.port),
        next: Arc::new(AtomicU64::new(0)),
    });
    let mut conn = PgConnection::connect(db_url).await?;

    // 1. Sustained intake.
    let secs = Duration::from_secs(args.webhook_seconds);
    let t = Instant::now();
    let lat = blast(&target, secs, u64::MAX).await?;
    let took = t.elapsed().as_secs_f64();
    report.sustained_events_per_s = lat.len() as f64 / took;
    report.intake_p50_ms = pct(&lat, 50);
    report.intake_p99_ms = pct(&lat, 99);
    println!(
        "sustained intake, {CLIENTS} clients: {} signed Slack events in {took:.1} s = {:.0} events/s; intake p50 {:.2} ms, p99 {:.2} ms",
        lat.len(),
        report.sustained_events_per_s,
        report.intake_p50_ms,
        report.intake_p99_ms
    );
    let sent = target.next.load(Ordering::Relaxed) as i64;
    crate::bench_health::wait_jobs_done(&mut conn, "webhook_process", sent).await?;

    // 2. Idle daemon: single events, received → processed.
    let first_single = target.next.load(Ordering::Relaxed);
    for _ in 0..200 {
        target.post_one().await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = target.next.load(Ordering::Relaxed) as i64;
    crate::bench_health::wait_jobs_done(&mut conn, "webhook_process", sent).await?;
    let mut waits: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM processed_at - received_at)::float8 * 1000 \
         FROM mcp.webhook_events WHERE dedup_key >= 'EvBench' AND id > $1",
    )
    .bind(first_single as i64)
    .fetch_all(&mut conn)
    .await?;
    waits.sort_by(|a, b| a.total_cmp(b));
    report.idle_received_to_processed_p99_ms = pct(&waits, 99);
    println!(
        "idle daemon, single events: received -> processed p50 {:.1} ms, p99 {:.1} ms over {}",
        pct(&waits, 50),
        report.idle_received_to_processed_p99_ms,
        waits.len()
    );

    // 3. A backlog replayed as fast as the intake takes it.
    let t = Instant::now();
    let lat = blast(&target, Duration::from_secs(600), args.webhook_events).await?;
    report.replay_events = lat.len() as u64;
    report.replay_s = t.elapsed().as_secs_f64();
    println!(
        "replay: {} events taken in {:.1} s ({:.0} events/s)",
        report.replay_events,
        report.replay_s,
        report.replay_events as f64 / report.replay_s
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM mcp.webhook_events")
        .fetch_one(&mut conn)
        .await
        .context("count events")?;
    println!("events stored in all: {stored}");
    report.daemon_peak_rss_mb = daemon.stop().await;
    pool.close().await;
    Ok(report)
}

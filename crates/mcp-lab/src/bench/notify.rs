//! `mcp-worker-lab bench --suite notify`: notifications through the real daemon (a child process) to
//! a receiver on loopback in this process. First single critical changes on an idle daemon,
//! change → delivered (the receiver's clock against the notification's timestamp); then a burst
//! of `--notifications` changes in one statement, until the receiver has them all. Prints;
//! asserts nothing.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use sqlx::{Connection, PgConnection};

use crate::bench::webhooks::pct;
use crate::bench::{machine, BenchArgs};

#[derive(Debug, Default, serde::Serialize)]
pub struct NotifyReport {
    pub machine: String,
    pub idle_samples: usize,
    pub idle_p50_ms: f64,
    pub idle_p99_ms: f64,
    pub burst: u64,
    pub burst_s: f64,
    pub daemon_peak_rss_mb: f64,
}

/// Arrivals: (the body's timestamp, when it arrived), both UTC.
type Arrivals = Arc<Mutex<Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>>>;

async fn receive(State(seen): State<Arrivals>, body: axum::body::Bytes) -> StatusCode {
    let now = chrono::Utc::now();
    let at = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["timestamp"].as_str().map(str::to_string))
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(now);
    if let Ok(mut s) = seen.lock() {
        s.push((at, now));
    }
    StatusCode::NO_CONTENT
}

async fn wait_arrivals(seen: &Arrivals, n: usize, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let got = seen.lock().map(|s| s.len()).unwrap_or(0);
        if got >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("{got} of {n} notifications arrived within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn measure(args: &BenchArgs, db_url: &str) -> anyhow::Result<NotifyReport> {
    let mut report = NotifyReport {
        machine: machine(),
        ..NotifyReport::default()
    };
    println!("machine: {}", report.machine);
    let (pool, keys, ws, integration) =
        crate::bench::health::bench_slack_integration(db_url).await?;

    let seen: Arrivals = Arc::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    mcp_daemon::notify::endpoints::add(&pool, &keys.vault, &url, None, &[]).await?;
    let extra = "[notify]\nallow_private = true\n";
    let daemon = crate::bench::health::daemon_with(&keys, extra, args, db_url).await?;
    let mut conn = PgConnection::connect(db_url).await?;
    let change = "INSERT INTO ops.events (workspace_id, integration_id, event_type, payload) \
                  SELECT $1, $2, 'integration.reconnect_required', \
                         jsonb_build_object('platform', 'slack', 'reason', 'bench ' || g) \
                  FROM generate_series(1, $3) g";

    // 1. Idle: single changes 20 ms apart.
    let samples = 200usize;
    for _ in 0..samples {
        sqlx::query(change)
            .bind(ws)
            .bind(integration)
            .bind(1i32)
            .execute(&mut conn)
            .await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_arrivals(&seen, samples, Duration::from_secs(60)).await?;
    let mut lat: Vec<f64> = seen
        .lock()
        .map(|s| {
            s.iter()
                .map(|(at, got)| (*got - *at).num_microseconds().unwrap_or(0) as f64 / 1000.0)
                .collect()
        })
        .unwrap_or_default();
    lat.sort_by(|a, b| a.total_cmp(b));
    report.idle_samples = lat.len();
    report.idle_p50_ms = pct(&lat, 50);
    report.idle_p99_ms = pct(&lat, 99);
    println!(
        "idle daemon, {} single critical changes 20 ms apart: change -> delivered p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        report.idle_p50_ms,
        report.idle_p99_ms,
        lat.last().copied().unwrap_or(f64::NAN)
    );

    // 2. A burst: many changes in one statement, until every notification has arrived.
    let n = args.notifications.max(1);
    let t = Instant::now();
    sqlx::query(change)
        .bind(ws)
        .bind(integration)
        .bind(i32::try_from(n).unwrap_or(i32::MAX))
        .execute(&mut conn)
        .await
        .context("the burst's changes")?;
    wait_arrivals(&seen, samples + n as usize, Duration::from_secs(600)).await?;
    report.burst = n;
    report.burst_s = t.elapsed().as_secs_f64();
    println!(
        "burst: {n} critical changes in one statement, all delivered to the receiver in {:.2} s ({:.0} notifications/s)",
        report.burst_s,
        n as f64 / report.burst_s
    );
    report.daemon_peak_rss_mb = daemon.stop().await;
    pool.close().await;
    Ok(report)
}

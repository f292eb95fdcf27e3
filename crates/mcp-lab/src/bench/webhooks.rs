//! `mcp-worker-lab bench --suite webhooks`: the webhook intake of the real daemon (a child process).
//! Signed Slack events offered at a fixed rate for a while (open loop: the events/s answered and
//! the intake p50/p99 counted from each event's due time), then single events on an idle daemon
//! (received → processed p99), then a backlog of events replayed by concurrent clients as fast
//! as the intake takes them, and the daemon's peak RSS. The three phases run twice: on one
//! integration's own URL (`/webhooks/slack/{id}`), then on the app-level URL (`/webhooks/slack`,
//! the app's secret, each event routed by the workspace it is delivered for to one of
//! `--webhook-app-accounts` integrations, in turn).
//! Prints; asserts nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::{Connection, PgConnection};

use crate::bench::{machine, BenchArgs};
use mcp_platforms::connectors::Platform;
use mcp_platforms::secret::Secret;
use mcp_sandbox::events::{slack_event, slack_message, SlackInstallation};

#[derive(Debug, Default, serde::Serialize)]
pub struct WebhooksReport {
    pub machine: String,
    pub clients: usize,
    /// The same phases on the app-level URL.
    pub app: Phases,
    pub daemon_peak_rss_mb: f64,
    #[serde(flatten)]
    pub endpoint: Phases,
}

/// The figures of one URL.
#[derive(Debug, Default, serde::Serialize)]
pub struct Phases {
    pub offered_events_per_s: f64,
    pub sustained_events_per_s: f64,
    pub intake_p50_ms: f64,
    pub intake_p99_ms: f64,
    pub idle_intake_p99_ms: f64,
    pub idle_received_to_processed_p99_ms: f64,
    pub replay_events: u64,
    pub replay_s: f64,
    pub replay_processed_s: f64,
}

/// Connections the open-loop phase may hold at once.
pub(crate) const MAX_OPEN: usize = 512;
pub(crate) const SECRET: &str = "bench-slack-signing-secret";
/// The Slack app's signing secret of the app-level phases.
const APP_SECRET: &str = "bench-slack-app-signing-secret";

pub(crate) fn pct(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// One signed delivery, ready to post.
pub(crate) struct Signed {
    body: String,
    headers: Vec<(String, String)>,
}

pub(crate) struct Target {
    pub client: reqwest::Client,
    pub url: String,
    pub next: Arc<AtomicU64>,
    /// The secret the deliveries are signed with.
    pub secret: &'static str,
    /// The workspaces the events are delivered for, in turn.
    pub accounts: Vec<String>,
}

impl Target {
    /// Signs `n` new events now (the load generator's signing is kept out of the timed part).
    pub fn sign(&self, n: u64) -> Vec<Signed> {
        let ts = chrono::Utc::now().timestamp();
        (0..n)
            .map(|_| {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                let team = match self.accounts.len() {
                    0 => "T0BENCH",
                    k => self.accounts[n as usize % k].as_str(),
                };
                let body = slack_event(
                    &format!("EvBench{n}"),
                    team,
                    &SlackInstallation::workspace(team),
                    slack_message("C0BENCH", "1700000000.000100", "hello"),
                )
                .to_string();
                let headers = mcp_sandbox::sign_webhook(
                    Platform::Slack,
                    self.secret.as_bytes(),
                    body.as_bytes(),
                    ts,
                    "",
                );
                Signed { body, headers }
            })
            .collect()
    }

    /// Posts one signed event; fails unless the intake answers 2xx.
    pub async fn post(&self, ev: Signed) -> anyhow::Result<()> {
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(ev.body);
        for (k, v) in ev.headers {
            req = req.header(k, v);
        }
        let status = req.send().await?.status();
        if !status.is_success() {
            bail!("intake answered {status}");
        }
        Ok(())
    }
}

/// Open loop: events posted at `rate` per second for `secs`, each on its own schedule whatever
/// the answers before it did (at most `MAX_OPEN` connections). A delivery's latency counts from
/// when it was sent; how late the sends left against their schedule is returned too, so a load
/// generator that fell behind shows. Returns the sorted latencies and lags (ms) and the time
/// until the last answer.
async fn open_loop(
    t: &Arc<Target>,
    rate: u64,
    secs: u64,
) -> anyhow::Result<(Vec<f64>, Vec<f64>, f64)> {
    let events = t.sign(rate * secs);
    // A bound on connections only.
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_OPEN));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(events.len());
    for (i, ev) in events.into_iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due).await;
        let t = t.clone();
        let open = open.clone();
        tasks.push(tokio::spawn(async move {
            let _slot = open.acquire_owned().await?;
            let sent = tokio::time::Instant::now();
            t.post(ev).await?;
            anyhow::Ok((
                sent.elapsed().as_secs_f64() * 1000.0,
                sent.saturating_duration_since(due).as_secs_f64() * 1000.0,
            ))
        }));
    }
    let mut lat = Vec::with_capacity(tasks.len());
    let mut lag = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (l, g) = task.await??;
        lat.push(l);
        lag.push(g);
    }
    let took = start.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    lag.sort_by(|a, b| a.total_cmp(b));
    Ok((lat, lag, took))
}

/// Closed loop: `clients` tasks posting back to back until `total` events have been answered;
/// returns the sorted latencies (ms).
async fn closed_loop(t: &Arc<Target>, total: u64, clients: usize) -> anyhow::Result<Vec<f64>> {
    let events = Arc::new(std::sync::Mutex::new(t.sign(total)));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let t = t.clone();
        let events = events.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let next = events.lock().ok().and_then(|mut e| e.pop());
                let Some(ev) = next else { break };
                let at = Instant::now();
                t.post(ev).await?;
                lat.push(at.elapsed().as_secs_f64() * 1000.0);
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

/// Waits until `n` events have been processed.
async fn wait_processed(conn: &mut PgConnection, n: i64) -> anyhow::Result<()> {
    crate::bench::health::wait_count(
        conn,
        "SELECT count(*) FROM mcp.webhook_events WHERE processed_at IS NOT NULL",
        n,
        "events processed",
    )
    .await
}

/// A Slack integration on a migrated `db_url` with a webhook of its own signed with `SECRET`:
/// the pool, the keys, the workspace, the integration and the webhook.
pub(crate) async fn slack_hook(
    db_url: &str,
) -> anyhow::Result<(
    mcp_queue::pg::Db,
    crate::bench::health::BenchKeys,
    uuid::Uuid,
    uuid::Uuid,
    uuid::Uuid,
)> {
    let (pool, keys, ws, integration) =
        crate::bench::health::bench_slack_integration(db_url).await?;
    let hook = mcp_daemon::webhooks::register(
        &pool,
        &keys.vault,
        integration,
        Platform::Slack,
        Some(&Secret::new(SECRET)),
        None,
    )
    .await?;
    Ok((pool, keys, ws, integration, hook))
}

pub async fn measure(args: &BenchArgs, db_url: &str) -> anyhow::Result<WebhooksReport> {
    let mut report = WebhooksReport {
        machine: machine(),
        clients: args.webhook_clients,
        ..WebhooksReport::default()
    };
    println!("machine: {}", report.machine);
    let (pool, keys, ws, integration, hook) = slack_hook(db_url).await?;
    // The app-level phases' workspaces: CONNECTED (they hold a grant, so events are routed to
    // them, but are not synced: like the first phase's integration, no sync follows an event).
    let n_accounts = args.webhook_app_accounts.max(1);
    let accounts: Vec<String> = (0..n_accounts).map(|i| format!("T0BENCH{i:04}")).collect();
    for a in &accounts {
        let id: uuid::Uuid = sqlx::query_scalar(
            "INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, 'slack') RETURNING id",
        )
        .bind(ws)
        .fetch_one(&pool)
        .await?;
        sqlx::query("SELECT mcp.transition_integration_state($1, 'CONNECTED', 'bench')")
            .bind(id)
            .execute(&pool)
            .await?;
        let mut tx = pool.begin().await?;
        mcp_daemon::connections::account::claim(
            &mut tx,
            id,
            Platform::Slack,
            a,
            mcp_daemon::connections::account::Claim::Connect,
        )
        .await?;
        tx.commit().await?;
    }
    // The clients hold up to MAX_OPEN connections: room above it for those still closing.
    let extra = format!(
        "[http]\nmax_connections = {}\n\n[platforms.slack]\nsigning_secret = {APP_SECRET:?}\n",
        2 * MAX_OPEN
    );
    let daemon = crate::bench::health::daemon_with(&keys, &extra, args, db_url).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(MAX_OPEN)
        .build()?;
    let next = Arc::new(AtomicU64::new(0));
    let mut conn = PgConnection::connect(db_url).await?;
    for url in &args.webhook_urls {
        match url.as_str() {
            "endpoint" => {
                let target = Arc::new(Target {
                    client: client.clone(),
                    url: format!("http://127.0.0.1:{}/webhooks/slack/{hook}", daemon.port),
                    next: next.clone(),
                    secret: SECRET,
                    accounts: Vec::new(),
                });
                println!("── on one integration's URL, /webhooks/slack/{{id}}");
                report.endpoint = phases(&target, &mut conn, args).await?;
            }
            "app" => {
                let target = Arc::new(Target {
                    client: client.clone(),
                    url: format!("http://127.0.0.1:{}/webhooks/slack", daemon.port),
                    next: next.clone(),
                    secret: APP_SECRET,
                    accounts: accounts.clone(),
                });
                println!(
                    "── on the app-level URL, /webhooks/slack: the app's secret, events routed by installation to {n_accounts} integrations"
                );
                report.app = phases(&target, &mut conn, args).await?;
            }
            other => bail!("--webhook-urls: `{other}` is neither endpoint nor app"),
        }
    }
    let routed: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT integration_id) FROM mcp.webhook_events WHERE integration_id <> $1",
    )
    .bind(integration)
    .fetch_one(&mut conn)
    .await
    .context("count routed")?;
    println!("app-level events landed on {routed} integrations");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM mcp.webhook_events")
        .fetch_one(&mut conn)
        .await
        .context("count events")?;
    println!("events stored in all: {stored}");
    report.daemon_peak_rss_mb = daemon.stop().await;
    pool.close().await;
    Ok(report)
}

/// The three phases against one URL.
async fn phases(
    target: &Arc<Target>,
    conn: &mut PgConnection,
    args: &BenchArgs,
) -> anyhow::Result<Phases> {
    let mut report = Phases::default();
    // 1. Sustained intake at the target rate (open loop).
    let rate = args.webhook_rate;
    let (lat, lag, took) = open_loop(target, rate, args.webhook_seconds).await?;
    report.offered_events_per_s = rate as f64;
    report.sustained_events_per_s = lat.len() as f64 / took;
    report.intake_p50_ms = pct(&lat, 50);
    report.intake_p99_ms = pct(&lat, 99);
    let sent = target.next.load(Ordering::Relaxed) as i64;
    let t = Instant::now();
    wait_processed(conn, sent).await?;
    let behind = t.elapsed().as_secs_f64();
    println!(
        "sustained intake at {rate}/s offered: {} signed Slack events answered 2xx in {took:.1} s = {:.0} events/s; \
         intake p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms (sends left p50 {:.2} ms, p99 {:.2} ms after their schedule); \
         processing done {behind:.2} s after the last answer",
        lat.len(),
        report.sustained_events_per_s,
        report.intake_p50_ms,
        report.intake_p99_ms,
        lat.last().copied().unwrap_or(f64::NAN),
        pct(&lag, 50),
        pct(&lag, 99),
    );

    // 2. Idle daemon: single events, received → processed.
    let first_single = target.next.load(Ordering::Relaxed);
    let mut single = Vec::with_capacity(200);
    for _ in 0..200 {
        for ev in target.sign(1) {
            let at = Instant::now();
            target.post(ev).await?;
            single.push(at.elapsed().as_secs_f64() * 1000.0);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    single.sort_by(|a, b| a.total_cmp(b));
    let sent = target.next.load(Ordering::Relaxed) as i64;
    wait_processed(conn, sent).await?;
    let mut waits: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM processed_at - received_at)::float8 * 1000 \
         FROM mcp.webhook_events WHERE dedup_key >= 'EvBench' AND id > $1",
    )
    .bind(first_single as i64)
    .fetch_all(&mut *conn)
    .await?;
    waits.sort_by(|a, b| a.total_cmp(b));
    report.idle_received_to_processed_p99_ms = pct(&waits, 99);
    report.idle_intake_p99_ms = pct(&single, 99);
    println!(
        "idle daemon, single events: intake p50 {:.2} ms, p99 {:.2} ms; received -> processed p50 {:.1} ms, p99 {:.1} ms over {}",
        pct(&single, 50),
        report.idle_intake_p99_ms,
        pct(&waits, 50),
        report.idle_received_to_processed_p99_ms,
        waits.len()
    );

    // 3. A backlog replayed as fast as the intake takes it (clients posting back to back).
    let t = Instant::now();
    let clients = args.webhook_clients;
    let lat = closed_loop(target, args.webhook_events, clients).await?;
    report.replay_events = lat.len() as u64;
    report.replay_s = t.elapsed().as_secs_f64();
    println!(
        "replay, {clients} clients back to back: {} events taken in {:.1} s ({:.0} events/s; intake p50 {:.2} ms, p99 {:.2} ms)",
        report.replay_events,
        report.replay_s,
        report.replay_events as f64 / report.replay_s,
        pct(&lat, 50),
        pct(&lat, 99),
    );
    let sent = target.next.load(Ordering::Relaxed) as i64;
    let t = Instant::now();
    wait_processed(conn, sent).await?;
    report.replay_processed_s = report.replay_s + t.elapsed().as_secs_f64();
    println!(
        "replay processed (every event marked processed) {:.1} s after the first delivery",
        report.replay_processed_s
    );
    Ok(report)
}

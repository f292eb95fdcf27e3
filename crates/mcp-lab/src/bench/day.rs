//! `mcp-worker-lab bench --suite day [--for 10m]`: a compressed day of a 10,000-integration
//! deployment. The real daemon (a child process) runs against a fresh database with the
//! integrations spread over the 13 platforms and pointing at the sandbox; its cron schedules are
//! compressed (a day in about 10 minutes) through the config: health sweeps, token refresh
//! sweeps, sync sweeps and `prune` on a short retention, while signed Slack events are posted to
//! its webhook intake at a steady rate with periodic bursts. Every minute it prints, per kind,
//! the jobs started and their wait from due to start, the queue table's size, dead tuples, the
//! other hot tables, the pool wait from `/metrics` and the daemon's RSS; at the end a verdict on
//! RSS, the p99 trend and the table size. Prints figures; asserts nothing.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use crate::bench::day_probe::{self as probe, mb, thousands, DayReport, Minute};
use crate::bench::webhooks::{pct, Target, MAX_OPEN, SECRET};
use crate::bench::{http_get, machine, BenchArgs, BenchDaemon};
use mcp_platforms::connectors::Platform;
use mcp_platforms::secret::Secret;

/// Bursts of the webhook traffic: this many times the rate, for `BURST_LEN`, every `BURST_EVERY`
/// (the first one minute in).
const BURST_FACTOR: f64 = 10.0;
const BURST_LEN: f64 = 5.0;
const BURST_EVERY: f64 = 120.0;
/// Samples (RSS, table size, job waits) are taken this often; a block is printed every minute.
const STEP: Duration = Duration::from_secs(5);
/// A window of job waits is read this long after it closes, so that the claims in it committed.
const LAG: Duration = Duration::from_secs(2);

/// The webhook load generator's tally since the last block.
#[derive(Default)]
struct Offered {
    offered: u64,
    ok: u64,
    failed: u64,
    shed: u64,
    lat_ms: Vec<f64>,
}

fn lock(m: &Mutex<Offered>) -> std::sync::MutexGuard<'_, Offered> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub async fn measure(args: &BenchArgs, db_url: &str) -> anyhow::Result<DayReport> {
    let n = args.integrations.max(13);
    let run_for = args.run_for.max(STEP);
    let run_s = run_for.as_secs_f64();
    // Finished jobs and history are kept for a fifth of the run, between 30 s and 2 minutes.
    let keep = (run_for.as_secs() / 5).clamp(30, 120);
    let mut report = DayReport {
        machine: machine(),
        integrations: n,
        event_rate: args.event_rate,
        run_s,
        retention_s: keep,
        warmup_s: 120f64.min(0.2 * run_s),
        ..DayReport::default()
    };
    let crate::bench::health::Seeded {
        pool,
        sandbox,
        keys,
        seed_s,
        ..
    } = crate::bench::health::setup(db_url, n, &Platform::ALL, Some(Duration::from_secs(3600)))
        .await?;
    crate::bench::health::discord_channels(&pool).await?;
    // A day under way: the last syncs are spread over the fallback interval, so that each sweep
    // finds a share of the integrations due rather than all of them at once.
    sqlx::query(
        "UPDATE core.integrations SET last_synced_at = now() - random() * interval '5 minutes'",
    )
    .execute(&pool)
    .await?;
    let slack: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM core.integrations WHERE platform = 'slack' ORDER BY id")
            .fetch_all(&pool)
            .await?;
    let mut hooks = Vec::with_capacity(slack.len());
    for id in &slack {
        let secret = Secret::new(SECRET);
        hooks.push(
            mcp_daemon::webhooks::register(
                &pool,
                &keys.vault,
                *id,
                Platform::Slack,
                Some(&secret),
                None,
            )
            .await?,
        );
    }
    report.webhooks = hooks.len();
    let mut conn = PgConnection::connect(db_url).await?;
    report.postgres = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await?;
    report.autovacuum = sqlx::query_scalar("SHOW autovacuum")
        .fetch_one(&mut conn)
        .await?;
    println!(
        "machine: {}; PostgreSQL {} (autovacuum {})\nseeded {n} integrations over 13 platforms (OAuth tokens \
         expiring in 1 h, last syncs spread over the past 5 min) in {seed_s:.1} s; a Slack webhook \
         for each of the {} Slack integrations",
        report.machine,
        report.postgres,
        report.autovacuum,
        hooks.len()
    );
    println!(
        "compressed day (about 10 minutes): health_sweep every 2 min on even minutes (spread \
         100 s); token_refresh_sweep every 2 min on odd minutes (1-hour tokens, 1 day ahead: every \
         OAuth token each tick); sync_sweep every 30 s (interval 10 min, fallback 5 min, webhook \
         silence 1 min, spread 30 s); webhook_renew_sweep every minute; prune every 20 s keeping \
         finished jobs, health checks, errors and processed events {keep} s; Slack events {}/s, \
         {BURST_FACTOR}× for {BURST_LEN} s every {BURST_EVERY} s; running for {run_s:.0} s",
        args.event_rate
    );

    // The clients hold up to MAX_OPEN connections: room above it for those still closing.
    let extra = format!(
        "[http]\nmax_connections = {max_conn}\n\n\
         [scheduler]\nenabled = true\n\n\
         [retention]\ncompleted = \"{keep}s\"\ncancelled = \"{keep}s\"\ndiscarded = \"{keep}s\"\n\
         health_checks = \"{keep}s\"\nintegration_errors = \"{keep}s\"\nwebhook_events = \"{keep}s\"\n\n\
         [sync]\ninterval = \"10m\"\nfallback_interval = \"5m\"\nwebhook_silence = \"1m\"\nspread = \"30s\"\n\n\
         [schedules.health_sweep]\ncron = \"0 */2 * * * *\"\npayload = {{ spread_s = 100 }}\n\n\
         [schedules.token_refresh_sweep]\ncron = \"0 1-59/2 * * * *\"\n\n\
         [schedules.sync_sweep]\ncron = \"*/30 * * * * *\"\n\n\
         [schedules.webhook_renew_sweep]\ncron = \"20 * * * * *\"\n\n\
         [schedules.prune]\ncron = \"*/20 * * * * *\"\n\n{}",
        mcp_sandbox::overrides_toml(&sandbox),
        max_conn = 2 * MAX_OPEN,
    );
    let cfg_file = keys.dir.path().join("day.toml");
    std::fs::write(
        &cfg_file,
        format!(
            "[vault]\nkey_files = [{:?}]\n\n{extra}",
            keys.key_file.display().to_string()
        ),
    )?;
    let daemon = BenchDaemon::start(
        db_url,
        &["--config".to_string(), cfg_file.display().to_string()],
        &[],
        &args.daemon_env,
    )
    .await?;
    let (pid, addr) = (daemon.pid, format!("127.0.0.1:{}", daemon.port));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(MAX_OPEN)
        .timeout(Duration::from_secs(10))
        .build()?;
    let next = Arc::new(AtomicU64::new(0));
    let targets: Vec<Arc<Target>> = hooks
        .iter()
        .map(|h| {
            Arc::new(Target {
                client: client.clone(),
                url: format!("http://{addr}/webhooks/slack/{h}"),
                next: next.clone(),
                secret: SECRET,
                accounts: Vec::new(),
            })
        })
        .collect();
    let offered = Arc::new(Mutex::new(Offered::default()));
    let db_start: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&mut conn)
        .await?;
    let t0 = tokio::time::Instant::now();
    let driver = tokio::spawn(drive(targets, args.event_rate, run_for, offered.clone()));

    let mut samples = Vec::new();
    let mut waits: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut hist = probe::parse_hist(&metrics(&addr).await, "mcp_db_pool_wait_seconds");
    let me = std::process::id();
    let cpu_of = |p| crate::bench::health::cpu_seconds(p).unwrap_or(f64::NAN);
    let mut cpu = (cpu_of(pid), cpu_of(me), 0.0);
    let steps = run_for.as_millis().div_ceil(STEP.as_millis()) as u32;
    for k in 1..=steps {
        let end = (STEP * k).min(run_for);
        tokio::time::sleep_until(t0 + end + LAG).await;
        let from = db_start + chrono::Duration::from_std(STEP * (k - 1))?;
        let to = db_start + chrono::Duration::from_std(end)?;
        for (kind, w) in probe::waits(&mut conn, from, to).await? {
            waits.entry(kind).or_default().push(w);
        }
        let sample = probe::sample(&mut conn, pid, end.as_secs_f64()).await?;
        let rss = sample.rss_mb;
        samples.push(sample);
        if !end.as_secs().is_multiple_of(60) && k != steps {
            continue;
        }
        let now_hist = probe::parse_hist(&metrics(&addr).await, "mcp_db_pool_wait_seconds");
        let (pool_text, pool_wait) = probe::pool_wait(&hist, &now_hist);
        hist = now_hist;
        let cpu_now = (cpu_of(pid), cpu_of(me), end.as_secs_f64());
        let secs = end.as_secs_f64() - cpu.2;
        let mut m = Minute {
            end_s: end.as_secs_f64(),
            sizes: probe::sizes(&mut conn).await?,
            pool_wait,
            rss_mb: rss,
            cpu_pct: 100.0 * (cpu_now.0 - cpu.0) / secs.max(1e-3),
            bench_cpu_pct: 100.0 * (cpu_now.1 - cpu.1) / secs.max(1e-3),
            host_load: probe::loadavg(),
            ..Minute::default()
        };
        cpu = cpu_now;
        let tally = std::mem::take(&mut *lock(&offered));
        (m.events_offered, m.events_ok) = (tally.offered, tally.ok);
        (m.events_failed, m.events_shed) = (tally.failed, tally.shed);
        print_block(
            &mut m,
            std::mem::take(&mut waits),
            secs,
            &pool_text,
            tally.lat_ms,
        );
        report.minutes.push(m);
    }
    driver.await??;
    probe::verdict(&mut report, &samples, STEP);
    report.daemon_peak_rss_mb = daemon.stop().await;
    pool.close().await;
    Ok(report)
}

/// The daemon's `/metrics` text; empty if it does not answer within 5 s.
async fn metrics(addr: &str) -> String {
    match tokio::time::timeout(Duration::from_secs(5), http_get(addr, "/metrics")).await {
        Ok(Ok((_, body))) => body,
        _ => String::new(),
    }
}

/// Posts signed Slack events round-robin over `targets` for `run_for`: `rate` per second, with
/// bursts. Each delivery is sent on its schedule (open loop); one that finds all `MAX_OPEN`
/// connections busy is counted as shed instead of waiting.
async fn drive(
    targets: Vec<Arc<Target>>,
    rate: u64,
    run_for: Duration,
    tally: Arc<Mutex<Offered>>,
) -> anyhow::Result<()> {
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_OPEN));
    let tick = Duration::from_millis(20);
    let ticks = (run_for.as_millis() / tick.as_millis()) as u32;
    let start = tokio::time::Instant::now();
    let (mut owed, mut i) = (0.0f64, 0usize);
    for k in 0..ticks {
        tokio::time::sleep_until(start + tick * k).await;
        let t = (tick * k).as_secs_f64();
        let burst = t >= BURST_EVERY / 2.0 && (t - BURST_EVERY / 2.0) % BURST_EVERY < BURST_LEN;
        owed += rate as f64 * tick.as_secs_f64() * if burst { BURST_FACTOR } else { 1.0 };
        while owed >= 1.0 && !targets.is_empty() {
            owed -= 1.0;
            let target = targets[i % targets.len()].clone();
            i += 1;
            lock(&tally).offered += 1;
            let Ok(slot) = open.clone().try_acquire_owned() else {
                lock(&tally).shed += 1;
                continue;
            };
            let Some(ev) = target.sign(1).pop() else {
                continue;
            };
            let tally = tally.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let at = Instant::now();
                let ok = target.post(ev).await.is_ok();
                let ms = at.elapsed().as_secs_f64() * 1000.0;
                let mut t = lock(&tally);
                if ok {
                    t.ok += 1;
                    t.lat_ms.push(ms);
                } else {
                    t.failed += 1;
                }
            });
        }
    }
    // The deliveries still in flight end (each has a 10 s timeout).
    let _ = tokio::time::timeout(Duration::from_secs(30), open.acquire_many(MAX_OPEN as u32)).await;
    Ok(())
}

fn print_block(
    m: &mut Minute,
    waits: BTreeMap<String, Vec<f64>>,
    secs: f64,
    pool: &str,
    mut lat: Vec<f64>,
) {
    let (start, end) = (m.end_s - secs, m.end_s);
    println!(
        "\n── {:.0}:{:02.0}–{:.0}:{:02.0} ── wait = attempted_at − greatest(created_at, run_at) of \
         the jobs claimed in the window (retried/snoozed ones left out)",
        (start / 60.0).floor(),
        start % 60.0,
        (end / 60.0).floor(),
        end % 60.0
    );
    println!(
        "  {:<22} {:>9} {:>9} {:>12} {:>12}",
        "kind", "started", "jobs/s", "wait p50", "wait p99"
    );
    let mut all = Vec::new();
    for (kind, mut w) in waits {
        w.sort_by(|a, b| a.total_cmp(b));
        let (p50, p99) = (pct(&w, 50), pct(&w, 99));
        println!(
            "  {kind:<22} {:>9} {:>9.1} {p50:>9.1} ms {p99:>9.1} ms",
            thousands(w.len() as i64),
            w.len() as f64 / secs
        );
        m.kinds.push((kind, w.len(), p50, p99));
        all.extend(w);
    }
    all.sort_by(|a, b| a.total_cmp(b));
    (m.started, m.wait_p50_ms, m.wait_p99_ms) = (all.len(), pct(&all, 50), pct(&all, 99));
    m.jobs_per_s = all.len() as f64 / secs;
    println!(
        "  {:<22} {:>9} {:>9.1} {:>9.1} ms {:>9.1} ms",
        "all",
        thousands(all.len() as i64),
        m.jobs_per_s,
        m.wait_p50_ms,
        m.wait_p99_ms
    );
    let s = &m.sizes;
    let idx: Vec<String> = s
        .indexes
        .iter()
        .map(|(n, b)| format!("{n} {:.1} MB", mb(*b)))
        .collect();
    println!(
        "  mcp.sync_jobs: {:.1} MB table+indexes ({}), {} rows ({} live), {} dead tuples, {} \
         autovacuums so far; largest indexes: {}",
        mb(s.table_bytes),
        match s.partitions {
            0 => "not partitioned".to_string(),
            n => format!("{n} partitions"),
        },
        thousands(s.rows),
        thousands(s.live_rows),
        thousands(s.dead_tuples),
        s.autovacuums,
        idx.join(", ")
    );
    let others: Vec<String> = s
        .others
        .iter()
        .map(|(n, b)| format!("{n} {:.1} MB", mb(*b)))
        .collect();
    println!("  other tables: {}", others.join(", "));
    println!("  pool wait: {pool}");
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "  daemon: RSS {:.1} MB, CPU {:.0} % of a core (sandbox + load generator {:.0} %, host \
         load average {:.1}); webhooks: {} offered, {} answered 2xx (client p50 {:.1} ms, p99 \
         {:.1} ms), {} failed, {} shed (all connections busy)",
        m.rss_mb,
        m.cpu_pct,
        m.bench_cpu_pct,
        m.host_load,
        thousands(m.events_offered as i64),
        thousands(m.events_ok as i64),
        pct(&lat, 50),
        pct(&lat, 99),
        m.events_failed,
        m.events_shed
    );
}

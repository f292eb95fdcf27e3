//! `mcp-worker-lab bench --suite failover`: the daemon through a primary's failover. A primary
//! and its synchronous streaming standby (`pg_basebackup -R`, `synchronous_standby_names = '*'`)
//! made here on free loopback ports, PgBouncer in transaction mode in front of the primary, and
//! the real daemon behind it (`database.pooler = "transaction"`). While the daemon drains
//! `--failover-jobs` jobs and takes signed Slack events at `--failover-rate` per second, the
//! primary is SIGKILLed (every process of it); the standby is promoted and PgBouncer repointed
//! to it (the failover an operator's tooling does). Measured: the time from the kill to the
//! first 503 of `/readyz`, from the promotion to its next 200, the jobs that ran twice against
//! those in flight at the kill, and the events answered 2xx that the new primary does not hold.
//! Prints the figures; asserts nothing (tests/it/failover.rs does).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::{Connection, PgConnection};

use crate::bench::webhooks::{Target, SECRET};
use crate::bench::{http_get, machine, BenchArgs};
use mcp_testkit::cluster::Cluster;
use mcp_testkit::pooler::PgBouncer;

#[derive(Debug, Default, serde::Serialize)]
pub struct FailoverReport {
    pub machine: String,
    pub jobs: i64,
    /// Jobs completed before the kill (as the standby holds them).
    pub completed_at_kill: i64,
    /// Jobs `running` on the standby when it was promoted: claimed, their outcome not written.
    pub in_flight_at_kill: i64,
    /// Jobs `running` on the primary at its last sample before the kill.
    pub running_before_kill: i64,
    /// Jobs that ran more than once (`attempt > 1`) once all completed.
    pub jobs_rerun: i64,
    pub jobs_completed: i64,
    /// Kill → first `/readyz` 503.
    pub time_to_503_ms: f64,
    /// Promotion (`pg_ctl promote` returned) → first `/readyz` 200.
    pub time_to_200_ms: f64,
    /// Kill → promotion (this bench's stand-in for the operator's failover tooling).
    pub kill_to_promoted_ms: f64,
    pub events_offered: u64,
    pub events_acknowledged: u64,
    /// Events answered 2xx that the new primary does not hold.
    pub events_acknowledged_lost: i64,
    /// `/readyz` answers as they changed: (ms from the kill, status; 0 = no answer).
    pub readyz: Vec<(f64, u16)>,
}

/// Samples `/readyz` every 20 ms; records when each answer began.
async fn watch_ready(port: u16, stop: Arc<std::sync::atomic::AtomicBool>) -> Vec<(Instant, u16)> {
    let mut seen: Vec<(Instant, u16)> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let status = match http_get(&format!("127.0.0.1:{port}"), "/readyz").await {
            Ok((s, _)) => s,
            Err(_) => 0,
        };
        if seen.last().map(|(_, s)| *s) != Some(status) {
            seen.push((Instant::now(), status));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

pub async fn measure(args: &BenchArgs) -> anyhow::Result<FailoverReport> {
    let mut report = FailoverReport {
        machine: machine(),
        jobs: args.failover_jobs,
        ..FailoverReport::default()
    };
    println!("machine: {}", report.machine);
    let mut primary = Cluster::primary()?;
    let mut admin = PgConnection::connect(&primary.url("postgres")).await?;
    sqlx::query("CREATE DATABASE mcp")
        .execute(&mut admin)
        .await?;
    let standby = primary.standby()?;
    // Synchronous from now on: a commit returns once the standby has flushed it.
    sqlx::raw_sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
        .execute(&mut admin)
        .await?;
    sqlx::raw_sql("SELECT pg_reload_conf()")
        .execute(&mut admin)
        .await?;
    let start = Instant::now();
    loop {
        let state: Option<String> =
            sqlx::query_scalar("SELECT sync_state FROM pg_stat_replication LIMIT 1")
                .fetch_optional(&mut admin)
                .await?;
        if state.as_deref() == Some("sync") {
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!(
                "the standby is not synchronous after 30 s:\n{}",
                standby.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "primary on port {}, synchronous standby on port {}",
        primary.port, standby.port
    );
    let (pool, keys, _ws, _integration, hook) =
        crate::bench::webhooks::slack_hook(&primary.url("mcp")).await?;
    pool.close().await;
    let bouncer = PgBouncer::start_named("127.0.0.1", primary.port, 20, &["mcp"]).await?;
    // The deliveries in flight (at most `MAX_DELIVERIES`) and the probes fit the listener.
    let extra = "[http]\nmax_connections = 1024\n\n[database]\npooler = \"transaction\"\n\n\
                 [worker]\npoll_interval = \"100ms\"\nrescue_interval = \"200ms\"\n\
                 lease_grace = \"1s\"\n\n[kinds.noop]\ntimeout = \"3s\"\n";
    let daemon = crate::bench::health::daemon_with(&keys, extra, args, &bouncer.url("mcp")).await?;
    println!(
        "daemon through PgBouncer (transaction mode) on port {}",
        bouncer.port
    );

    let stop_watching = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ready = tokio::spawn(watch_ready(daemon.port, stop_watching.clone()));
    let mut conn = PgConnection::connect(&primary.url("mcp")).await?;
    sqlx::query(
        "INSERT INTO mcp.sync_jobs (kind, payload) \
         SELECT 'noop', '{\"sleep_ms\": 20}' FROM generate_series(1, $1)",
    )
    .bind(args.failover_jobs)
    .execute(&mut conn)
    .await?;

    // Webhook intake at the offered rate for the whole run, each answer kept.
    let target = Arc::new(Target {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?,
        url: format!("http://127.0.0.1:{}/webhooks/slack/{hook}", daemon.port),
        next: Arc::new(AtomicU64::new(0)),
        secret: SECRET,
        accounts: Vec::new(),
    });
    let offering = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let load = tokio::spawn(offer(target.clone(), args.failover_rate, offering.clone()));

    // The kill, once part of the drain is done.
    let kill_after = args.failover_jobs / 4;
    loop {
        let (done, running): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE state = 'completed'), \
                    count(*) FILTER (WHERE state = 'running') \
             FROM mcp.sync_jobs WHERE kind = 'noop'",
        )
        .fetch_one(&mut conn)
        .await?;
        report.running_before_kill = running;
        if done >= kill_after {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(conn);
    primary.kill()?;
    let killed = Instant::now();
    println!("primary SIGKILLed");
    // The failover tooling's part: promote, then repoint the pooler.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut on_standby = PgConnection::connect(&standby.url("mcp")).await?;
    let (completed, running): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE state = 'running') \
         FROM mcp.sync_jobs WHERE kind = 'noop'",
    )
    .fetch_one(&mut on_standby)
    .await?;
    report.completed_at_kill = completed;
    report.in_flight_at_kill = running;
    standby.promote()?;
    let promoted = Instant::now();
    // (Its own `synchronous_standby_names` is empty: the setting was made on the primary after
    // the base backup, so the new primary does not wait for a standby it does not have.)
    report.kill_to_promoted_ms = (promoted - killed).as_secs_f64() * 1000.0;
    bouncer.repoint("127.0.0.1", standby.port)?;
    println!("standby promoted, PgBouncer repointed");

    // Every job completes on the new primary.
    let start = Instant::now();
    loop {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'noop' AND state <> 'completed'",
        )
        .fetch_one(&mut on_standby)
        .await?;
        if left == 0 {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let states: Vec<(String, i64, i16, String)> = sqlx::query_as(
                "SELECT state, count(*), max(attempt), coalesce(max(errors::text), '') \
                 FROM mcp.sync_jobs WHERE kind = 'noop' AND state <> 'completed' GROUP BY state",
            )
            .fetch_all(&mut on_standby)
            .await?;
            bail!("{left} jobs not completed 120 s after the promotion: {states:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A few more seconds of intake on the new primary, then stop offering.
    tokio::time::sleep(Duration::from_secs(2)).await;
    offering.store(false, Ordering::Relaxed);
    let answers = load.await??;
    stop_watching.store(true, Ordering::Relaxed);
    let seen = ready.await?;

    let (done, rerun): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE attempt > 1) \
         FROM mcp.sync_jobs WHERE kind = 'noop'",
    )
    .fetch_one(&mut on_standby)
    .await?;
    report.jobs_completed = done;
    report.readyz = seen
        .iter()
        .map(|(at, s)| {
            let ms = if *at >= killed {
                (*at - killed).as_secs_f64() * 1000.0
            } else {
                -((killed - *at).as_secs_f64() * 1000.0)
            };
            (ms, *s)
        })
        .collect();
    report.jobs_rerun = rerun;
    report.time_to_503_ms = seen
        .iter()
        .find(|(at, s)| *at >= killed && *s != 200)
        .map(|(at, _)| (*at - killed).as_secs_f64() * 1000.0)
        .unwrap_or(-1.0);
    report.time_to_200_ms = seen
        .iter()
        .find(|(at, s)| *at >= promoted && *s == 200)
        .map(|(at, _)| (*at - promoted).as_secs_f64() * 1000.0)
        .unwrap_or(-1.0);
    let acked: Vec<String> = answers
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(n, _)| format!("EvBench{n}"))
        .collect();
    report.events_offered = answers.len() as u64;
    report.events_acknowledged = acked.len() as u64;
    let held: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT dedup_key) FROM mcp.webhook_events WHERE dedup_key = ANY($1)",
    )
    .bind(&acked)
    .fetch_one(&mut on_standby)
    .await
    .context("count events")?;
    report.events_acknowledged_lost = acked.len() as i64 - held;
    println!(
        "kill → /readyz 503: {:.0} ms; promotion → 200: {:.0} ms (kill → promoted {:.0} ms)",
        report.time_to_503_ms, report.time_to_200_ms, report.kill_to_promoted_ms
    );
    println!(
        "jobs: {} completed of {}; {} in flight at the kill, {} ran twice",
        report.jobs_completed, report.jobs, report.in_flight_at_kill, report.jobs_rerun
    );
    println!(
        "events: {} offered at {}/s, {} answered 2xx, {} of those lost",
        report.events_offered,
        args.failover_rate,
        report.events_acknowledged,
        report.events_acknowledged_lost
    );
    daemon.stop().await;
    drop(bouncer);
    Ok(report)
}

/// Deliveries in flight at once.
const MAX_DELIVERIES: usize = 256;

/// Signed Slack events at `rate` per second until `go` is cleared: (event number, answered 2xx).
async fn offer(
    t: Arc<Target>,
    rate: u64,
    go: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<Vec<(u64, bool)>> {
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    let mut sent = 0u64;
    // A platform retries a delivery that timed out rather than holding ever more connections:
    // at most this many at once, as the webhooks suite.
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_DELIVERIES));
    while go.load(Ordering::Relaxed) {
        let n = t.next.load(Ordering::Relaxed);
        let ev = t.sign(1).pop().context("signed")?;
        let due = start + Duration::from_secs_f64(sent as f64 / rate as f64);
        tokio::time::sleep_until(due).await;
        sent += 1;
        let t = t.clone();
        let open = open.clone();
        tasks.push(tokio::spawn(async move {
            let _slot = open.acquire_owned().await;
            (n, t.post(ev).await.is_ok())
        }));
    }
    let mut answers = Vec::with_capacity(tasks.len());
    for task in tasks {
        answers.push(task.await?);
    }
    Ok(answers)
}

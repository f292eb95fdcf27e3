//! `mcp-worker-lab bench`: measures the engine the way an operator would see it. It makes a fresh
//! database, starts the real daemon as a child process against it, and prints figures:
//! bulk enqueue (jobs/s), drain (jobs/s, completed rows kept), enqueue→start latency of an idle
//! daemon (p50/p99), and the daemon's peak RSS. It prints numbers; it asserts nothing.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::{Connection, PgConnection};

use mcp_daemon::config::Config;

mod changes;
mod daemon;
mod day;
mod day_probe;
mod failover;
mod health;
mod history;
mod mcp;
mod notify;
mod oauth;
mod refresh;
mod search;
mod sync;
mod webhooks;

pub use daemon::BenchDaemon;
pub use mcp_testkit::daemon::machine;
pub use mcp_testkit::http_get;

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Jobs per drain round (bulk-inserted with one INSERT … SELECT).
    #[arg(long, default_value_t = 100_000)]
    pub jobs: i64,
    /// Drain rounds (completed rows of earlier rounds stay in the table).
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Single INSERTs for the latency measurement.
    #[arg(long, default_value_t = 500)]
    pub latency_samples: u32,
    /// Gap between those INSERTs, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub latency_gap_ms: u64,
    /// Extra environment for the daemon, KEY=VALUE (e.g. MCP_WORKER__WORKER__CONCURRENCY=256).
    #[arg(long = "daemon-env")]
    pub daemon_env: Vec<String>,
    /// Finished rows kept beside the new jobs in the queue suite's history phases (comma
    /// separated, cumulative: each phase adds rows up to its figure; 0 skips them). The first
    /// phase is followed by a drain while `prune` deletes those rows.
    #[arg(long, value_delimiter = ',', default_values_t = [2_000_000i64, 10_000_000])]
    pub history: Vec<i64>,
    /// Jobs drained in each history phase (and in the empty-table baseline it is compared to).
    #[arg(long, default_value_t = 50_000)]
    pub history_jobs: i64,
    /// Queue suite: the daemon reaches the database through a PgBouncer in transaction mode
    /// started for the run (`database.pooler = "transaction"`, `listen_url` direct); the
    /// measuring connection stays direct.
    #[arg(long)]
    pub through_pgbouncer: bool,
    /// Failover suite: jobs drained while the primary is killed.
    #[arg(long, default_value_t = 20_000)]
    pub failover_jobs: i64,
    /// Failover suite: signed webhook events offered per second throughout.
    #[arg(long, default_value_t = 500)]
    pub failover_rate: u64,
    /// Keep the bench database afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Run in this existing database (one a `--keep` run left) instead of a fresh one, and
    /// keep it: the search and mcp suites then skip storing and modelling their items.
    #[arg(long)]
    pub db: Option<String>,
    /// Also print the figures as one JSON line.
    #[arg(long)]
    pub json: bool,
    /// What to measure: the queue engine, a health-check cycle of many integrations against
    /// the sandbox, OAuth connect round trips through the daemon, …, or a compressed day of
    /// every kind at once (`day`).
    #[arg(long, value_enum, default_value_t = Suite::Queue)]
    pub suite: Suite,
    /// Integrations in the health and day suites (spread over the 13 platforms) and tokens in
    /// the refresh suite (over the 7 OAuth platforms).
    #[arg(long, default_value_t = 10_000)]
    pub integrations: i64,
    /// connect→callback→ACTIVE round trips in the oauth suite.
    #[arg(long, default_value_t = 200)]
    pub oauth_round_trips: u32,
    /// Events per second offered in the webhooks suite's sustained phase.
    #[arg(long, default_value_t = 5_000)]
    pub webhook_rate: u64,
    /// Seconds of sustained posting in the webhooks suite.
    #[arg(long, default_value_t = 10)]
    pub webhook_seconds: u64,
    /// Concurrent deliveries (clients posting back to back) in the webhooks suite's replay.
    #[arg(long, default_value_t = 32)]
    pub webhook_clients: usize,
    /// Events replayed as fast as the intake takes them in the webhooks suite.
    #[arg(long, default_value_t = 100_000)]
    pub webhook_events: u64,
    /// Slack workspaces (integrations) the webhooks suite's app-level events are routed to, in
    /// turn (1: the same work as the per-integration URL, plus the routing).
    #[arg(long, default_value_t = 100)]
    pub webhook_app_accounts: usize,
    /// The URLs the webhooks suite posts to, in this order: `endpoint` (one integration's
    /// `/webhooks/slack/{id}`) and `app` (`/webhooks/slack`). A URL measured second runs beside
    /// the first one's stored events; measure one alone to compare them.
    #[arg(long, value_delimiter = ',', default_value = "endpoint,app")]
    pub webhook_urls: Vec<String>,
    /// Critical changes made at once in the notify suite's burst (one notification each).
    #[arg(long, default_value_t = 10_000)]
    pub notifications: u64,
    /// Integrations in the sync suite (spread over the 13 platforms).
    #[arg(long, default_value_t = 100)]
    pub sync_integrations: i64,
    /// Items each integration lists in the sync suite.
    #[arg(long, default_value_t = 1000)]
    pub sync_items: u64,
    /// The sync suite makes the content calls of items whose listing lacks their content
    /// (false: `[items.<platform>] content = false` everywhere, the listings' model alone).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub sync_content: bool,
    /// The sync suite's sandbox answers every request after this many milliseconds (a
    /// platform's round trip; 0: at once).
    #[arg(long, default_value_t = 0)]
    pub sync_latency_ms: u64,
    /// Items the changes suite's integration lists (synced, then reconciled).
    #[arg(long, default_value_t = 100_000)]
    pub reconcile_items: u64,
    /// Items the search suite stores (over 100 workspaces) before it searches them.
    #[arg(long, default_value_t = 1_000_000)]
    pub search_items: u64,
    /// Workspaces the search suite's items are spread over.
    #[arg(long, default_value_t = 100)]
    pub search_workspaces: usize,
    /// Queries the search suite's 8 clients make in all.
    #[arg(long, default_value_t = 4_000)]
    pub search_queries: u64,
    /// How long the day suite runs (a compressed day is 10 minutes).
    #[arg(long = "for", value_name = "DURATION", default_value = "10m",
          value_parser = humantime_serde::re::humantime::parse_duration)]
    pub run_for: Duration,
    /// Webhook deliveries per second in the day suite (10× for 5 s every 2 minutes).
    #[arg(long, default_value_t = 300)]
    pub event_rate: u64,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    Queue,
    Health,
    Refresh,
    Oauth,
    Webhooks,
    Sync,
    Notify,
    Changes,
    Search,
    /// The MCP server through HTTP on the search suite's items (docs/PERFORMANCE.md#mcp).
    Mcp,
    Day,
    /// A primary's failover under a drain and webhook intake (docs/OPERATIONS.md, failover).
    Failover,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct BenchReport {
    pub machine: String,
    pub postgres: String,
    pub enqueue_jobs_per_s: Vec<f64>,
    pub drain_jobs_per_s: Vec<f64>,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    pub latency_unvacuumed_p50_ms: f64,
    pub latency_unvacuumed_p99_ms: f64,
    pub daemon_peak_rss_mb: f64,
    /// `history_jobs` drained on the analysed empty table: what the history phases compare to.
    pub empty_drain_jobs_per_s: f64,
    /// (finished rows kept, drain jobs/s, ratio to the empty-table drain).
    pub history_drain: Vec<(i64, f64, f64)>,
    pub drain_during_prune_jobs_per_s: f64,
    pub drain_during_prune_ratio: f64,
    pub pruned_rows: i64,
    pub prune_s: f64,
}

pub async fn run(config: &Config, args: BenchArgs) -> anyhow::Result<()> {
    let admin_url = config.database.url.clone();
    let reuse = args.db.is_some();
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| format!("mcp_bench_{}", std::process::id()));
    anyhow::ensure!(
        db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "--db takes a database name of letters, digits and _"
    );
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .context("bench: cannot connect with database.url / DATABASE_URL")?;
    if !reuse {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}")))
            .execute(&mut admin)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&mut admin)
            .await?;
    }
    let mut url = url::Url::parse(&admin_url)?;
    url.set_path(&format!("/{db}"));
    let db_url = url.to_string();

    let result = match args.suite {
        Suite::Queue => measure(config, &args, &db_url)
            .await
            .and_then(|r| Ok(serde_json::to_string(&r)?)),
        Suite::Health => crate::bench::health::measure(&args, &db_url)
            .await
            .and_then(|r| Ok(serde_json::to_string(&r)?)),
        Suite::Refresh => crate::bench::refresh::measure(&args, &db_url)
            .await
            .and_then(|r| Ok(serde_json::to_string(&r)?)),
        Suite::Oauth => crate::bench::oauth::measure(&args, &db_url)
            .await
            .and_then(|r| Ok(serde_json::to_string(&r)?)),
        Suite::Webhooks => crate::bench::webhooks::measure(&args, &db_url)
            .await
            .and_then(|r| Ok(serde_json::to_string(&r)?)),
        Suite::Sync => crate::bench::sync::measure(&args, &db_url)
            .await
            .and_then(|r| Ok(serde_json::to_string(&r)?)),
        Suite::Notify => crate::bench::notify::measure(&args, &db_url)
            .await
            .and_then(|r| Ok(serde_json::to_string(&r)?)),
        Suite::Changes => crate::bench::changes::measure(&args, &db_url)
            .await
            .and_then(|r| Ok(serde_json::to_string(&r)?)),
        Suite::Search => crate::bench::search::measure(&args, &db_url)
            .await
            .and_then(|r| Ok(serde_json::to_string(&r)?)),
        Suite::Mcp => crate::bench::mcp::measure(&args, &db_url)
            .await
            .and_then(|r| Ok(serde_json::to_string(&r)?)),
        Suite::Failover => crate::bench::failover::measure(&args)
            .await
            .and_then(|r| Ok(serde_json::to_string(&r)?)),
        Suite::Day => crate::bench::day::measure(&args, &db_url)
            .await
            .and_then(|r| Ok(serde_json::to_string(&r)?)),
    };
    if !args.keep && !reuse {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await;
    } else {
        println!("bench database kept: {db}");
    }
    let report = result?;
    if args.json {
        println!("{report}");
    }
    Ok(())
}

async fn measure(config: &Config, args: &BenchArgs, db_url: &str) -> anyhow::Result<BenchReport> {
    let mut report = BenchReport {
        machine: machine(),
        ..BenchReport::default()
    };
    let mut conn = PgConnection::connect(db_url).await?;
    report.postgres = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await?;
    println!(
        "machine: {}; PostgreSQL {}",
        report.machine, report.postgres
    );

    let _ = config;
    let mut env = vec![("MCP_WORKER__SCHEDULER__ENABLED", "false")];
    let mut daemon_url = db_url.to_string();
    let bouncer = if args.through_pgbouncer {
        let bouncer = mcp_testkit::pooler::PgBouncer::in_front_of(db_url, 20).await?;
        daemon_url = bouncer.url(url::Url::parse(db_url)?.path().trim_start_matches('/'));
        println!(
            "through PgBouncer (transaction mode, 20 server connections) on port {}",
            bouncer.port
        );
        Some(bouncer)
    } else {
        None
    };
    if bouncer.is_some() {
        env.push(("MCP_WORKER__DATABASE__POOLER", "transaction"));
        env.push(("MCP_WORKER__DATABASE__LISTEN_URL", db_url));
    }
    let daemon = BenchDaemon::start(&daemon_url, &[], &env, &args.daemon_env).await?;

    sqlx::query("ANALYZE mcp.sync_jobs")
        .execute(&mut conn)
        .await?;
    report.empty_drain_jobs_per_s =
        crate::bench::history::drain(&mut conn, args.history_jobs).await?;
    println!(
        "empty table (analysed): drain {} jobs = {:.0} jobs/s",
        args.history_jobs, report.empty_drain_jobs_per_s
    );

    for round in 1..=args.rounds {
        let t = Instant::now();
        sqlx::query("INSERT INTO mcp.sync_jobs (kind) SELECT 'noop' FROM generate_series(1, $1)")
            .bind(args.jobs)
            .execute(&mut conn)
            .await?;
        let insert = t.elapsed();
        let committed: chrono::DateTime<chrono::Utc> =
            sqlx::query_scalar("SELECT clock_timestamp()")
                .fetch_one(&mut conn)
                .await?;
        let enqueue_rate = args.jobs as f64 / insert.as_secs_f64();
        crate::bench::history::wait_done(&mut conn, 0, Duration::from_secs(600)).await?;
        let last: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
            "SELECT max(finished_at) FROM mcp.sync_jobs WHERE state = 'completed'",
        )
        .fetch_one(&mut conn)
        .await?;
        let drained = last
            .map(|l| (l - committed).to_std().unwrap_or_default())
            .unwrap_or_default()
            // finished_at is the start of the last completion statement; count it as done.
            .max(Duration::from_millis(1));
        let drain_rate = args.jobs as f64 / drained.as_secs_f64();
        println!(
            "round {round}: enqueue {} jobs in {:.3} s = {:.0} jobs/s; drain in {:.3} s = {:.0} jobs/s",
            args.jobs,
            insert.as_secs_f64(),
            enqueue_rate,
            drained.as_secs_f64(),
            drain_rate
        );
        report.enqueue_jobs_per_s.push(enqueue_rate);
        report.drain_jobs_per_s.push(drain_rate);
    }
    let not_completed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mcp.sync_jobs WHERE state <> 'completed'")
            .fetch_one(&mut conn)
            .await?;
    if not_completed != 0 {
        bail!("{not_completed} jobs did not complete: the figures above are not valid");
    }

    // Latency: an idle daemon, one INSERT at a time; first right after the drains (the claim
    // index still holds the drained rows' dead entries), then as it is once vacuum has run.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let burst = format!(
        "right after a burst of {} jobs drained (no vacuum)",
        args.jobs * args.rounds as i64
    );
    let (p50, p99, _) = latency(&mut conn, args, &burst).await?;
    report.latency_unvacuumed_p50_ms = p50;
    report.latency_unvacuumed_p99_ms = p99;
    // The steady state: the burst's dead rows vacuumed and its dirty pages written out (a
    // checkpoint during the samples measures the disk, not the queue).
    sqlx::query("VACUUM (ANALYZE) mcp.sync_jobs")
        .execute(&mut conn)
        .await?;
    sqlx::query("CHECKPOINT").execute(&mut conn).await?;
    let (p50, p99, max) = latency(
        &mut conn,
        args,
        "once vacuumed (the steady state of an idle daemon)",
    )
    .await?;
    report.latency_p50_ms = p50;
    report.latency_p99_ms = p99;
    report.latency_max_ms = max;

    history_phases(&mut conn, args, &mut report).await?;

    report.daemon_peak_rss_mb = daemon.stop().await;
    Ok(report)
}

/// Drains with millions of finished rows kept, and while `prune` deletes them.
async fn history_phases(
    conn: &mut PgConnection,
    args: &BenchArgs,
    report: &mut BenchReport,
) -> anyhow::Result<()> {
    use crate::bench::history as h;
    let mut kept: i64 = 0;
    for (i, &target) in args.history.iter().enumerate() {
        if target <= 0 {
            continue;
        }
        if target > kept {
            let secs = h::add_history(conn, target - kept).await?;
            println!(
                "history: {} finished rows written and analysed in {secs:.1} s",
                target - kept
            );
            kept = target;
        }
        let rate = h::drain(conn, args.history_jobs).await?;
        let ratio = rate / report.empty_drain_jobs_per_s;
        println!(
            "history {kept} finished rows kept: drain {} jobs = {rate:.0} jobs/s ({ratio:.2}× the empty table)",
            args.history_jobs
        );
        report.history_drain.push((kept, rate, ratio));
        if i == 0 {
            let p = h::drain_during_prune(conn, args.history_jobs).await?;
            let ratio = p.drain_jobs_per_s / rate;
            println!(
                "prune of {} finished rows took {:.1} s ({:.0} rows/s); drain beside it {:.0} jobs/s ({ratio:.2}× without it)",
                p.pruned_rows,
                p.prune_s,
                p.pruned_rows as f64 / p.prune_s,
                p.drain_jobs_per_s
            );
            report.drain_during_prune_jobs_per_s = p.drain_jobs_per_s;
            report.drain_during_prune_ratio = ratio;
            report.pruned_rows = p.pruned_rows;
            report.prune_s = p.prune_s;
            kept = 0;
        }
    }
    Ok(())
}

/// Single INSERTs `latency_gap_ms` apart; enqueue→start (`attempted_at - created_at`) p50, p99, max.
async fn latency(
    conn: &mut PgConnection,
    args: &BenchArgs,
    label: &str,
) -> anyhow::Result<(f64, f64, f64)> {
    let first_id: i64 = sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM mcp.sync_jobs")
        .fetch_one(&mut *conn)
        .await?;
    let gap = Duration::from_millis(args.latency_gap_ms);
    let mut next = Instant::now();
    for _ in 0..args.latency_samples {
        sqlx::query("INSERT INTO mcp.sync_jobs (kind) VALUES ('noop')")
            .execute(&mut *conn)
            .await?;
        next += gap;
        tokio::time::sleep_until(next.into()).await;
    }
    crate::bench::history::wait_done(conn, 0, Duration::from_secs(60)).await?;
    let (p50, p99, max): (f64, f64, f64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d), \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY d), max(d) \
         FROM (SELECT (EXTRACT(EPOCH FROM attempted_at - created_at) * 1000)::float8 AS d \
               FROM mcp.sync_jobs WHERE id > $1) s",
    )
    .bind(first_id)
    .fetch_one(&mut *conn)
    .await?;
    println!(
        "latency {label}: {} single INSERTs {} ms apart: enqueue→start p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms",
        args.latency_samples, args.latency_gap_ms
    );
    Ok((p50, p99, max))
}

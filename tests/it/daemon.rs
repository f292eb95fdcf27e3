//! The daemon as a process: several at once, killed, stopped, and its command line.

use std::time::Duration;

use crate::common::{bin, cli, run_exe, Daemon, TestDb};
use mcp_testkit::pooler::Route;

#[tokio::test]
async fn concurrent_daemons_never_share_a_job() {
    let db = TestDb::new().await;
    three_daemons_drain_20000_jobs_each_once(&db, &Route::direct(&db)).await;
    db.drop_db().await;
}

/// Three daemons on `route` drain 20,000 jobs: each runs once, each daemon takes a share.
pub(crate) async fn three_daemons_drain_20000_jobs_each_once(db: &TestDb, route: &Route) {
    let env = route.with(&[
        ("MCP_WORKER__WORKER__CONCURRENCY", "200"),
        ("MCP_WORKER__WORKER__FETCH_BATCH", "50"),
    ]);
    let a = Daemon::start(&route.url, &env).await;
    let b = Daemon::start(&route.url, &env).await;
    let c = Daemon::start(&route.url, &env).await;
    db.exec("INSERT INTO mcp.sync_jobs (kind) SELECT 'noop' FROM generate_series(1, 20000)")
        .await;
    db.wait_until(
        "SELECT count(*) = 20000 FROM mcp.sync_jobs WHERE kind = 'noop' AND state = 'completed'",
        Duration::from_secs(60),
    )
    .await;
    // A second claim of the same job would have raised its attempt above 1.
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'noop' AND attempt <> 1")
            .await,
        0
    );
    // Each daemon's own count of started attempts adds up to exactly one per job.
    let mut total = 0.0;
    let mut shares = Vec::new();
    for d in [&a, &b, &c] {
        let (_, text) = crate::common::http_get(d.port, "/metrics")
            .await
            .expect("metrics");
        let m = crate::common::parse_metrics(&text);
        let started = m
            .get("mcp_jobs_started_total{kind=\"noop\"}")
            .copied()
            .unwrap_or(0.0);
        total += started;
        shares.push(started);
    }
    assert_eq!(total, 20000.0);
    // They contended: every daemon claimed a share of the one queue.
    assert!(
        shares.iter().all(|n| *n > 0.0),
        "each daemon claimed jobs: {shares:?}"
    );
    for d in [a, b, c] {
        d.signal(libc::SIGTERM);
        assert!(d.wait(Duration::from_secs(20)).await.success());
    }
}

#[tokio::test]
async fn sigkilled_daemon_jobs_are_rescued_and_completed() {
    let db = TestDb::new().await;
    sigkilled_daemons_jobs_are_rescued(&db, &Route::direct(&db)).await;
    db.drop_db().await;
}

/// A daemon on `route` SIGKILLed with ten jobs running: another rescues and completes each
/// once, its lost attempt counted.
pub(crate) async fn sigkilled_daemons_jobs_are_rescued(db: &TestDb, route: &Route) {
    // A short lease so the test does not wait long (timeout 4s + grace 200ms), yet well above
    // the jobs' 1.5 s, so that a loaded machine does not make the rescuer's own runs look lost.
    let env = route.with(&[
        ("MCP_WORKER__KINDS__NOOP__TIMEOUT", "4s"),
        ("MCP_WORKER__WORKER__LEASE_GRACE", "200ms"),
    ]);
    let victim = Daemon::start(&route.url, &env).await;
    db.exec("INSERT INTO mcp.sync_jobs (kind, payload) SELECT 'noop', '{\"sleep_ms\": 1500}' FROM generate_series(1, 10)")
        .await;
    db.wait_until(
        "SELECT count(*) = 10 FROM mcp.v_active_sync_jobs WHERE kind = 'noop'",
        Duration::from_secs(10),
    )
    .await;
    victim.signal(libc::SIGKILL);
    let status = victim.wait(Duration::from_secs(10)).await;
    assert!(!status.success());
    // Nothing finished: the rows are still `running` under the dead worker.
    assert_eq!(
        db.scalar_i64(
            "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'noop' AND state = 'running'"
        )
        .await,
        10
    );

    let rescuer = Daemon::start(&route.url, &env).await;
    db.wait_until_or(
        "SELECT count(*) = 10 FROM mcp.sync_jobs WHERE kind = 'noop' AND state = 'completed'",
        Duration::from_secs(30),
        &[
            "SELECT id, kind, state, attempt, locked_by, lease_expires_at, run_at, finished_at, now() \
             FROM mcp.sync_jobs ORDER BY id",
            "SELECT pid, application_name, state, wait_event, xact_start, left(query, 120) AS query \
             FROM pg_stat_activity WHERE datname = current_database()",
        ],
    )
    .await;
    assert_eq!(
        db.scalar_i64(
            "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'noop' AND attempt = 2 \
             AND errors->0->>'error' LIKE 'lease expired: worker % did not finish attempt 1'"
        )
        .await,
        10,
        "each job ran again once, its lost attempt counted and explained"
    );
    rescuer.signal(libc::SIGTERM);
    rescuer.wait(Duration::from_secs(20)).await;
}

/// A daemon stalled past its jobs' leases (SIGSTOP) loses them to the rescue; when it wakes, the
/// outcomes of its old attempts (each fails on purpose) are refused: the rescuer's completions
/// stand, with only the lost attempt's error recorded.
#[tokio::test]
async fn a_stalled_daemons_late_outcomes_are_refused_after_the_rescue() {
    let db = TestDb::new().await;
    let env = [
        ("MCP_WORKER__KINDS__NOOP__TIMEOUT", "4s"),
        ("MCP_WORKER__WORKER__LEASE_GRACE", "200ms"),
    ];
    let stalled = Daemon::start(&db.url, &env).await;
    // Attempt 1 of each fails (after its sleep); attempt 2 succeeds.
    db.exec(
        "INSERT INTO mcp.sync_jobs (kind, payload) \
         SELECT 'noop', '{\"sleep_ms\": 1500, \"fail_times\": 1}' FROM generate_series(1, 10)",
    )
    .await;
    db.wait_until(
        "SELECT count(*) = 10 FROM mcp.v_active_sync_jobs WHERE kind = 'noop'",
        Duration::from_secs(10),
    )
    .await;
    stalled.signal(libc::SIGSTOP);
    let rescuer = Daemon::start(&db.url, &env).await;
    db.wait_until(
        "SELECT count(*) = 10 FROM mcp.sync_jobs WHERE kind = 'noop' AND state = 'completed'",
        Duration::from_secs(30),
    )
    .await;
    // Awake: its attempts end (failing, or past their timeout) and their outcomes are written;
    // a clean exit means every outcome it held was sent.
    stalled.signal(libc::SIGCONT);
    stalled.signal(libc::SIGTERM);
    assert!(stalled.wait(Duration::from_secs(20)).await.success());
    let rows: Vec<(String, i16, i64, String)> = sqlx::query_as(
        "SELECT state, attempt, jsonb_array_length(errors)::bigint, errors->0->>'error' \
         FROM mcp.sync_jobs WHERE kind = 'noop' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("rows");
    assert_eq!(rows.len(), 10);
    for (state, attempt, errors, first) in rows {
        assert_eq!(
            (state.as_str(), attempt, errors),
            ("completed", 2, 1),
            "{first}"
        );
        assert!(first.starts_with("lease expired"), "{first}");
    }
    rescuer.signal(libc::SIGTERM);
    rescuer.wait(Duration::from_secs(20)).await;
}

#[tokio::test]
async fn sigterm_returns_unfinished_jobs_without_spending_an_attempt() {
    let db = TestDb::new().await;
    let env = [("MCP_WORKER__WORKER__SHUTDOWN_GRACE", "1s")];
    let d = Daemon::start(&db.url, &env).await;
    let quick = db
        .scalar_i64("SELECT mcp.enqueue_job('noop', '{\"sleep_ms\": 200}')")
        .await;
    db.exec("INSERT INTO mcp.sync_jobs (kind, payload) SELECT 'noop', '{\"sleep_ms\": 20000}' FROM generate_series(1, 5)")
        .await;
    db.wait_until(
        "SELECT count(*) = 6 FROM mcp.v_active_sync_jobs WHERE kind = 'noop'",
        Duration::from_secs(10),
    )
    .await;
    d.signal(libc::SIGTERM);
    // While running jobs drain, the listener still serves (the scheduler is on by default):
    // /readyz turns 503 once the signal is taken, and /metrics still answers.
    let started = std::time::Instant::now();
    loop {
        let (status, body) = crate::common::http_get(d.port, "/readyz")
            .await
            .expect("/readyz answers while draining");
        if status == 503 {
            break;
        }
        assert_eq!(status, 200, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still ready: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = crate::common::http_get(d.port, "/metrics")
        .await
        .expect("/metrics answers while draining");
    assert_eq!(status, 200);
    let running = db
        .scalar_i64(&format!(
            "SELECT count(*) FROM mcp.v_active_sync_jobs WHERE kind = 'noop' AND id <> {quick}"
        ))
        .await;
    assert_eq!(running, 5, "the long jobs were still running then");
    let status = d.wait(Duration::from_secs(10)).await;
    assert!(status.success(), "clean exit after SIGTERM: {status}");
    let state: String = sqlx::query_scalar("SELECT state FROM mcp.sync_jobs WHERE id = $1")
        .bind(quick)
        .fetch_one(&db.pool)
        .await
        .expect("row");
    assert_eq!(
        state, "completed",
        "a job that ends within the grace period completes"
    );
    assert_eq!(
        db.scalar_i64(&format!(
            "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'noop' AND id <> {quick} \
             AND state = 'available' AND attempt = 0 AND locked_by IS NULL AND last_error IS NULL"
        ))
        .await,
        5
    );
    db.drop_db().await;
}

#[tokio::test]
async fn cli_enqueues_lists_shows_cancels_and_retries() {
    let db = TestDb::empty().await;
    let (ok, out, err) = cli(&db.url, &["migrate"]).await;
    assert!(ok, "migrate: {err}");
    assert!(out.contains("migrations applied"));
    let (ok, out, err) = cli(
        &db.url,
        &[
            "enqueue",
            "noop",
            "--payload",
            "{\"sleep_ms\": 5}",
            "--run-at",
            "2099-01-01T00:00:00Z",
            "--priority",
            "2",
        ],
    )
    .await;
    assert!(ok, "enqueue: {err}");
    let id: i64 = out.trim().parse().expect("an id");
    let (ok, out, _) = cli(&db.url, &["jobs", "list", "--state", "scheduled"]).await;
    assert!(ok);
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with(&id.to_string()) && l.contains("noop")),
        "{out}"
    );
    let (ok, out, _) = cli(&db.url, &["jobs", "show", &id.to_string()]).await;
    assert!(ok);
    let row: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(row["payload"]["sleep_ms"], 5);
    assert_eq!(row["priority"], 2);
    let (ok, _, _) = cli(&db.url, &["jobs", "cancel", &id.to_string()]).await;
    assert!(ok);
    let (ok, _, err) = cli(&db.url, &["jobs", "cancel", &id.to_string()]).await;
    assert!(!ok && err.contains("already finished"), "{err}");
    let (ok, _, _) = cli(&db.url, &["jobs", "retry", &id.to_string()]).await;
    assert!(ok);
    let (ok, _, err) = cli(&db.url, &["jobs", "show", "999999"]).await;
    assert!(!ok && err.contains("job 999999 not found"), "{err}");
    let (ok, _, err) = cli(&db.url, &["enqueue", "bogus_kind"]).await;
    assert!(
        !ok && err.contains("bogus_kind"),
        "an unknown kind is named: {err}"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn invalid_config_exits_nonzero_naming_the_key() {
    let run = |env: Vec<(&'static str, &'static str)>, file: Option<String>| async move {
        let mut cmd = tokio::process::Command::new(bin());
        cmd.arg("check-config")
            .env_remove("MCP_WORKER_CONFIG")
            .env_remove("DATABASE_URL");
        if let Some(f) = file {
            cmd.arg("--config").arg(f);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().await.expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, err, _) = run(vec![("MCP_WORKER__WORKER__CONCURRENCY", "lots")], None).await;
    assert_eq!(code, Some(2));
    assert!(err.contains("worker.concurrency"), "{err}");
    // A data key that would seal before the daemons reload them.
    let (code, err, _) = run(vec![("MCP_WORKER__VAULT__DATA_KEY_GRACE", "10s")], None).await;
    assert_eq!(code, Some(2));
    assert!(err.contains("vault.data_key_grace"), "{err}");
    // A platform URL in clear: refused unless plain HTTP is allowed on purpose (the sandbox).
    let plain = (
        "MCP_WORKER__PLATFORMS__SLACK__TOKEN_URL",
        "http://slack.example/api/oauth.v2.access",
    );
    let (code, err, _) = run(vec![plain], None).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("platforms.slack.token_url") && err.contains("allow_plain_http"),
        "{err}"
    );
    let (code, err, _) = run(
        vec![plain, ("MCP_WORKER__HTTP_CLIENT__ALLOW_PLAIN_HTTP", "true")],
        None,
    )
    .await;
    assert_eq!(code, Some(0), "{err}");

    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[worker]\nconcurency = 5\n").expect("write");
    let (code, err, _) = run(vec![], Some(path.display().to_string())).await;
    assert_eq!(code, Some(2));
    assert!(err.contains("concurency"), "an unknown key is named: {err}");

    std::fs::write(
        &path,
        "[schedules.nightly]\ncron = \"every day\"\nkind = \"prune\"\n",
    )
    .expect("write");
    let (code, err, _) = run(vec![], Some(path.display().to_string())).await;
    assert_eq!(code, Some(2));
    assert!(err.contains("schedules.nightly.cron"), "{err}");

    let (code, err, out) = run(
        vec![(
            "DATABASE_URL",
            "postgres://app:hunter2secret@db.internal:5432/mcp",
        )],
        None,
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("db.internal") && !out.contains("hunter2secret"),
        "{out}"
    );
}

#[tokio::test]
async fn example_config_is_valid_and_matches_the_defaults() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/mcp-worker.example.toml"
    );
    let text = std::fs::read_to_string(path).expect("example config");
    let cfg = mcp_daemon::config::Config::from_parts(Some(&text), path, &[]).expect("valid");
    let defaults = mcp_daemon::config::Config::default();
    assert_eq!(
        cfg.redacted(),
        defaults.redacted(),
        "the example documents the defaults"
    );
}

/// The bench subcommand on a tiny load: it makes its own database, drives a real daemon, prints
/// figures as JSON and cleans up. (The figures themselves are for the README, not asserted.)
#[tokio::test]
async fn bench_subcommand_runs_small_and_reports_json() {
    let db = TestDb::empty().await;
    let (ok, out, err) = run_exe(
        &crate::common::lab_bin(),
        &db.url,
        &[
            "bench",
            "--jobs",
            "500",
            "--rounds",
            "1",
            "--latency-samples",
            "5",
            "--latency-gap-ms",
            "5",
            "--history",
            "2000,5000",
            "--history-jobs",
            "200",
            "--json",
        ],
    )
    .await;
    assert!(ok, "bench failed: {err}\n{out}");
    let json = out.lines().last().expect("a JSON line");
    let report: serde_json::Value = serde_json::from_str(json).expect("bench JSON");
    assert_eq!(
        report["drain_jobs_per_s"].as_array().map(|a| a.len()),
        Some(1)
    );
    assert!(report["drain_jobs_per_s"][0].as_f64().unwrap_or(0.0) > 0.0);
    assert!(report["latency_p50_ms"].as_f64().unwrap_or(-1.0) >= 0.0);
    assert!(report["daemon_peak_rss_mb"].as_f64().unwrap_or(0.0) > 0.0);
    // Both history phases ran, and the prune beside the first drain deleted its history.
    assert_eq!(report["history_drain"].as_array().map(|a| a.len()), Some(2));
    assert_eq!(report["pruned_rows"].as_i64(), Some(2000));
    db.drop_db().await;
}

//! What operators touch: retention, /metrics, health endpoints, the systemd unit and sd_notify.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use mcp_queue::{PruneAges, Queue};

use crate::common::{http_get, parse_metrics, Daemon, TestDb};

#[tokio::test]
async fn prune_deletes_old_finished_jobs_in_batches_and_keeps_the_rest() {
    let db = TestDb::new().await;
    db.exec(
        "INSERT INTO mcp.sync_jobs (kind, state, finished_at) \
         SELECT 'noop', s, now() - interval '10 days' \
         FROM unnest(ARRAY['completed', 'cancelled', 'discarded']) s, generate_series(1, 10); \
         INSERT INTO mcp.sync_jobs (kind, state, finished_at) \
         SELECT 'noop', 'completed', now() - interval '1 hour' FROM generate_series(1, 4); \
         INSERT INTO mcp.sync_jobs (kind) SELECT 'noop' FROM generate_series(1, 3);",
    )
    .await;
    let q = Queue::new(
        db.pool.clone(),
        "test".into(),
        mcp_handlers::builtin_catalog(),
        Duration::ZERO,
        vec![],
    );
    let day = Duration::from_secs(86_400);
    let report = q
        .prune(
            PruneAges {
                completed: day,
                cancelled: day,
                discarded: day * 20,
            },
            7,
        )
        .await
        .expect("prune");
    assert_eq!(
        report.deleted, 20,
        "old completed and cancelled go; discarded are kept 20 days"
    );
    assert!(report.batches >= 3, "7 rows per statement: {report:?}");
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.sync_jobs").await,
        10 + 4 + 3
    );
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.sync_jobs WHERE state = 'available'")
            .await,
        3
    );
    db.drop_db().await;
}

#[tokio::test]
async fn prune_job_runs_through_the_daemon() {
    let db = TestDb::new().await;
    db.exec(
        "INSERT INTO mcp.sync_jobs (kind, state, finished_at) \
         SELECT 'noop', 'completed', now() - interval '2 hours' FROM generate_series(1, 50)",
    )
    .await;
    let d = Daemon::start(&db.url, &[]).await;
    let id = db
        .scalar_i64("SELECT mcp.enqueue_job('prune', '{\"completed_older_than_s\": 3600, \"batch_size\": 10}')")
        .await;
    db.wait_until(
        &format!("SELECT state = 'completed' FROM mcp.sync_jobs WHERE id = {id}"),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'noop'")
            .await,
        0,
        "the old completed jobs are gone"
    );
    d.signal(libc::SIGTERM);
    d.wait(Duration::from_secs(20)).await;
    db.drop_db().await;
}

#[tokio::test]
async fn metrics_health_and_readiness_are_served() {
    let db = TestDb::new().await;
    // The failed attempt's retry waits an hour: it stays retryable while this test reads.
    let d = Daemon::start(
        &db.url,
        &[
            ("MCP_WORKER__KINDS__NOOP__BACKOFF_BASE", "1h"),
            ("MCP_WORKER__KINDS__NOOP__BACKOFF_MAX", "2h"),
        ],
    )
    .await;
    db.exec("INSERT INTO mcp.sync_jobs (kind, payload) VALUES ('noop', '{}'), ('noop', '{\"fail_times\": 1}')")
        .await;
    db.exec("INSERT INTO mcp.sync_jobs (kind, run_at) VALUES ('noop', now() + interval '1 hour')")
        .await;
    db.wait_until(
        "SELECT count(*) = 1 FROM mcp.sync_jobs WHERE kind = 'noop' AND state = 'completed'",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(http_get(d.port, "/healthz").await.expect("healthz").0, 200);
    assert_eq!(http_get(d.port, "/readyz").await.expect("readyz").0, 200);
    // The depth gauges are sampled: read until a sample has seen the retryable job.
    let started = std::time::Instant::now();
    let (text, m) = loop {
        let (status, text) = http_get(d.port, "/metrics").await.expect("metrics");
        assert_eq!(status, 200);
        let m = parse_metrics(&text);
        if m.get("mcp_queue_depth{kind=\"noop\",state=\"retryable\"}") == Some(&1.0) {
            break (text, m);
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no sample: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let get = |k: &str| {
        m.get(k)
            .copied()
            .unwrap_or_else(|| panic!("missing {k} in\n{text}"))
    };
    assert_eq!(get("mcp_jobs_started_total{kind=\"noop\"}"), 2.0);
    assert_eq!(get("mcp_jobs_completed_total{kind=\"noop\"}"), 1.0);
    assert_eq!(get("mcp_jobs_failed_total{kind=\"noop\"}"), 1.0);
    assert_eq!(get("mcp_jobs_retried_total{kind=\"noop\"}"), 1.0);
    assert_eq!(get("mcp_jobs_discarded_total{kind=\"prune\"}"), 0.0);
    assert_eq!(get("mcp_jobs_rescued_total{kind=\"noop\"}"), 0.0);
    assert_eq!(
        get("mcp_queue_depth{kind=\"noop\",state=\"scheduled\"}"),
        1.0
    );
    assert_eq!(
        get("mcp_queue_depth{kind=\"noop\",state=\"retryable\"}"),
        1.0
    );
    assert_eq!(get("mcp_job_duration_seconds_count{kind=\"noop\"}"), 2.0);
    assert!(get("mcp_claim_batch_size_count") >= 1.0);
    assert!(get("mcp_db_pool_max_connections") >= 3.0);
    assert!(m.contains_key("mcp_cron_ticks_total{schedule=\"prune\"}"));
    assert!(m.contains_key("mcp_queue_oldest_available_age_seconds{kind=\"noop\"}"));
    assert!(m
        .keys()
        .any(|k| k.starts_with("mcp_worker_build_info{version=")));
    assert!(m
        .keys()
        .any(|k| k.starts_with("mcp_db_pool_connections{state=\"idle\"}")));

    // Every metric a dashboard panel asks for is one the daemon exports.
    let dash = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/grafana/dashboards/mcp-worker.json"
    ))
    .expect("dashboard");
    let dash: serde_json::Value = serde_json::from_str(&dash).expect("dashboard JSON");
    let mut exprs = Vec::new();
    for p in dash["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().into_iter().flatten() {
            exprs.push(t["expr"].as_str().expect("expr").to_string());
        }
    }
    assert!(exprs.len() >= 10);
    for e in &exprs {
        for word in e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("mcp_") {
                assert!(
                    text.lines().any(|l| l.starts_with(word)),
                    "dashboard uses {word}, which /metrics does not export"
                );
            }
        }
    }

    // promtool is installed by scripts/test and .ci/run; a machine without it fails here.
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("promtool (scripts/test installs Debian's prometheus package)");
    let problems =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "promtool check metrics: {problems}");
    d.signal(libc::SIGTERM);
    d.wait(Duration::from_secs(20)).await;
    db.drop_db().await;
}

#[tokio::test]
async fn readiness_fails_when_migrations_are_behind() {
    let db = TestDb::new().await;
    let d = Daemon::start(&db.url, &[]).await;
    db.exec("UPDATE _sqlx_migrations SET success = false WHERE version = (SELECT max(version) FROM _sqlx_migrations)")
        .await;
    // `/readyz` answers from the readiness probe, which looks again every quarter second.
    let start = std::time::Instant::now();
    let (status, body) = loop {
        let (status, body) = http_get(d.port, "/readyz").await.expect("readyz");
        if status != 200 || start.elapsed() > Duration::from_secs(2) {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status, 503);
    assert!(body.contains("migrations"), "{body}");
    assert_eq!(http_get(d.port, "/healthz").await.expect("healthz").0, 200);
    d.signal(libc::SIGTERM);
    d.wait(Duration::from_secs(20)).await;
    db.drop_db().await;
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let unit = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/mcp-worker.service");
    let text = std::fs::read_to_string(unit).expect("unit file");
    for needed in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "EnvironmentFile=",
        "LoadCredential=",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        // A core dump would hold keys and tokens.
        "LimitCORE=0",
        // Room for both listeners' connections and the pool (checked at start).
        "LimitNOFILE=",
        // The clouds' instance metadata services hand out the host's credentials.
        "IPAddressDeny=169.254.169.254 fd00:ec2::254 100.100.100.200",
        // The API token and the OAuth client secrets as credentials, like the database URL.
        "api-token:",
        "client-secret-",
    ] {
        assert!(text.contains(needed), "unit lacks {needed}");
    }
    // verify wants ExecStart's binary to exist: point it at the one cargo built.
    let dir = tempfile::tempdir().expect("tmp");
    let copy = dir.path().join("mcp-worker.service");
    std::fs::write(
        &copy,
        text.replace("/usr/local/bin/mcp-worker", crate::common::bin()),
    )
    .expect("write");
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze is installed (.ci/run installs systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let relevant: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("mcp-worker.service"))
        .collect();
    assert!(
        out.status.success() && relevant.is_empty(),
        "systemd-analyze verify:\n{stderr}"
    );
}

#[tokio::test]
async fn daemon_speaks_the_sd_notify_protocol() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let path_s = path.display().to_string();
    let d = Daemon::start(
        &db.url,
        &[
            ("NOTIFY_SOCKET", path_s.as_str()),
            ("WATCHDOG_USEC", "400000"),
        ],
    )
    .await;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let recv = |buf: &mut [u8]| -> String {
        let n = sock.recv(buf).expect("a notify message");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    while !(got.iter().any(|m: &String| m.contains("READY=1"))
        && got.iter().any(|m| m == "WATCHDOG=1"))
    {
        got.push(recv(&mut buf));
    }
    let ready = got.iter().find(|m| m.contains("READY=1")).expect("READY");
    assert!(ready.contains(&format!("MAINPID={}", d.pid())), "{ready}");
    d.signal(libc::SIGTERM);
    loop {
        let m = recv(&mut buf);
        if m.contains("STOPPING=1") {
            break;
        }
    }
    assert!(d.wait(Duration::from_secs(20)).await.success());
    db.drop_db().await;
}

/// What the Grafana docs say of the dashboard holds: an import asks for nothing because every
/// panel reads the `datasource` variable (a Prometheus data-source variable, and no
/// `__inputs` that a file provider could not fill), and the rows the docs list are the
/// dashboard's rows, in order.
#[test]
fn the_dashboards_import_shape_and_rows_are_as_documented() {
    let read =
        |p: &str| std::fs::read_to_string(format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))).expect(p);
    let dash: serde_json::Value =
        serde_json::from_str(&read("grafana/dashboards/mcp-worker.json")).expect("json");
    assert!(dash.get("__inputs").is_none());
    let vars = dash["templating"]["list"].as_array().expect("variables");
    let ds = vars
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let panels = dash["panels"].as_array().expect("panels");
    for p in panels {
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
    }
    let rows: Vec<String> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap_or("").to_string())
        .collect();
    let readme = read("grafana/README.md");
    let section = readme.split("## Rows").nth(1).expect("a Rows section");
    let listed: Vec<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .map(|l| l.split(" |").next().unwrap_or("").trim().to_string())
        .filter(|n| n != "row" && !n.starts_with("---"))
        .collect();
    assert_eq!(listed, rows, "grafana/README.md's rows");
    let running = read("docs/RUNNING.md").replace('\n', " ").to_lowercase();
    let lower: Vec<String> = rows.iter().map(|r| r.to_lowercase()).collect();
    assert!(
        running.contains(&format!("rows: {}", lower.join(", "))),
        "docs/RUNNING.md lists the rows {lower:?}"
    );
}

//! `mcp-worker-lab demo`: a terminal session of the demo (under a pseudo-terminal when `script` from
//! util-linux is there) must see all seven things, name the /metrics URL, print no secret and
//! exit 0; a demo stopped at once must exit 3 naming what it did not see, in plain lines.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{lab_bin, TestDb};

const LABELS: [&str; 7] = [
    "health checks pass and fail",
    "circuit breaker opens and closes",
    "token refresh with rotation",
    "signed webhook accepted",
    "forged webhook refused",
    "syncs page through lists",
    "/metrics moving",
];

fn has_script() -> bool {
    std::process::Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `mcp-worker-lab demo ARGS` against `db`, under a pseudo-terminal when `tty` (and `script` is
/// installed); returns the exit code, stdout + stderr, and whether a terminal was used.
/// The demo's arguments: its public listener at `listen`, the management one on any port, and
/// how long it runs.
fn demo_args(listen: &str, runs_for: &str) -> Vec<String> {
    [
        "--listen",
        listen,
        "--admin-listen",
        "127.0.0.1:0",
        "--for",
        runs_for,
    ]
    .map(String::from)
    .to_vec()
}

async fn run_demo(db: &TestDb, args: &[String], tty: bool) -> (Option<i32>, String, bool) {
    let tty = tty && has_script();
    let mut cmd = if tty {
        let line = std::iter::once(lab_bin())
            .chain(std::iter::once("demo".to_string()))
            .chain(args.iter().cloned())
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut c = tokio::process::Command::new("script");
        c.args(["-qec", &line, "/dev/null"]);
        c
    } else {
        let mut c = tokio::process::Command::new(lab_bin());
        c.arg("demo").args(args);
        c
    };
    cmd.env("DATABASE_URL", &db.url)
        .env_remove("MCP_WORKER_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .env("MCP_WORKER__WORKER__POLL_INTERVAL", "100ms")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().expect("spawn the demo");
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the demo did not exit by itself")
        .expect("wait for the demo");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text, tty)
}

/// The final checklist: the lines after "mcp-worker-lab demo: … seen".
fn checklist(out: &str) -> &str {
    let at = out
        .rfind("mcp-worker-lab demo: ")
        .unwrap_or_else(|| panic!("no final checklist in:\n{out}"));
    &out[at..]
}

fn assert_no_secrets(out: &str) {
    for secret in [
        mcp_sandbox::demo::DEMO_SLACK_SECRET,
        mcp_sandbox::demo::DEMO_API_TOKEN,
        "not-the-signing-secret",
        // The sandbox's tokens (access, refresh, API keys) all start so.
        "sbx-",
        "-secret",
    ] {
        assert!(!out.contains(secret), "the output shows `{secret}`:\n{out}");
    }
}

#[tokio::test]
async fn demo_session_sees_all_seven_things_and_exits_0() {
    let db = TestDb::empty().await;
    let port = crate::common::free_port();
    let mut args = demo_args(&format!("127.0.0.1:{port}"), "30s");
    // The facts are read from its database afterwards.
    args.push("--keep".to_string());
    let started = Instant::now();
    let (code, out, tty) = run_demo(&db, &args, true).await;
    let took = started.elapsed();
    assert_eq!(code, Some(0), "exit status (tty: {tty}), output:\n{out}");
    let list = checklist(&out);
    assert!(list.contains("7 of 7 seen"), "{list}");
    for label in LABELS {
        assert!(
            list.lines()
                .any(|l| l.trim_start().starts_with(&format!("✓ {label}"))),
            "`{label}` not ticked:\n{list}"
        );
    }
    assert!(!list.contains('✗'), "{list}");
    assert!(
        out.contains(&format!("http://127.0.0.1:{port}/metrics")),
        "no /metrics URL:\n{out}"
    );
    assert!(
        list.contains("mcp.sync_jobs") && list.contains("ops.events"),
        "{list}"
    );
    assert!(
        list.contains(&format!("psql \"{}\" -c", db.url)) && !list.contains("$DATABASE_URL"),
        "the SQL to run names the database the demo used:\n{list}"
    );
    assert_no_secrets(&out);
    if tty {
        // The live display was redrawn in place, and the cursor given back.
        assert!(
            out.contains("\x1b[2K") && out.contains("\x1b[?25h"),
            "{out}"
        );
    }
    // How long it took is a figure, not a test: printed for whoever reads the run.
    eprintln!("demo: {took:?}");
    // The facts are in the database, as the checklist said.
    let stored = db
        .scalar_i64("SELECT count(*) FROM mcp.webhook_events WHERE dedup_key LIKE 'EvDemoForged%'")
        .await;
    assert_eq!(stored, 0);
    let breaker_closed = db
        .scalar_i64(
            "SELECT count(*) FROM core.integrations WHERE platform = 'discord' \
             AND circuit_breaker_state = 'closed' AND state = 'ACTIVE'",
        )
        .await;
    assert_eq!(breaker_closed, 1);
    db.drop_db().await;
}

#[tokio::test]
async fn demo_stopped_at_once_exits_3_naming_what_it_did_not_see() {
    let db = TestDb::empty().await;
    let args = demo_args("127.0.0.1:0", "0s");
    let (code, out, tty) = run_demo(&db, &args, false).await;
    assert!(!tty);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("not seen: "), "{out}");
    assert!(out.contains("circuit breaker opens and closes"), "{out}");
    assert!(out.contains('✗'), "{out}");
    // Plain lines for a log: no cursor movement.
    assert!(!out.contains("\x1b["), "{out}");
    assert!(out.contains("where to look next"), "{out}");
    assert_no_secrets(&out);
    // Without --keep it leaves nothing behind: its database is empty again, and marked as
    // the demo's, so that the next demo takes it.
    let left = db
        .scalar_i64("SELECT count(*) FROM pg_namespace WHERE nspname IN ('core', 'mcp', 'ops')")
        .await;
    assert_eq!(left, 0, "{out}");
    assert!(out.contains("the demo cleared what it wrote"), "{out}");
    let (code, out, _) = run_demo(&db, &args, false).await;
    assert_eq!(code, Some(3), "a marked database is taken again: {out}");
    db.drop_db().await;
}

/// The demo never writes into a database that holds anything but its own data: pointed at
/// one with the product's tables and a workspace, it refuses with a sentence saying why and
/// what to do, and the database is as it was.
#[tokio::test]
async fn the_demo_refuses_a_database_that_is_not_its_own() {
    let db = TestDb::new().await;
    mcp_testkit::integrations::workspace(&db, "a customer").await;
    let args = demo_args("127.0.0.1:0", "5s");
    let (code, out, _) = run_demo(&db, &args, false).await;
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("database of its own"), "{out}");
    assert!(out.contains("1 workspace(s)"), "{out}");
    assert!(out.contains("createdb mcp_demo"), "what to do: {out}");
    let (workspaces, integrations) = (
        db.scalar_i64("SELECT count(*) FROM core.workspaces").await,
        db.scalar_i64("SELECT count(*) FROM core.integrations")
            .await,
    );
    assert_eq!((workspaces, integrations), (1, 0), "untouched");
    db.drop_db().await;
}

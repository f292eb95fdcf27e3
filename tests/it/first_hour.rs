//! A newcomer's and an operator's mistakes at the command line get clear answers: what
//! `check-config` checks, an unreachable database, a port in use, bad enqueues, quiet logs and
//! listings that say what is.

use crate::common::{cli, run_bin, TestDb};

/// `check-config` checks what `run` will need at start: a key file that is missing, or an
/// identity provider's JWKS file that is not one, makes it exit 2 naming the key (as `run`
/// would fail), where it used to print the configuration as valid.
#[tokio::test]
async fn check_config_refuses_files_run_could_not_read() {
    let dir = tempfile::tempdir().expect("dir");
    let not_jwks = dir.path().join("jwks.json");
    std::fs::write(&not_jwks, "{ not json").expect("write");
    let not_jwks = not_jwks.display().to_string();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![(
                "MCP_WORKER__VAULT__KEY_FILES",
                "[\"/nonexistent/vault.key\"]",
            )],
            "vault.key_files",
        ),
        (
            vec![
                ("MCP_WORKER__MCP__JWT_ISSUER", "https://idp.example/"),
                ("MCP_WORKER__MCP__JWKS_FILE", &not_jwks),
            ],
            "mcp.jwks_file",
        ),
    ];
    for (env, key) in cases {
        let out = run_bin(&["check-config"], &env, &["DATABASE_URL"]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {err}");
        assert!(err.contains(key), "{key}: {err}");
        assert!(out.stdout.is_empty(), "nothing printed as valid");
    }
    let ok = run_bin(&["check-config"], &[], &["DATABASE_URL"]).await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

/// A database that cannot be reached is said once, in one line: what failed (refused, no such
/// database, no such role), the URL with its password masked, and the likely fix.
#[tokio::test]
async fn an_unreachable_database_is_one_line_saying_what_to_do() {
    let port = crate::common::free_port();
    let admin = url::Url::parse(&mcp_testkit::admin_url()).expect("url");
    let host = format!(
        "{}:{}",
        admin.host_str().unwrap_or("127.0.0.1"),
        admin.port().unwrap_or(5432)
    );
    let cases = [
        (
            format!("postgres://someone:hunter2@127.0.0.1:{port}/db"),
            "connection refused",
        ),
        (
            format!("postgres://postgres:hunter2@{host}/mcp_no_such_database"),
            "createdb mcp_no_such_database",
        ),
        (
            format!("postgres://mcp_no_such_role:hunter2@{host}/postgres"),
            "createuser mcp_no_such_role",
        ),
    ];
    for (url, says) in cases {
        let out = run_bin(&["jobs", "list"], &[("DATABASE_URL", &url)], &[]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(says), "{url}: {err}");
        assert!(
            !err.contains("hunter2") && err.contains("***"),
            "masked: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(!err.contains("timed out"), "{err}");
    }
}

/// A port in use is the first thing `run` says, before it touches the database, naming the
/// process that holds it and what to do.
#[tokio::test]
async fn a_port_in_use_is_said_first_naming_its_holder() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let admin = format!("127.0.0.1:{}", crate::common::free_port());
    // A database nothing listens on: had the daemon tried it first, it would say so instead.
    let db = format!("postgres://x@127.0.0.1:{}/x", crate::common::free_port());
    let args = [
        "run",
        "--listen",
        addr.as_str(),
        "--admin-listen",
        admin.as_str(),
    ];
    let out = run_bin(&args, &[("DATABASE_URL", &db)], &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(
        err.contains(&format!("process {}", std::process::id())),
        "the holder is named: {err}"
    );
    assert!(err.contains("--listen"), "what to do: {err}");
    assert!(
        !err.contains("connection refused"),
        "the port comes first: {err}"
    );
    drop(taken);
}

/// Starting on a database already migrated logs nothing about it: PostgreSQL's NOTICE that the
/// migrations table exists is not an operator's business.
#[tokio::test]
async fn a_second_migrate_logs_no_notice() {
    let db = TestDb::empty().await;
    for round in 0..2 {
        let set = [
            ("DATABASE_URL", db.url.as_str()),
            ("MCP_WORKER__LOG__LEVEL", "info"),
        ];
        let out = run_bin(&["migrate"], &set, &["RUST_LOG"]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(
            !err.contains("already exists, skipping"),
            "round {round}: {err}"
        );
    }
    db.drop_db().await;
}

/// `enqueue` checks its input before the database: each mistake exits 2 naming the valid
/// values, and no job enters the queue; `jobs list --state` names the states.
#[tokio::test]
async fn bad_enqueues_are_usage_errors_naming_what_is_valid() {
    let db = TestDb::new().await;
    let cases: [(&[&str], &str); 6] = [
        (&["enqueue", "nope"], "the kinds are health_check"),
        (
            &["enqueue", "noop", "--payload", "[1,2]"],
            "expected object",
        ),
        (
            &["enqueue", "noop", "--payload", "{\"sleep_ms\": \"soon\"}"],
            "payload.sleep_ms",
        ),
        (
            &["enqueue", "noop", "--priority", "99999"],
            "between -32768 and 32767",
        ),
        (
            &["enqueue", "noop", "--max-attempts", "0"],
            "between 1 and 32767",
        ),
        (
            &["jobs", "list", "--state", "done"],
            "the states are available",
        ),
    ];
    for (args, says) in cases {
        let out = run_bin(args, &[("DATABASE_URL", &db.url)], &[]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM mcp.sync_jobs")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(jobs, 0, "nothing entered the queue");
    db.drop_db().await;
}

/// `jobs list` shows a completed job without the error of an attempt before the one that
/// succeeded (`jobs show` keeps every attempt's error).
#[tokio::test]
async fn a_completed_job_is_listed_without_an_old_error() {
    let db = TestDb::new().await;
    let id: i64 = sqlx::query_scalar("SELECT mcp.enqueue_job('noop', '{}')")
        .fetch_one(&db.pool)
        .await
        .expect("job");
    sqlx::query(
        "UPDATE mcp.sync_jobs SET state = 'completed', attempt = 2, attempted_at = now(), \
                finished_at = now(), last_error = 'attempt 1: the earlier failure' \
         WHERE id = $1",
    )
    .bind(id)
    .execute(&db.pool)
    .await
    .expect("completed after a failure");
    let (ok, out, err) = cli(&db.url, &["jobs", "list"]).await;
    assert!(ok, "{err}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(&id.to_string()))
        .expect("the job is listed");
    assert!(line.contains("completed"), "{line}");
    assert!(!line.contains("earlier failure"), "{line}");
    db.drop_db().await;
}

/// `check-config` shows durations as a person writes them (90 days is `90d`, not humantime's
/// `2months 29days 2h 52m 48s`), and a TOML mistake by its line and column.
#[tokio::test]
async fn check_config_prints_durations_exactly_and_places_toml_errors() {
    let days = [("MCP_WORKER__RETENTION__COMPLETED", "90days")];
    let out = run_bin(&["check-config"], &days, &["DATABASE_URL"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("completed = \"90d\""), "{text}");
    assert!(!text.contains("months"), "{text}");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[worker]\nconcurrency = 4\nlease = \n").expect("write");
    let file = file.display().to_string();
    let out = run_bin(&["--config", &file, "check-config"], &[], &["DATABASE_URL"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("line 3, column 9"), "{err}");
}

/// A pool the server can never fill is refused at start, naming the key and the server's
/// figures, and nothing is migrated; one larger than the connections free now starts with a
/// warning.
#[tokio::test]
async fn a_pool_larger_than_the_server_gives_is_refused_at_start() {
    let db = TestDb::empty().await;
    let (max, reserved): (i64, i64) = sqlx::query_as(
        "SELECT current_setting('max_connections')::int8, \
                current_setting('superuser_reserved_connections')::int8",
    )
    .fetch_one(&db.pool)
    .await
    .expect("server settings");
    // The pool and the readiness probe's connection: one more than the server allows.
    let too_many = (max - reserved).to_string();
    let set = [
        ("DATABASE_URL", db.url.as_str()),
        ("MCP_WORKER__DATABASE__MAX_CONNECTIONS", too_many.as_str()),
    ];
    let out = run_bin(&["migrate"], &set, &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("database.max_connections ({too_many})"))
            && err.contains(&format!("max_connections {max} less {reserved} reserved")),
        "{err}"
    );
    let migrated: bool = sqlx::query_scalar("SELECT to_regclass('mcp.sync_jobs') IS NOT NULL")
        .fetch_one(&db.pool)
        .await
        .expect("catalog");
    assert!(!migrated, "refused, yet migrated");

    // Exactly what the server allows, with this test's own connection in use: it starts, and
    // says it may wait.
    let fits = (max - reserved - 1).to_string();
    let set = [
        ("DATABASE_URL", db.url.as_str()),
        ("MCP_WORKER__DATABASE__MAX_CONNECTIONS", fits.as_str()),
    ];
    let out = run_bin(&["migrate"], &set, &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("fewer free connections"), "{err}");
    db.drop_db().await;
}

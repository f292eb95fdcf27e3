//! The listeners against clients that try to exhaust them, through the real daemon: headers
//! that never finish are cut off near `http.header_timeout` and never served; a body that never
//! finishes is 408 after `http.request_timeout` with nothing written; connections over
//! `http.max_connections` are refused while one under it is served once they close; the
//! management API is served on `http.admin_listen` only; a daemon that may not open enough
//! files refuses to start. Timeouts are small here and bounds generous: only "much later than
//! configured" fails.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{bin, parse_metrics, Daemon, TestDb};

/// Far above every timeout configured here: a connection still open after it was not cut off.
const GENEROUS: Duration = Duration::from_secs(5);

/// Reads until the server closes the connection (or resets it), at most `GENEROUS`; returns
/// what it sent and when it closed, or None when it was still open.
async fn read_until_closed(s: &mut TcpStream) -> Option<(String, Duration)> {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + GENEROUS).into(), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    Some((
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    ))
}

#[tokio::test]
async fn partial_headers_are_cut_off_near_the_header_timeout_and_never_served() {
    let db = TestDb::new().await;
    let daemon = Daemon::start(
        &db.url,
        &[
            ("MCP_WORKER__HTTP__HEADER_TIMEOUT", "300ms"),
            ("MCP_WORKER__HTTP__REQUEST_TIMEOUT", "10s"),
        ],
    )
    .await;
    // A slow client: the request line, then one more header line every 100 ms, never the
    // blank line that ends them.
    let started = Instant::now();
    let s = TcpStream::connect(("127.0.0.1", daemon.port))
        .await
        .expect("connect");
    let (mut read, mut write) = s.into_split();
    let dripping = tokio::spawn(async move {
        let _ = write
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await;
        for i in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if write
                .write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = loop {
        match tokio::time::timeout_at((started + GENEROUS).into(), read.read(&mut buf)).await {
            Err(_) => break None,
            Ok(Ok(0)) | Ok(Err(_)) => break Some(started.elapsed()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    };
    dripping.abort();
    let took = closed.expect("the slow client was still connected after 5 s");
    assert!(took >= Duration::from_millis(250), "cut off after {took:?}");
    assert!(
        got.is_empty(),
        "never served: {}",
        String::from_utf8_lossy(&got)
    );
    // A prompt client on the same listener is served.
    let (status, _) = crate::common::http_get(daemon.port, "/healthz")
        .await
        .expect("healthz");
    assert_eq!(status, 200);
    daemon.signal(libc::SIGTERM);
    daemon.wait(Duration::from_secs(20)).await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_408_and_nothing_is_written() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().expect("tmp");
    let key_file = dir.path().join("k1.key");
    mcp_daemon::vault::Vault::write_new_key_file(&key_file).expect("key");
    let daemon = Daemon::start(
        &db.url,
        &[
            ("MCP_WORKER__HTTP__REQUEST_TIMEOUT", "1s"),
            (
                "MCP_WORKER__VAULT__KEY_FILES",
                &format!("[{:?}]", key_file.display().to_string()),
            ),
        ],
    )
    .await;
    // Notion's unsigned verification request is stored (sealed) once it has arrived whole.
    let body = r#"{"verification_token":"secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"}"#;
    let head = format!(
        "POST /webhooks/notion HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    let mut s = TcpStream::connect(("127.0.0.1", daemon.port))
        .await
        .expect("connect");
    s.write_all(head.as_bytes()).await.expect("headers");
    s.write_all(&body.as_bytes()[..20]).await.expect("part");
    let (answer, took) = read_until_closed(&mut s)
        .await
        .expect("no answer within 5 s to a body that stopped arriving");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took >= Duration::from_millis(500), "408 after {took:?}");
    // The rest, too late: the connection is gone and nothing is stored.
    let _ = s.write_all(&body.as_bytes()[20..]).await;
    let stored = || async {
        db.scalar_i64("SELECT count(*) FROM mcp.notion_verification")
            .await
            + db.scalar_i64("SELECT count(*) FROM mcp.webhook_events")
                .await
    };
    // The same request sent promptly, after it, is stored and answered 200: had the late one
    // been kept, this one would find a token there and be answered 409.
    let mut s = TcpStream::connect(("127.0.0.1", daemon.port))
        .await
        .expect("connect");
    s.write_all(format!("{head}{body}").as_bytes())
        .await
        .expect("request");
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).await.expect("answer");
    assert_eq!(&buf, b"HTTP/1.1 200");
    assert_eq!(stored().await, 1);
    daemon.signal(libc::SIGTERM);
    daemon.wait(Duration::from_secs(20)).await;
    db.drop_db().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_and_one_under_it_is_served_once_they_close() {
    let db = TestDb::new().await;
    let daemon = Daemon::start(&db.url, &[("MCP_WORKER__HTTP__MAX_CONNECTIONS", "3")]).await;
    // Three connections that send nothing hold the listener's three slots (accepted in order,
    // before the fourth).
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(
            TcpStream::connect(("127.0.0.1", daemon.port))
                .await
                .expect("connect"),
        );
    }
    for _ in 0..2 {
        let mut s = TcpStream::connect(("127.0.0.1", daemon.port))
            .await
            .expect("connect");
        let _ = s
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let (answer, _) = read_until_closed(&mut s)
            .await
            .expect("a connection over the cap was kept open");
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 503"),
            "over the cap and served: {answer}"
        );
    }
    drop(idle);
    // Once they have closed, a request is served.
    let started = Instant::now();
    let metrics = loop {
        if let Ok((200, text)) = crate::common::http_get(daemon.port, "/metrics").await {
            break text;
        }
        assert!(
            started.elapsed() < GENEROUS,
            "not served after the others closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let m = parse_metrics(&metrics);
    let refused = m
        .get("mcp_http_connections_refused_total{listener=\"public\"}")
        .copied();
    assert!(refused.is_some_and(|n| n >= 2.0), "refused: {refused:?}");
    assert_eq!(
        m.get("mcp_http_connections_refused_total{listener=\"admin\"}"),
        Some(&0.0)
    );
    assert!(m.contains_key("mcp_http_connections{listener=\"public\"}"));
    daemon.signal(libc::SIGTERM);
    daemon.wait(Duration::from_secs(20)).await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_management_api_is_served_on_the_admin_listener_only() {
    let db = TestDb::new().await;
    let token = "gateway-token-0123456789";
    let daemon = Daemon::start(
        &db.url,
        &[
            ("MCP_WORKER__HTTP__API_TOKEN", token),
            (
                "MCP_WORKER__OAUTH__REDIRECT_BASE",
                "https://gw.example.test",
            ),
        ],
    )
    .await;
    let ws = mcp_daemon::integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    let id = mcp_testkit::integrations::bare_active(
        &db.pool,
        ws,
        mcp_platforms::connectors::Platform::Fireflies,
    )
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let call = |port: u16, method: &str, path: &str| {
        let url = format!("http://127.0.0.1:{port}{path}");
        let req = match method {
            "POST" => client.post(url).json(&serde_json::json!({})),
            _ => client.get(url),
        };
        let req = req.bearer_auth(token);
        async move {
            let r = req.send().await.expect("request");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let management = [
        ("GET", format!("/integrations/{id}"), 200),
        ("GET", format!("/integrations/{id}/webhooks"), 200),
        ("GET", "/notifications/endpoints".to_string(), 200),
        ("GET", "/notion/verification-token".to_string(), 404),
        // No workspace named: the gateway must name one.
        ("POST", "/integrations/otter".to_string(), 400),
        ("POST", format!("/integrations/{id}/disconnect"), 200),
    ];
    for (method, path, _) in &management {
        let (status, body) = call(daemon.port, method, path).await;
        assert_eq!(
            status, 404,
            "{method} {path} on the public listener: {body}"
        );
        assert!(body.is_empty(), "{method} {path}: {body}");
    }
    for (method, path, admin_status) in &management {
        let (status, body) = call(daemon.admin_port, method, path).await;
        assert_eq!(status, *admin_status, "{method} {path}: {body}");
    }
    // The public routes are not on the management listener.
    for path in ["/metrics", "/readyz", "/healthz"] {
        let (status, _) = call(daemon.admin_port, "GET", path).await;
        assert_eq!(status, 404, "{path}");
        let (status, _) = call(daemon.port, "GET", path).await;
        assert_eq!(status, 200, "{path}");
    }
    let (status, _) = call(daemon.admin_port, "POST", "/webhooks/slack").await;
    assert_eq!(status, 404);
    daemon.signal(libc::SIGTERM);
    daemon.wait(Duration::from_secs(20)).await;

    // One address for both is refused, naming the key.
    let out = tokio::process::Command::new(bin())
        .arg("check-config")
        .env_remove("MCP_WORKER_CONFIG")
        .env("MCP_WORKER__HTTP__ADMIN_LISTEN", "127.0.0.1:9464")
        .output()
        .await
        .expect("check-config");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("http.admin_listen"), "{err}");
    let port = crate::common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let out = tokio::process::Command::new(bin())
        .args(["run", "--listen", &addr, "--admin-listen", &addr])
        .env_remove("MCP_WORKER_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .env("DATABASE_URL", &db.url)
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("http.admin_listen"), "{err}");
    db.drop_db().await;
}

/// `mcp-worker run` under `ulimit -n <files>` (which lowers the hard limit too, so the daemon
/// cannot raise it), with `env`.
fn run_with_file_limit(
    db: &TestDb,
    files: u32,
    ports: (u16, u16),
    env: &[(&str, &str)],
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -n {files} && exec {} run --listen 127.0.0.1:{} --admin-listen 127.0.0.1:{}",
            bin(),
            ports.0,
            ports.1
        ))
        .env_remove("MCP_WORKER_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .env("DATABASE_URL", &db.url)
        .env("MCP_WORKER__LOG__LEVEL", "warn")
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

#[tokio::test]
async fn a_daemon_that_may_not_open_enough_files_refuses_to_start_naming_the_keys() {
    let db = TestDb::new().await;
    let ports = (crate::common::free_port(), crate::common::free_port());
    // The defaults need 512 + 64 + 10 + 256 files.
    let out = run_with_file_limit(&db, 400, ports, &[])
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "http.max_connections",
        "http.admin_max_connections",
        "database.max_connections",
        "RLIMIT_NOFILE",
    ] {
        assert!(err.contains(key), "{key} not named: {err}");
    }
    // Lower caps fit: the daemon starts.
    let mut child = run_with_file_limit(
        &db,
        400,
        ports,
        &[
            ("MCP_WORKER__HTTP__MAX_CONNECTIONS", "64"),
            ("MCP_WORKER__HTTP__ADMIN_MAX_CONNECTIONS", "8"),
        ],
    )
    // Its expected warning (no vault key) is not the test run's business.
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("spawn");
    let started = Instant::now();
    loop {
        if let Ok((200, _)) = crate::common::http_get(ports.0, "/readyz").await {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the daemon exited: {status}");
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
    }
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exit in time")
        .expect("wait");
    assert!(status.success(), "{status}");
    db.drop_db().await;
}

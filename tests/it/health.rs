//! The health monitor end to end: a real worker, a real database, the sandbox as the platforms.

use std::time::Duration;

use mcp_daemon::config::{Config, KindOverride};
use mcp_daemon::integrations;
use mcp_platforms::connectors::Platform;
use mcp_sandbox::{self as sandbox, FaultKind};
use uuid::Uuid;

use crate::common::{
    finish, http_get, parse_metrics, start_configured_worker, test_config, Daemon, TestDb,
};

fn config(db: &TestDb, sb: &sandbox::Sandbox) -> Config {
    let mut c = test_config(&db.url);
    c.platforms = sb.config_overrides();
    c.http_client.timeout = Duration::from_millis(500);
    // Quick retries so that a test sees several attempts without sleeping for the real backoff.
    c.kinds.insert(
        "health_check".into(),
        KindOverride {
            max_attempts: Some(10),
            backoff_base: Some(Duration::from_millis(10)),
            backoff_max: Some(Duration::from_millis(20)),
            timeout: None,
            concurrency: None,
        },
    );
    c
}

use mcp_testkit::integrations::active as seed;

async fn state_of(db: &TestDb, id: Uuid) -> (String, String, i32) {
    sqlx::query_as(
        "SELECT state, circuit_breaker_state, consecutive_failures FROM core.integrations WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("state")
}

/// A test database, the sandbox, a worker config aimed at it, and the workspace `acme`.
async fn setup() -> (TestDb, sandbox::Sandbox, Config, Uuid) {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let cfg = config(&db, &sb);
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    (db, sb, cfg, ws)
}

/// A health check of `id` asked for now and waited for until it is done; the job.
async fn check_done(db: &TestDb, id: Uuid) -> i64 {
    let job = check_now(db, id).await;
    wait_job_done(db, job).await;
    job
}

async fn check_now(db: &TestDb, id: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT mcp.enqueue_job('health_check', jsonb_build_object('integration_id', $1::uuid))",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("enqueue check")
}

async fn wait_job_done(db: &TestDb, job: i64) {
    db.wait_until(
        &format!("SELECT state IN ('completed', 'discarded') FROM mcp.sync_jobs WHERE id = {job}"),
        Duration::from_secs(20),
    )
    .await;
}

#[tokio::test]
async fn sweep_checks_all_13_platforms_and_applies_each_outcome() {
    let (db, sb, cfg, ws) = setup().await;
    let mut ids = Vec::new();
    for p in Platform::ALL {
        ids.push((p, seed(&db, &sb, ws, p, "acme").await));
    }
    sb.fault(Platform::Slack, FaultKind::Revoked, None, None);
    sb.fault(Platform::Zoom, FaultKind::Unauthorized, None, None);
    sb.fault(
        Platform::Notion,
        FaultKind::RateLimitSeconds,
        None,
        Some(120),
    );
    sb.fault(Platform::Discord, FaultKind::ServerError, Some(1), None);
    let worker = start_configured_worker(&db, cfg.clone()).await;
    db.exec("SELECT mcp.enqueue_job('health_sweep', '{\"spread_s\": 0}')")
        .await;
    db.wait_until(
        "SELECT count(*) = 13 FROM mcp.sync_jobs WHERE kind = 'health_check' \
         AND (state = 'completed' OR (state = 'scheduled' AND attempt = 0))",
        Duration::from_secs(30),
    )
    .await;
    for (p, id) in &ids {
        let (state, breaker, _) = state_of(&db, *id).await;
        let want = match p {
            Platform::Slack => "REVOKED",
            Platform::Zoom => "EXPIRED",
            Platform::Notion => "DEGRADED",
            _ => "ACTIVE",
        };
        assert_eq!(state, want, "{p}");
        assert_eq!(breaker, "closed", "{p}");
    }
    // The rate-limited check sleeps until the platform's Retry-After, attempt not spent.
    let (attempt, wait_s): (i16, f64) = sqlx::query_as(
        "SELECT attempt, EXTRACT(EPOCH FROM run_at - now())::float8 FROM mcp.sync_jobs \
         WHERE kind = 'health_check' AND integration_id = $1",
    )
    .bind(
        ids.iter()
            .find(|(p, _)| *p == Platform::Notion)
            .map(|x| x.1),
    )
    .fetch_one(&db.pool)
    .await
    .expect("snoozed");
    assert_eq!(attempt, 0);
    assert!((100.0..=121.0).contains(&wait_s), "snoozed for {wait_s} s");
    // Discord failed once (ERROR), then its retry passed (ACTIVE again).
    let discord = ids
        .iter()
        .find(|(p, _)| *p == Platform::Discord)
        .map(|x| x.1);
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT error_type FROM mcp.integration_errors WHERE integration_id = $1",
    )
    .bind(discord)
    .fetch_all(&db.pool)
    .await
    .expect("errors");
    assert_eq!(kinds, vec!["server_error".to_string()]);
    let moves: Vec<String> = sqlx::query_scalar(
        "SELECT payload->>'to' FROM ops.events WHERE integration_id = $1 \
         AND event_type = 'integration.state_changed' ORDER BY id",
    )
    .bind(discord)
    .fetch_all(&db.pool)
    .await
    .expect("events");
    assert_eq!(moves, ["CONNECTED", "ACTIVE", "ERROR", "ACTIVE"]);
    let checks = db
        .scalar_i64("SELECT count(*) FROM mcp.health_checks")
        .await;
    assert_eq!(checks, 14, "13 checks and one retry");
    finish(db, worker).await;
}

#[tokio::test]
async fn breaker_stops_calls_after_five_failures_and_a_probe_closes_it() {
    let (db, sb, cfg, ws) = setup().await;
    let id = seed(&db, &sb, ws, Platform::Discord, "acme").await;
    sb.fault(Platform::Discord, FaultKind::ServerError, None, None);
    let worker = start_configured_worker(&db, cfg.clone()).await;

    let job = check_done(&db, id).await;
    assert_eq!(state_of(&db, id).await, ("ERROR".into(), "open".into(), 5));
    assert_eq!(
        sb.calls(Platform::Discord),
        5,
        "retries stop once the breaker opens"
    );
    let (state, attempt): (String, i16) =
        sqlx::query_as("SELECT state, attempt FROM mcp.sync_jobs WHERE id = $1")
            .bind(job)
            .fetch_one(&db.pool)
            .await
            .expect("job");
    assert_eq!((state.as_str(), attempt), ("completed", 5));

    // Open: a new check makes no call.
    check_done(&db, id).await;
    assert_eq!(sb.calls(Platform::Discord), 5);

    // Five minutes later (the clock moved by data), the platform is back: one probe closes it.
    sb.clear_faults(None);
    db.exec(&format!(
        "UPDATE core.integrations SET circuit_breaker_opened_at = now() - interval '6 minutes' WHERE id = '{id}'"
    ))
    .await;
    check_done(&db, id).await;
    assert_eq!(sb.calls(Platform::Discord), 6);
    assert_eq!(
        state_of(&db, id).await,
        ("ACTIVE".into(), "closed".into(), 0)
    );
    finish(db, worker).await;
}

#[tokio::test]
async fn a_tampered_credential_moves_the_integration_to_error_without_a_call() {
    let (db, sb, cfg, ws) = setup().await;
    let a = seed(&db, &sb, ws, Platform::Gmail, "a").await;
    let b = seed(&db, &sb, ws, Platform::Gmail, "b").await;
    // Copy b's ciphertext into a's row: bound to b, it must not decrypt for a.
    db.exec(&format!(
        "UPDATE mcp.oauth_tokens SET access_token_ct = (SELECT access_token_ct FROM mcp.oauth_tokens WHERE integration_id = '{b}') WHERE integration_id = '{a}'"
    ))
    .await;
    let worker = start_configured_worker(&db, cfg.clone()).await;
    let job = check_done(&db, a).await;
    let (state, reason): (String, String) =
        sqlx::query_as("SELECT state, state_reason FROM core.integrations WHERE id = $1")
            .bind(a)
            .fetch_one(&db.pool)
            .await
            .expect("state");
    assert_eq!(state, "ERROR");
    assert!(reason.contains("failed authentication"), "{reason}");
    assert_eq!(sb.calls(Platform::Gmail), 0);
    let last_error: String =
        sqlx::query_scalar("SELECT last_error FROM mcp.sync_jobs WHERE id = $1")
            .bind(job)
            .fetch_one(&db.pool)
            .await
            .expect("job");
    assert!(last_error.contains("failed authentication"), "{last_error}");
    finish(db, worker).await;
}

#[tokio::test]
async fn run_demo_checks_13_platforms_against_the_sandbox_and_metrics_move() {
    let db = TestDb::empty().await;
    let daemon = Daemon::start_demo(&db.url, &[]).await;
    db.wait_until(
        "SELECT count(*) = 13 FROM mcp.v_integration_health_summary WHERE checks_24h > 0",
        Duration::from_secs(20),
    )
    .await;
    db.wait_until(
        "SELECT state = 'EXPIRED' FROM core.integrations WHERE platform = 'zoom'",
        Duration::from_secs(10),
    )
    .await;
    let start = std::time::Instant::now();
    loop {
        let (status, body) = http_get(daemon.port, "/metrics").await.expect("metrics");
        assert_eq!(status, 200);
        let m = parse_metrics(&body);
        let healthy = m
            .get("mcp_health_checks_total{platform=\"gmail\",outcome=\"healthy\"}")
            .copied()
            .unwrap_or(0.0);
        let expired = m
            .get("mcp_integrations{platform=\"zoom\",state=\"EXPIRED\"}")
            .copied()
            .unwrap_or(0.0);
        if healthy >= 1.0 && expired == 1.0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "metrics did not move: {healthy} {expired}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The demo's Slack webhook takes a signed event, as the README's curl example does.
    let body = br#"{"type":"event_callback","event_id":"EvDemo1","event":{"type":"message"}}"#;
    let path = format!("/webhooks/slack/{}", mcp_sandbox::demo::DEMO_SLACK_WEBHOOK);
    let headers = mcp_sandbox::sign_webhook(
        Platform::Slack,
        mcp_sandbox::demo::DEMO_SLACK_SECRET.as_bytes(),
        body,
        chrono::Utc::now().timestamp(),
        &path,
    );
    let client = reqwest::Client::new();
    let mut req = client
        .post(format!("http://127.0.0.1:{}{path}", daemon.port))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.expect("webhook delivery");
    assert_eq!(resp.status().as_u16(), 200);
    // The integration endpoints answer with the demo's bearer token.
    let slack: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM core.integrations WHERE platform = 'slack'")
            .fetch_one(&db.pool)
            .await
            .expect("slack integration");
    let status = client
        .get(format!(
            "http://127.0.0.1:{}/integrations/{slack}",
            daemon.admin_port
        ))
        .bearer_auth(mcp_sandbox::demo::DEMO_API_TOKEN)
        .send()
        .await
        .expect("status")
        .status();
    assert_eq!(status.as_u16(), 200);
    daemon.signal(libc::SIGTERM);
    daemon.wait(Duration::from_secs(20)).await;
    db.drop_db().await;
}

//! Notifications end to end: a receiver on loopback that checks the Standard Webhooks signature
//! on its own (the reference scheme written out here, not the daemon's code), the real worker
//! delivering `notify_deliver` jobs, and critical changes made by plain SQL.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use uuid::Uuid;

use crate::common::{finish, start_configured_worker, test_config, test_vault, transition, TestDb};
use mcp_daemon::notify::endpoints as ep;

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
struct Seen {
    id: String,
    timestamp: String,
    signatures: Vec<String>,
    body: String,
}

#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Statuses to answer, in turn; 200 once they are used up.
    script: Arc<Mutex<Vec<u16>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    r.seen.lock().expect("lock").push(Seen {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signatures: h("webhook-signature")
            .split(' ')
            .map(str::to_string)
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let mut script = r.script.lock().expect("lock");
    let code = if script.is_empty() {
        200
    } else {
        script.remove(0)
    };
    StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
}

async fn receiver(script: Vec<u16>) -> (String, Receiver) {
    let r = Receiver {
        seen: Arc::default(),
        script: Arc::new(Mutex::new(script)),
    };
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), r)
}

/// The Standard Webhooks check, as a receiver would write it: the secret's bytes are the base64
/// after `whsec_`; the signed content is `id.timestamp.body`; any `v1,` signature may match.
fn verifies(secret: &str, s: &Seen) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("secret base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{}.{}.{}", s.id, s.timestamp, s.body).as_bytes());
    let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    s.signatures.iter().any(|sig| sig == &format!("v1,{want}"))
}

async fn wait_seen(r: &Receiver, n: usize, within: Duration) -> Vec<Seen> {
    let deadline = Instant::now() + within;
    loop {
        let seen = r.seen.lock().expect("lock").clone();
        if seen.len() >= n {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} deliveries after {within:?}",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A test database with the workspace `n` and an ACTIVE Slack integration in it.
async fn setup() -> (TestDb, Uuid, Uuid) {
    let db = TestDb::new().await;
    let ws = mcp_daemon::integrations::create_workspace(&db.pool, "n")
        .await
        .expect("ws");
    let id = active_integration(&db, ws).await;
    (db, ws, id)
}

async fn active_integration(db: &TestDb, ws: Uuid) -> Uuid {
    mcp_testkit::integrations::bare_active(&db.pool, ws, mcp_platforms::connectors::Platform::Slack)
        .await
}

/// How many notifications have been recorded.
const NOTIFICATIONS: &str = "SELECT count(*) FROM mcp.notifications";

/// How many deliveries have been queued.
const DELIVERIES: &str = "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'notify_deliver'";

/// A notification endpoint at `url` (of `ws`, or of every workspace) for the critical types and
/// `extra`.
async fn add_endpoint(db: &TestDb, url: &str, ws: Option<Uuid>, extra: &[String]) {
    ep::add(&db.pool, &test_vault(), url, ws, extra)
        .await
        .expect("add");
}

/// The data of the (one) notification of type `t`.
async fn data_of(db: &TestDb, t: &str) -> Value {
    sqlx::query_scalar("SELECT data FROM mcp.notifications WHERE type = $1")
        .bind(t)
        .fetch_one(&db.pool)
        .await
        .expect("notification")
}

fn config(db: &TestDb) -> mcp_daemon::config::Config {
    let mut c = test_config(&db.url);
    c.notify.allow_private = true;
    c
}

#[tokio::test]
async fn a_change_made_by_sql_is_delivered_once_with_one_id_across_a_retry() {
    let (db, ws, id) = setup().await;
    let (url, r) = receiver(vec![500]).await;
    let (_, secret) = ep::add(&db.pool, &test_vault(), &url, Some(ws), &[])
        .await
        .expect("add");
    // A change that rolls back notifies nobody.
    let mut tx = db.pool.begin().await.expect("tx");
    transition(&mut *tx, id, "ERROR", "rolled back").await;
    tx.rollback().await.expect("rollback");
    assert_eq!(db.scalar_i64(NOTIFICATIONS).await, 0);
    // A critical change by plain SQL: one notification, one job, in its transaction.
    transition(&db.pool, id, "ERROR", "the platform is down").await;
    assert_eq!(db.scalar_i64(DELIVERIES).await, 1);
    let worker = start_configured_worker(&db, config(&db)).await;
    // The 500, then (about 5 s later) the 200.
    let seen = wait_seen(&r, 2, Duration::from_secs(20)).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].id, seen[1].id, "the same webhook-id on the retry");
    for s in &seen {
        assert!(verifies(secret.expose(), s), "signature of {s:?}");
    }
    let body: Value = serde_json::from_str(&seen[1].body).expect("json");
    assert_eq!(body["type"], "integration.state_changed");
    assert_eq!(body["data"]["from"], "ACTIVE");
    assert_eq!(body["data"]["to"], "ERROR");
    assert_eq!(body["data"]["reason"], "the platform is down");
    assert_eq!(body["data"]["platform"], "slack");
    assert_eq!(body["data"]["integration_id"], id.to_string());
    assert_eq!(body["data"]["workspace_id"], ws.to_string());
    assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(!seen[1].body.contains("whsec_"));
    // A timestamp signed now, and the job completed on its second attempt.
    let ts: i64 = seen[1].timestamp.parse().expect("ts");
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
    db.wait_until(
        "SELECT EXISTS (SELECT 1 FROM mcp.sync_jobs WHERE kind = 'notify_deliver' AND state = 'completed')",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        db.scalar_i64("SELECT attempt::bigint FROM mcp.sync_jobs WHERE kind = 'notify_deliver'")
            .await,
        2
    );
    // Another workspace's change is not this endpoint's.
    let other = mcp_daemon::integrations::create_workspace(&db.pool, "o")
        .await
        .expect("ws");
    let id2 = active_integration(&db, other).await;
    transition(&db.pool, id2, "EXPIRED", "x").await;
    assert_eq!(db.scalar_i64(DELIVERIES).await, 1);
    finish(db, worker).await;
}

#[tokio::test]
async fn a_410_disables_the_endpoint() {
    let (db, _, id) = setup().await;
    let (url, r) = receiver(vec![410]).await;
    let (endpoint, _) = ep::add(&db.pool, &test_vault(), &url, None, &[])
        .await
        .expect("add");
    let worker = start_configured_worker(&db, config(&db)).await;
    transition(&db.pool, id, "DEGRADED", "slow").await;
    wait_seen(&r, 1, Duration::from_secs(10)).await;
    db.wait_until(
        &format!(
            "SELECT NOT enabled AND disabled_reason LIKE '%410%' FROM mcp.notification_endpoints \
             WHERE id = '{}'",
            endpoint.id
        ),
        Duration::from_secs(5),
    )
    .await;
    // Disabled: the next change makes no delivery.
    transition(&db.pool, id, "ERROR", "down").await;
    assert_eq!(db.scalar_i64(DELIVERIES).await, 1);
    finish(db, worker).await;
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_and_private_destinations_are_refused() {
    let db = TestDb::new().await;
    let (url, r) = receiver(vec![]).await;
    let vault = test_vault();
    let (endpoint, old) = ep::add(&db.pool, &vault, &url, None, &[])
        .await
        .expect("add");
    let new = ep::rotate_secret(&db.pool, &vault, &config(&db).notify, endpoint.id)
        .await
        .expect("rotate");
    assert_ne!(old.expose(), new.expose());
    let worker = start_configured_worker(&db, config(&db)).await;
    ep::test(&db.pool, endpoint.id).await.expect("test");
    let seen = wait_seen(&r, 1, Duration::from_secs(10)).await;
    assert_eq!(seen[0].signatures.len(), 2, "{:?}", seen[0].signatures);
    assert!(verifies(old.expose(), &seen[0]) && verifies(new.expose(), &seen[0]));
    let body: Value = serde_json::from_str(&seen[0].body).expect("json");
    assert_eq!(body["type"], "notification.test");
    worker.shutdown().await;

    // Without allow_private, a loopback destination is refused before any request.
    let strict = mcp_daemon::notify::Deliverer::new(&mcp_daemon::notify::NotifyConfig::default())
        .expect("client");
    let n: Uuid = sqlx::query_scalar("SELECT id FROM mcp.notifications LIMIT 1")
        .fetch_one(&db.pool)
        .await
        .expect("notification");
    let out = strict
        .deliver(&db.pool, &vault, n, endpoint.id)
        .await
        .expect("deliver");
    assert!(
        matches!(&out, mcp_daemon::notify::Delivery::Gone(why) if why.contains("private")),
        "{out:?}"
    );
    assert_eq!(r.seen.lock().expect("lock").len(), 1);
    db.drop_db().await;
}

#[tokio::test]
async fn breakers_and_jobs_that_fail_for_good_are_critical_events() {
    let (db, _, id) = setup().await;
    add_endpoint(&db, "https://receiver.example.test/hook", None, &[]).await;
    sqlx::query("UPDATE core.integrations SET circuit_breaker_state = 'open' WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .expect("open");
    sqlx::query("UPDATE core.integrations SET circuit_breaker_state = 'closed' WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .expect("close");
    let job: i64 = sqlx::query_scalar(
        "SELECT mcp.enqueue_job('token_refresh', jsonb_build_object('integration_id', $1::uuid))",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("job");
    // Its last attempt's lease runs out: the rescuer discards it, and token_refresh's hook on
    // that outcome records the event in the same transaction.
    let catalog = mcp_handlers::builtin_catalog();
    let queue = crate::discard_hooks::queue(&db, catalog);
    let hooks = mcp_handlers::registry().discard_hooks();
    crate::discard_hooks::discard_by_rescue(&db, &queue, &hooks, job).await;
    let types: Vec<String> =
        sqlx::query_scalar("SELECT type FROM mcp.notifications ORDER BY created_at, type")
            .fetch_all(&db.pool)
            .await
            .expect("types");
    assert_eq!(
        types,
        [
            "integration.breaker_opened",
            "integration.breaker_closed",
            "token.refresh_failed"
        ]
    );
    let data = data_of(&db, "token.refresh_failed").await;
    assert_eq!(
        data["error"],
        "lease expired: worker a-worker-that-died did not finish attempt 1"
    );
    assert_eq!(data["job_id"], job);
    assert_eq!(data["platform"], "slack");
    db.drop_db().await;
}

#[tokio::test]
async fn sync_completed_is_opt_in() {
    let db = TestDb::new().await;
    let sb = mcp_sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let ws = mcp_daemon::integrations::create_workspace(&db.pool, "n")
        .await
        .expect("ws");
    let id = mcp_testkit::integrations::active(
        &db,
        &sb,
        ws,
        mcp_platforms::connectors::Platform::Outlook,
        "acme",
    )
    .await;
    let mut c = config(&db);
    c.platforms = sb.config_overrides();
    let sync_once = || async {
        use mcp_daemon::kinds::{Kind, Sync};
        Sync { integration_id: id }
            .enqueue(&db.pool)
            .await
            .expect("enqueue");
    };
    let syncs_done = |n: i64| {
        format!(
            "SELECT count(*) >= {n} FROM mcp.sync_jobs WHERE kind = 'sync' AND state = 'completed'"
        )
    };
    // An endpoint of the critical types only: a sync records nothing.
    add_endpoint(&db, "https://receiver.example.test/a", None, &[]).await;
    let worker = start_configured_worker(&db, c.clone()).await;
    sync_once().await;
    db.wait_until(&syncs_done(1), Duration::from_secs(20)).await;
    assert_eq!(db.scalar_i64(NOTIFICATIONS).await, 0);
    // One that asks for it: the next sync is a notification with its counts. (A daemon reuses
    // "does anyone want it" for 5 s; a fresh one asks at once.)
    add_endpoint(
        &db,
        "https://receiver.example.test/b",
        Some(ws),
        &["sync.completed".to_string()],
    )
    .await;
    worker.shutdown().await;
    let worker = start_configured_worker(&db, c).await;
    sync_once().await;
    db.wait_until(&syncs_done(2), Duration::from_secs(20)).await;
    let data = data_of(&db, "sync.completed").await;
    assert_eq!(data["platform"], "outlook");
    assert!(
        data["items"].as_i64().is_some() && data["pages"].as_i64().is_some(),
        "{data}"
    );
    // Only the endpoint that asked gets it.
    assert_eq!(db.scalar_i64(DELIVERIES).await, 1);
    finish(db, worker).await;
}

#[tokio::test]
async fn endpoints_over_http_and_the_command_line() {
    let e = crate::oauth::env().await;
    let (status, _, body) = e
        .call(
            "POST",
            "/notifications/endpoints",
            Some(serde_json::json!({"url": "https://receiver.example.test/h",
                                    "event_types": ["integration.reconnect_required"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    let id = v["id"].as_str().expect("id").to_string();
    assert!(v["secret"]
        .as_str()
        .is_some_and(|s| s.starts_with("whsec_")));
    let (status, _, body) = e.call("GET", "/notifications/endpoints", None).await;
    assert_eq!(status, 200);
    assert!(body.contains(&id) && !body.contains("whsec_"), "{body}");
    let (status, _, body) = e
        .call(
            "POST",
            "/notifications/endpoints",
            Some(serde_json::json!({"url": "ftp://x"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = e
        .call(
            "POST",
            "/notifications/endpoints",
            Some(serde_json::json!({"url": "https://x.test", "event_types": ["no.such"]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = e
        .call(
            "POST",
            &format!("/notifications/endpoints/{id}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("whsec_"));
    let (status, _, body) = e
        .call("POST", &format!("/notifications/endpoints/{id}/test"), None)
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(e.db.scalar_i64(DELIVERIES).await, 1);
    let (status, _, _) = e
        .call_as(None, "GET", "/notifications/endpoints", None)
        .await;
    assert_eq!(status, 401);
    let (status, _, _) = e
        .call("DELETE", &format!("/notifications/endpoints/{id}"), None)
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = e
        .call("DELETE", &format!("/notifications/endpoints/{id}"), None)
        .await;
    assert_eq!(status, 404);

    // The command line: the secret printed once, then never.
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("k1.key");
    mcp_daemon::vault::Vault::write_new_key_file(&key).expect("key");
    let cli = |args: Vec<String>| {
        let (url, key) = (e.db.url.clone(), key.display().to_string());
        async move {
            let out = tokio::process::Command::new(crate::common::bin())
                .args(args)
                .env_remove("MCP_WORKER_CONFIG")
                .env("DATABASE_URL", url)
                .env("MCP_WORKER__VAULT__KEY_FILES", format!("[{key:?}]"))
                .output()
                .await
                .expect("run");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (ok, out, err) = cli(vec![
        "notify".into(),
        "add".into(),
        "https://r.example.test/x".into(),
    ])
    .await;
    assert!(ok, "{err}");
    let secret = out
        .lines()
        .find_map(|l| l.split("shown once): ").nth(1))
        .expect("secret line")
        .to_string();
    assert!(secret.starts_with("whsec_"));
    let raw = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("base64");
    assert!((24..=64).contains(&raw.len()));
    let (ok, out, _) = cli(vec!["notify".into(), "list".into(), "--json".into()]).await;
    assert!(
        ok && out.contains("r.example.test") && !out.contains(&secret),
        "{out}"
    );
    let (ok, _, err) = cli(vec!["notify".into(), "add".into(), "not a url".into()]).await;
    assert!(!ok && err.contains("url"), "{err}");
    e.finish().await;
}

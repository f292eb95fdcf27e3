//! The integrations schema as SQL users meet it: the state machine, the event log, row-level
//! security, the circuit breaker functions, the views, the health sweep.

use std::collections::{BTreeSet, HashMap, VecDeque};

use chrono::TimeZone;
use mcp_daemon::config::{Config, ScheduleConfig};
use mcp_queue::catalog::Catalog;
use mcp_queue::scheduler::Scheduler;
use sqlx::PgPool;
use uuid::Uuid;

use crate::common::TestDb;

const STATES: [&str; 9] = [
    "PENDING",
    "AUTHORIZING",
    "CONNECTED",
    "ACTIVE",
    "ERROR",
    "DEGRADED",
    "REVOKED",
    "EXPIRED",
    "DELETED",
];

/// The transition matrix as the README documents it.
fn matrix() -> BTreeSet<(&'static str, &'static str)> {
    let rows: [(&str, &[&str]); 9] = [
        ("PENDING", &["AUTHORIZING", "CONNECTED", "DELETED"]),
        ("AUTHORIZING", &["CONNECTED", "PENDING", "ERROR", "DELETED"]),
        (
            "CONNECTED",
            &[
                "ACTIVE", "ERROR", "DEGRADED", "REVOKED", "EXPIRED", "DELETED",
            ],
        ),
        (
            "ACTIVE",
            &["ERROR", "DEGRADED", "REVOKED", "EXPIRED", "DELETED"],
        ),
        (
            "ERROR",
            &[
                "ACTIVE",
                "DEGRADED",
                "REVOKED",
                "EXPIRED",
                "AUTHORIZING",
                "DELETED",
            ],
        ),
        (
            "DEGRADED",
            &["ACTIVE", "ERROR", "REVOKED", "EXPIRED", "DELETED"],
        ),
        ("REVOKED", &["PENDING", "AUTHORIZING", "DELETED"]),
        ("EXPIRED", &["PENDING", "AUTHORIZING", "REVOKED", "DELETED"]),
        ("DELETED", &[]),
    ];
    rows.iter()
        .flat_map(|(from, tos)| tos.iter().map(move |to| (*from, *to)))
        .collect()
}

/// A shortest path of allowed transitions from PENDING to `target`.
fn path_to(target: &str) -> Vec<&'static str> {
    let m = matrix();
    let mut prev: HashMap<&str, &str> = HashMap::new();
    let mut queue = VecDeque::from(["PENDING"]);
    while let Some(s) = queue.pop_front() {
        for (from, to) in &m {
            if *from == s && *to != "PENDING" && !prev.contains_key(to) {
                prev.insert(to, s);
                queue.push_back(to);
            }
        }
    }
    let mut path = Vec::new();
    let mut cur = STATES
        .iter()
        .copied()
        .find(|s| *s == target)
        .expect("state");
    while cur != "PENDING" {
        path.push(cur);
        cur = prev[cur];
    }
    path.reverse();
    path
}

async fn workspace(pool: &PgPool, name: &str) -> Uuid {
    sqlx::query_scalar("INSERT INTO core.workspaces (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(pool)
        .await
        .expect("workspace")
}

async fn integration(pool: &PgPool, ws: Uuid, platform: &str) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, $2) RETURNING id",
    )
    .bind(ws)
    .bind(platform)
    .fetch_one(pool)
    .await
    .expect("integration")
}

async fn transition(pool: &PgPool, id: Uuid, to: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT mcp.transition_integration_state($1, $2, 'test')")
        .bind(id)
        .bind(to)
        .fetch_one(pool)
        .await
}

async fn active(pool: &PgPool, ws: Uuid, platform: &str) -> Uuid {
    let id = integration(pool, ws, platform).await;
    for s in ["CONNECTED", "ACTIVE"] {
        transition(pool, id, s).await.expect("to active");
    }
    id
}

#[tokio::test]
async fn every_transition_of_the_matrix_is_allowed_and_every_other_refused() {
    let db = TestDb::new().await;
    let in_db: BTreeSet<(String, String)> =
        sqlx::query_as("SELECT from_state, to_state FROM core.integration_transitions")
            .fetch_all(&db.pool)
            .await
            .expect("matrix")
            .into_iter()
            .collect();
    let spec: BTreeSet<(String, String)> = matrix()
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(
        in_db, spec,
        "core.integration_transitions is the documented matrix"
    );

    let ws = workspace(&db.pool, "w").await;
    let allowed = matrix();
    for from in STATES {
        for to in STATES {
            if from == to {
                continue;
            }
            let id = integration(&db.pool, ws, "slack").await;
            for step in path_to(from) {
                transition(&db.pool, id, step)
                    .await
                    .unwrap_or_else(|e| panic!("reaching {from} via {step}: {e}"));
            }
            let r = transition(&db.pool, id, to).await;
            if allowed.contains(&(from, to)) {
                assert_eq!(r.expect("allowed transition"), from);
            } else {
                let e = r
                    .expect_err(&format!("{from} → {to} must be refused"))
                    .to_string();
                assert!(
                    e.contains(&format!("from {from} to {to}")),
                    "{from} → {to}: {e}"
                );
                // A plain UPDATE by an SQL user is refused just the same.
                let e2 = sqlx::query("UPDATE core.integrations SET state = $2 WHERE id = $1")
                    .bind(id)
                    .bind(to)
                    .execute(&db.pool)
                    .await
                    .expect_err("plain UPDATE refused")
                    .to_string();
                assert!(e2.contains(&format!("from {from} to {to}")), "{e2}");
            }
        }
    }
    let e = sqlx::query("INSERT INTO core.integrations (workspace_id, platform, state) VALUES ($1, 'zoom', 'ACTIVE')")
        .bind(ws)
        .execute(&db.pool)
        .await
        .expect_err("new integrations start PENDING")
        .to_string();
    assert!(e.contains("starts in PENDING"), "{e}");
    db.drop_db().await;
}

#[tokio::test]
async fn state_changes_are_logged_to_an_append_only_event_log() {
    let db = TestDb::new().await;
    let ws = workspace(&db.pool, "w").await;
    let id = active(&db.pool, ws, "notion").await;
    transition(&db.pool, id, "ACTIVE")
        .await
        .expect("same state is a no-op");
    let events: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT event_type, payload FROM ops.events WHERE integration_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .expect("events");
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0].0, "integration.created");
    assert_eq!(events[1].1["from"], "PENDING");
    assert_eq!(events[1].1["to"], "CONNECTED");
    assert_eq!(events[2].1["to"], "ACTIVE");
    assert_eq!(events[2].1["reason"], "test");
    for sql in [
        "UPDATE ops.events SET event_type = 'x'",
        "DELETE FROM ops.events",
    ] {
        let e = sqlx::query(sql)
            .execute(&db.pool)
            .await
            .expect_err(sql)
            .to_string();
        assert!(e.contains("append-only"), "{e}");
    }
    db.drop_db().await;
}

#[tokio::test]
async fn a_workspace_role_sees_and_changes_only_its_own_rows() {
    let db = TestDb::new().await;
    let a = workspace(&db.pool, "a").await;
    let b = workspace(&db.pool, "b").await;
    let ia = active(&db.pool, a, "slack").await;
    let ib = active(&db.pool, b, "zoom").await;
    for id in [ia, ib] {
        sqlx::query("SELECT mcp.record_health_check($1, 'unhealthy', 5, 'server_error', 'boom')")
            .bind(id)
            .execute(&db.pool)
            .await
            .expect("check");
    }
    let role = format!("{}_member", db.name);
    db.exec(&format!(
        "CREATE ROLE {role} NOLOGIN; GRANT mcp_workspace_member TO {role};"
    ))
    .await;
    let mut conn = db.pool.acquire().await.expect("conn");
    let q = |sql: String| sqlx::raw_sql(sqlx::AssertSqlSafe(sql));
    q(format!("SET ROLE {role}"))
        .execute(&mut *conn)
        .await
        .expect("set role");
    let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    assert_eq!(
        count("SELECT count(*) FROM core.integrations")
            .fetch_one(&mut *conn)
            .await
            .expect("q"),
        0,
        "without a workspace setting nothing is visible"
    );
    q(format!("SET mcp.workspace_id = '{a}'"))
        .execute(&mut *conn)
        .await
        .expect("set");
    for (sql, want) in [
        ("SELECT count(*) FROM core.integrations", 1),
        ("SELECT count(*) FROM core.workspaces", 1),
        ("SELECT count(*) FROM mcp.health_checks", 1),
        ("SELECT count(*) FROM mcp.integration_errors", 1),
        ("SELECT count(*) FROM mcp.v_integration_health_summary", 1),
        ("SELECT count(*) FROM mcp.v_recent_integration_errors", 1),
        (
            "SELECT count(*) FROM ops.events WHERE integration_id IS NOT NULL",
            4,
        ),
    ] {
        assert_eq!(
            count(sql).fetch_one(&mut *conn).await.expect(sql),
            want,
            "{sql}"
        );
    }
    let seen: Uuid = sqlx::query_scalar("SELECT id FROM core.integrations")
        .fetch_one(&mut *conn)
        .await
        .expect("own");
    assert_eq!(seen, ia);
    let e =
        sqlx::query_scalar::<_, String>("SELECT mcp.transition_integration_state($1, 'DELETED')")
            .bind(ib)
            .fetch_one(&mut *conn)
            .await
            .expect_err("other workspace's integration is invisible")
            .to_string();
    assert!(e.contains("not found"), "{e}");
    let changed = sqlx::query("UPDATE core.integrations SET display_name = 'x' WHERE id = $1")
        .bind(ib)
        .execute(&mut *conn)
        .await
        .expect("update")
        .rows_affected();
    assert_eq!(changed, 0);
    let e =
        sqlx::query("INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, 'gmail')")
            .bind(b)
            .execute(&mut *conn)
            .await
            .expect_err("cannot create in another workspace")
            .to_string();
    assert!(e.contains("row-level security"), "{e}");
    // Its own integration it may move, and the move is logged.
    transition_on(&mut conn, ia, "DEGRADED").await;
    q("RESET ROLE".into())
        .execute(&mut *conn)
        .await
        .expect("reset");
    drop(conn);
    db.exec(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .await;
    db.drop_db().await;
}

async fn transition_on(conn: &mut sqlx::PgConnection, id: Uuid, to: &str) {
    sqlx::query("SELECT mcp.transition_integration_state($1, $2, 'by member')")
        .bind(id)
        .bind(to)
        .execute(&mut *conn)
        .await
        .expect("member transition");
}

async fn record(pool: &PgPool, id: Uuid, status: &str, err: Option<&str>) -> (String, String, i32) {
    sqlx::query_as("SELECT * FROM mcp.record_health_check($1, $2, 7, $3, 'x')")
        .bind(id)
        .bind(status)
        .bind(err)
        .fetch_one(pool)
        .await
        .expect("record")
}

async fn can_execute(pool: &PgPool, id: Uuid) -> bool {
    sqlx::query_scalar("SELECT mcp.can_execute_request($1)")
        .bind(id)
        .fetch_one(pool)
        .await
        .expect("gate")
}

#[tokio::test]
async fn breaker_opens_after_five_failures_half_opens_for_one_probe_and_closes_on_success() {
    let db = TestDb::new().await;
    let ws = workspace(&db.pool, "w").await;
    let id = active(&db.pool, ws, "discord").await;
    for n in 1..=4 {
        let r = record(&db.pool, id, "unhealthy", Some("server_error")).await;
        assert_eq!(r, ("ERROR".into(), "closed".into(), n));
        assert!(can_execute(&db.pool, id).await);
    }
    let r = record(&db.pool, id, "unhealthy", Some("timeout")).await;
    assert_eq!(r, ("ERROR".into(), "open".into(), 5));
    assert!(!can_execute(&db.pool, id).await, "open: no calls");
    // The clock: the breaker opened 6 minutes ago.
    db.exec(&format!(
        "UPDATE core.integrations SET circuit_breaker_opened_at = now() - interval '6 minutes' WHERE id = '{id}'"
    ))
    .await;
    let gates = futures::future::join_all((0..5).map(|_| can_execute(&db.pool, id))).await;
    assert_eq!(
        gates.iter().filter(|g| **g).count(),
        1,
        "exactly one probe: {gates:?}"
    );
    // A failed probe opens it again at once.
    let r = record(&db.pool, id, "unhealthy", Some("server_error")).await;
    assert_eq!(r.1, "open");
    assert!(!can_execute(&db.pool, id).await);
    db.exec(&format!(
        "UPDATE core.integrations SET circuit_breaker_opened_at = now() - interval '6 minutes' WHERE id = '{id}'"
    ))
    .await;
    assert!(can_execute(&db.pool, id).await, "probe again");
    let r = record(&db.pool, id, "healthy", None).await;
    assert_eq!(r, ("ACTIVE".into(), "closed".into(), 0));
    assert!(can_execute(&db.pool, id).await);
    db.drop_db().await;
}

#[tokio::test]
async fn health_results_move_the_integration_through_the_seed_recovery_flows() {
    let db = TestDb::new().await;
    let ws = workspace(&db.pool, "w").await;
    let id = active(&db.pool, ws, "slack").await;
    // Rate limit: ACTIVE → DEGRADED → (wait) → ACTIVE, and no breaker count.
    assert_eq!(
        record(&db.pool, id, "degraded", Some("rate_limited")).await,
        ("DEGRADED".into(), "closed".into(), 0)
    );
    assert_eq!(record(&db.pool, id, "healthy", None).await.0, "ACTIVE");
    // Auth failures.
    assert_eq!(
        record(&db.pool, id, "unhealthy", Some("auth_expired"))
            .await
            .0,
        "EXPIRED"
    );
    assert!(
        !can_execute(&db.pool, id).await,
        "an EXPIRED integration is not called"
    );
    let id2 = active(&db.pool, ws, "slack").await;
    assert_eq!(
        record(&db.pool, id2, "unhealthy", Some("auth_revoked"))
            .await
            .0,
        "REVOKED"
    );
    let e = sqlx::query("SELECT mcp.record_health_check($1, 'bogus')")
        .bind(id2)
        .execute(&db.pool)
        .await
        .expect_err("unknown status")
        .to_string();
    assert!(e.contains("bogus"), "{e}");
    let e = sqlx::query("SELECT mcp.record_health_check($1, 'unhealthy', 1, 'made_up')")
        .bind(id2)
        .execute(&db.pool)
        .await
        .expect_err("unknown error type")
        .to_string();
    assert!(e.contains("integration_errors_type_is_known"), "{e}");
    db.drop_db().await;
}

#[tokio::test]
async fn views_return_what_they_claim() {
    let db = TestDb::new().await;
    let ws = workspace(&db.pool, "w").await;
    let soon = active(&db.pool, ws, "zoom").await;
    let later = active(&db.pool, ws, "gmail").await;
    for (id, hours) in [(soon, 3), (later, 24 * 5)] {
        sqlx::query(
            "INSERT INTO mcp.oauth_tokens (integration_id, workspace_id, platform, expires_at) \
             SELECT id, workspace_id, platform, now() + $2 * interval '1 hour' FROM core.integrations WHERE id = $1",
        )
        .bind(id)
        .bind(hours as f64)
        .execute(&db.pool)
        .await
        .expect("token");
    }
    sqlx::query("SELECT mcp.update_token_expiry($1, now() + interval '2 hours')")
        .bind(soon)
        .execute(&db.pool)
        .await
        .expect("update expiry");
    let expiring: Vec<Uuid> =
        sqlx::query_scalar("SELECT integration_id FROM mcp.v_tokens_expiring_soon")
            .fetch_all(&db.pool)
            .await
            .expect("view");
    assert_eq!(expiring, vec![soon]);

    record(&db.pool, soon, "unhealthy", Some("server_error")).await;
    record(&db.pool, soon, "healthy", None).await;
    db.exec(&format!(
        "INSERT INTO mcp.integration_errors (integration_id, workspace_id, platform, error_type, occurred_at) \
         SELECT id, workspace_id, platform, 'timeout', now() - interval '8 days' FROM core.integrations WHERE id = '{soon}'"
    ))
    .await;
    let recent = db
        .scalar_i64("SELECT count(*) FROM mcp.v_recent_integration_errors")
        .await;
    assert_eq!(recent, 1, "the 8-day-old error is not recent");
    let (checks, failures, rate): (i64, i64, Option<String>) = sqlx::query_as(
        "SELECT checks_24h, failures_24h, success_rate_24h_pct::text FROM mcp.v_integration_health_summary WHERE integration_id = $1",
    )
    .bind(soon)
    .fetch_one(&db.pool)
    .await
    .expect("summary");
    assert_eq!((checks, failures), (2, 1));
    assert_eq!(rate.as_deref(), Some("50.0"));
    db.drop_db().await;
}

#[tokio::test]
async fn the_six_hourly_sweep_is_enqueued_once_across_three_schedulers_and_checks_each_integration_once(
) {
    let db = TestDb::new().await;
    let ws = workspace(&db.pool, "w").await;
    let mut ids = Vec::new();
    for p in ["slack", "zoom", "notion"] {
        ids.push(active(&db.pool, ws, p).await);
    }
    let pending = integration(&db.pool, ws, "gmail").await;
    let mut cfg = Config::default();
    for other in [
        "prune",
        "sync_sweep",
        "token_refresh_sweep",
        "webhook_renew_sweep",
    ] {
        cfg.schedules.insert(
            other.into(),
            ScheduleConfig {
                cron: None,
                kind: None,
                payload: serde_json::json!({}),
                enabled: false,
            },
        );
    }
    let mut schedulers = Vec::new();
    for _ in 0..3 {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");
        schedulers.push(
            Scheduler::from_config(pool, &cfg.schedules, Catalog::builtin()).expect("scheduler"),
        );
    }
    let t0 = chrono::Utc
        .with_ymd_and_hms(2026, 3, 1, 5, 59, 0)
        .single()
        .expect("t0");
    schedulers[0].tick(t0).await.expect("first sight");
    let at_six = t0 + chrono::Duration::minutes(1);
    let runs = futures::future::join_all(schedulers.iter().map(|s| s.tick(at_six))).await;
    let fired: usize = runs.into_iter().map(|r| r.expect("tick").len()).sum();
    assert_eq!(fired, 1);
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'health_sweep'")
            .await,
        1
    );

    // The sweep itself, twice (e.g. a retry): each integration in service gets one live check.
    for _ in 0..2 {
        mcp_daemon::integrations::enqueue_health_sweep(
            &db.pool,
            std::time::Duration::from_secs(3600),
        )
        .await
        .expect("sweep");
    }
    let checked: Vec<Uuid> = sqlx::query_scalar(
        "SELECT integration_id FROM mcp.sync_jobs WHERE kind = 'health_check' ORDER BY integration_id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("checks");
    let mut want = ids.clone();
    want.sort();
    assert_eq!(
        checked, want,
        "one check per integration in service, none for PENDING {pending}"
    );
    let spread = db
        .scalar_i64("SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'health_check' AND run_at > now() + interval '1 second' AND run_at <= now() + interval '1 hour'")
        .await;
    assert!(spread >= 1, "checks are spread over the window");
    db.drop_db().await;
}

#[tokio::test]
async fn prune_deletes_old_history_in_batches_and_keeps_recent_rows() {
    let db = TestDb::new().await;
    let ws = workspace(&db.pool, "w").await;
    let id = active(&db.pool, ws, "gmail").await;
    db.exec(&format!(
        "INSERT INTO mcp.health_checks (integration_id, workspace_id, platform, status, checked_at) \
         SELECT '{id}', '{ws}', 'gmail', 'healthy', now() - (g + 0.5) * interval '1 day' FROM generate_series(0, 39) g; \
         INSERT INTO mcp.integration_errors (integration_id, workspace_id, platform, error_type, occurred_at) \
         SELECT '{id}', '{ws}', 'gmail', 'timeout', now() - (g * 10 + 5) * interval '1 day' FROM generate_series(0, 11) g; \
         INSERT INTO mcp.webhooks (id, integration_id, workspace_id, platform) \
         VALUES ('00000000-0000-0000-0000-00000000beef', '{id}', '{ws}', 'gmail'); \
         INSERT INTO mcp.webhook_events (webhook_id, integration_id, workspace_id, platform, dedup_key, payload, received_at, processed_at) \
         SELECT '00000000-0000-0000-0000-00000000beef', '{id}', '{ws}', 'gmail', g::text, '{{}}', \
                now() - interval '40 days', CASE WHEN g % 2 = 0 THEN now() END FROM generate_series(1, 10) g;"
    ))
    .await;
    let report = mcp_daemon::integrations::prune_history(
        &db.pool,
        &Config::default().retention.history(),
        3,
    )
    .await
    .expect("prune");
    assert_eq!(
        report,
        vec![
            ("mcp.health_checks", 10),
            ("mcp.integration_errors", 3),
            ("mcp.webhook_events", 5),
            ("mcp.oauth_states", 0),
        ],
        "30-day health checks, 90-day errors, processed events only"
    );
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.health_checks")
            .await,
        30
    );
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.webhook_events WHERE processed_at IS NULL")
            .await,
        5
    );
    db.drop_db().await;
}

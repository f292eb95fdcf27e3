//! The health side: the circuit breaker functions, the recovery flows, the views, the 6-hourly
//! sweep, history pruning.

use super::*;

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
        cfg.schedules
            .insert(other.into(), crate::common::schedule_off());
    }
    let schedulers = crate::common::schedulers(&db.url, &cfg.schedules, 3).await;
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
                now() - interval '40 days', CASE WHEN g % 2 = 0 THEN now() END FROM generate_series(1, 10) g; \
         INSERT INTO mcp.notifications (type, workspace_id, occurred_at, data, created_at) \
         SELECT 'notification.test', '{ws}', now(), '{{}}', now() - (g * 10 + 5) * interval '1 day' FROM generate_series(0, 6) g;"
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
            ("mcp.webhook_dedup", 0),
            ("mcp.notifications", 4),
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

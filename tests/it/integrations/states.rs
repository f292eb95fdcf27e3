//! The state machine as SQL users meet it: every transition of the matrix, the event log, the
//! named state predicates, row-level security.

use super::*;

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
    let (a, b, ia, ib) = two_workspaces(&db.pool).await;
    for id in [ia, ib] {
        sqlx::query("SELECT mcp.record_health_check($1, 'unhealthy', 5, 'server_error', 'boom')")
            .bind(id)
            .execute(&db.pool)
            .await
            .expect("check");
    }
    let role = member(&db, "member", None).await;
    let mut conn = db.pool.acquire().await.expect("conn");
    run_on(&mut conn, &format!("SET ROLE {role}")).await;
    let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    assert_eq!(
        count("SELECT count(*) FROM core.integrations")
            .fetch_one(&mut *conn)
            .await
            .expect("q"),
        0,
        "a role mapped to no workspace sees nothing"
    );
    db.exec(&format!(
        "INSERT INTO core.workspace_roles (role_name, workspace_id) VALUES ('{role}', '{a}')"
    ))
    .await;
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
    release(conn).await;
    drop_roles(&db, &[&role]).await;
    db.drop_db().await;
}

/// Each named state predicate of migration 0008 says what the daemon's `IntegrationState` says,
/// for every state: one meaning of "in service", "callable", "synced", "subscribed",
/// "revocable" and "keeps items", whether a statement or the daemon's code asks.
#[tokio::test]
async fn the_state_predicates_agree_with_the_daemons_state_type() {
    use mcp_daemon::integrations::IntegrationState;
    let db = TestDb::new().await;
    assert_eq!(IntegrationState::ALL.map(IntegrationState::as_str), STATES);
    for st in IntegrationState::ALL {
        let sql: (bool, bool, bool, bool, bool, bool) = sqlx::query_as(
            "SELECT core.state_in_service($1), core.state_callable($1), core.state_synced($1), \
                    core.state_subscribed($1), core.state_revocable($1), \
                    core.state_keeps_items($1)",
        )
        .bind(st.as_str())
        .fetch_one(&db.pool)
        .await
        .expect("predicates");
        let rust = (
            st.in_service(),
            st.callable(),
            st.synced(),
            st.subscribed(),
            st.revocable(),
            st.keeps_items(),
        );
        assert_eq!(sql, rust, "{st}");
    }
    db.drop_db().await;
}

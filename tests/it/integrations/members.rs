//! A workspace member's SQL session as an attacker would use it: the workspace comes from the
//! role's mapping in `core.workspace_roles`, never from a setting the session may change, and a
//! member changes only the columns that are its to say.

use super::*;

async fn count(conn: &mut sqlx::PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Every table and view a member may read, with the rows of workspace B seeded beforehand.
const READABLE: [&str; 12] = [
    "core.integrations",
    "core.workspaces",
    "ops.events",
    "mcp.health_checks",
    "mcp.integration_errors",
    "mcp.oauth_tokens",
    "mcp.webhook_events",
    "mcp.synced_items",
    "mcp.item_changes",
    "mcp.v_integration_health_summary",
    "mcp.v_recent_integration_errors",
    "mcp.webhook_overview",
];

#[tokio::test]
async fn a_member_that_sets_another_workspace_sees_nothing_and_changes_nothing() {
    let db = TestDb::new().await;
    let (a, b, ia, ib) = two_workspaces(&db.pool).await;
    // B's rows in every table a member reads: a check, an error, a token row, an event, an item.
    db.exec(&format!(
        "SELECT mcp.record_health_check('{ib}', 'unhealthy', 5, 'server_error', 'boom'); \
         INSERT INTO mcp.oauth_tokens (integration_id, workspace_id, platform) \
             VALUES ('{ib}', '{b}', 'zoom'); \
         INSERT INTO mcp.webhooks (id, integration_id, workspace_id, platform) \
             VALUES (gen_random_uuid(), '{ib}', '{b}', 'zoom'); \
         INSERT INTO mcp.webhook_events (webhook_id, integration_id, workspace_id, platform, dedup_key, payload) \
             SELECT id, '{ib}', '{b}', 'zoom', 'k1', '{{\"secret\": \"theirs\"}}' FROM mcp.webhooks; \
         INSERT INTO mcp.synced_items (integration_id, external_id, workspace_id, platform, kind, raw) \
             VALUES ('{ib}', 'x', '{b}', 'zoom', 'recording', '{{}}'); \
         UPDATE core.integrations SET external_account_id = 'acct-b' WHERE id = '{ib}';"
    ))
    .await;
    let role = member(&db, "member_a", Some(a)).await;
    let mut conn = db.pool.acquire().await.expect("conn");
    run_on(&mut conn, &format!("SET ROLE {role}")).await;
    // The attack: the old binding was this setting; it now means nothing.
    for set in [
        format!("SET mcp.workspace_id = '{b}'"),
        format!("SELECT set_config('mcp.workspace_id', '{b}', false)"),
    ] {
        // Any session may set it.
        run_on(&mut conn, &set).await;
        for table in READABLE {
            let sql = format!(
                "SELECT count(*) FROM {table} WHERE {} = '{b}'",
                if table == "core.workspaces" {
                    "id"
                } else {
                    "workspace_id"
                }
            );
            assert_eq!(count(&mut conn, &sql).await, 0, "{sql}");
        }
        assert_eq!(
            count(&mut conn, "SELECT count(*) FROM core.integrations").await,
            1,
            "its own integration only"
        );
        let update = format!("UPDATE core.integrations SET display_name = 'x' WHERE id = '{ib}'");
        let changed = run_on(&mut conn, &update).await.rows_affected();
        assert_eq!(changed, 0, "B's integration is not changed");
        // No integration in B.
        let insert = format!(
            "INSERT INTO core.integrations (workspace_id, platform) VALUES ('{b}', 'gmail')"
        );
        let e = refused_on(&mut conn, &insert).await;
        assert!(e.contains("row-level security"), "{e}");
        // B's integration is invisible.
        let delete = format!("SELECT mcp.transition_integration_state('{ib}', 'DELETED')");
        let e = refused_on(&mut conn, &delete).await;
        assert!(e.contains("not found"), "{e}");
    }
    // Nor can it map itself elsewhere, or read who is mapped where.
    for sql in [
        format!(
            "INSERT INTO core.workspace_roles (role_name, workspace_id) VALUES ('{role}', '{b}')"
        ),
        format!("UPDATE core.workspace_roles SET workspace_id = '{b}'"),
        "SELECT count(*) FROM core.workspace_roles".to_string(),
    ] {
        let e = refused_on(&mut conn, &sql).await;
        assert!(e.contains("permission denied"), "{sql}: {e}");
    }
    // Its own integration: the name and settings are its to change; the account id, the health
    // and the cursor are not (a squatted account id would take another customer's events).
    run_on(&mut conn, &format!(
        "UPDATE core.integrations SET display_name = 'Sales', settings = '{{\"channels\": [\"C1\"]}}' WHERE id = '{ia}'"
    ))
    .await;
    for set in [
        "external_account_id = 'acct-b'",
        "health_status = 'healthy'",
        "circuit_breaker_state = 'closed'",
        "sync_cursor = NULL",
        "scopes = '{}'",
        "workspace_id = workspace_id",
    ] {
        let sql = format!("UPDATE core.integrations SET {set} WHERE id = '{ia}'");
        let e = refused_on(&mut conn, &sql).await;
        assert!(e.contains("permission denied"), "{sql}: {e}");
    }
    // No account id on insert.
    let insert = format!(
        "INSERT INTO core.integrations (workspace_id, platform, external_account_id) \
         VALUES ('{a}', 'zoom', 'acct-b')"
    );
    let e = refused_on(&mut conn, &insert).await;
    assert!(e.contains("permission denied"), "{e}");
    // A new integration in its own workspace.
    run_on(&mut conn, &format!(
        "INSERT INTO core.integrations (workspace_id, platform, display_name) VALUES ('{a}', 'gmail', 'Mail')"
    ))
    .await;
    transition_on(&mut conn, ia, "DEGRADED").await;
    release(conn).await;
    let (name, account): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT display_name, external_account_id FROM core.integrations WHERE id = $1",
    )
    .bind(ib)
    .fetch_one(&db.pool)
    .await
    .expect("B");
    assert_eq!((name, account.as_deref()), (None, Some("acct-b")));
    drop_roles(&db, &[&role]).await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_role_holding_two_workspaces_sees_one_only_after_set_role() {
    let db = TestDb::new().await;
    let (a, b, _, _) = two_workspaces(&db.pool).await;
    let ra = member(&db, "ws_a", Some(a)).await;
    let rb = member(&db, "ws_b", Some(b)).await;
    // An application's login role that serves both workspaces, and one mapped to none.
    let app = member(&db, "app", None).await;
    let stranger = member(&db, "stranger", None).await;
    db.exec(&format!("GRANT {ra}, {rb} TO {app};")).await;
    let mut conn = db.pool.acquire().await.expect("conn");
    let all = "SELECT count(*) FROM core.integrations";
    run_on(
        &mut conn,
        &format!("SET ROLE {stranger}; SET mcp.workspace_id = '{a}'"),
    )
    .await;
    assert_eq!(count(&mut conn, all).await, 0, "an unmapped member");
    run_on(&mut conn, &format!("RESET ROLE; SET ROLE {app}")).await;
    assert_eq!(count(&mut conn, all).await, 0, "two workspaces: ambiguous");
    for (role, ws) in [(&ra, a), (&rb, b)] {
        run_on(&mut conn, &format!("SET ROLE {role}")).await;
        let seen: Vec<Uuid> = sqlx::query_scalar("SELECT workspace_id FROM core.integrations")
            .fetch_all(&mut *conn)
            .await
            .expect("q");
        assert_eq!(seen, vec![ws], "as {role}");
    }
    release(conn).await;
    drop_roles(&db, &[&app, &stranger, &ra, &rb]).await;
    db.drop_db().await;
}

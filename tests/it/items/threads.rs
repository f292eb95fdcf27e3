//! Threads (`mcp.thread_items`) in order, and what one workspace's member sees of another's
//! items through search, threads and the feed: nothing.

use chrono::{Duration, Utc};
use mcp_platforms::connectors::Platform;

use super::search::{put, Put};
use super::*;

#[tokio::test]
async fn a_thread_is_read_in_order() {
    let db = TestDb::new().await;
    let ws = workspace(&db, "a").await;
    let i = bare_active(&db.pool, ws, Platform::Slack).await;
    let t0 = Utc::now();
    for (ext, minutes, thread) in [
        ("C1:3", 3, "T1"),
        ("C1:1", 1, "T1"),
        ("C1:9", 9, "T2"),
        ("C1:2", 2, "T1"),
        ("C1:4", 4, "T1"),
    ] {
        let at = Some(t0 + Duration::minutes(minutes));
        let p = Put {
            ext,
            text: Some(ext),
            at,
            thread: Some(thread),
            ..Default::default()
        };
        put(&db.pool, i, p).await;
    }
    db.exec("UPDATE mcp.synced_items SET deleted_at = now() WHERE external_id = 'C1:4'")
        .await;
    let got: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT external_id, text FROM mcp.thread_items($1, 'T1')")
            .bind(i)
            .fetch_all(&db.pool)
            .await
            .expect("thread");
    let order: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(
        order,
        ["C1:1", "C1:2", "C1:3"],
        "oldest first, the deleted one left out"
    );
    db.drop_db().await;
}

/// A member role mapped to workspace A: search, threads and the feed name B's workspace or
/// integration in vain.
#[tokio::test]
async fn a_workspace_never_sees_anothers_items_through_search_threads_or_the_feed() {
    let db = TestDb::new().await;
    let a = workspace(&db, "a").await;
    let b = workspace(&db, "b").await;
    let ia = bare_active(&db.pool, a, Platform::Slack).await;
    let ib = bare_active(&db.pool, b, Platform::Slack).await;
    for (i, ext) in [(ia, "C1:1"), (ib, "C9:1")] {
        let p = Put {
            ext,
            text: Some("secret plan"),
            thread: Some("T"),
            ..Default::default()
        };
        put(&db.pool, i, p).await;
    }
    // Settled in the feed first (it shows a change once older transactions have ended).
    ops_of(&db, a, 1).await;
    ops_of(&db, b, 1).await;
    let role = format!("{}_member_a", db.name);
    db.exec(&format!(
        "CREATE ROLE {role} NOLOGIN; GRANT mcp_workspace_member TO {role}; \
         INSERT INTO core.workspace_roles (role_name, workspace_id) VALUES ('{role}', '{a}');"
    ))
    .await;
    let mut conn = db.pool.acquire().await.expect("conn");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET ROLE {role}")))
        .execute(&mut *conn)
        .await
        .expect("role");
    let count =
        |sql: &'static str, ws: Uuid, i: Uuid| sqlx::query_scalar::<_, i64>(sql).bind(ws).bind(i);
    let search = "SELECT count(*) FROM mcp.search_items($1, 'plan', \
                  jsonb_build_object('integration_id', $2::text))";
    let thread = "SELECT count(*) FROM mcp.thread_items($2, 'T') WHERE $1 IS NOT NULL";
    let feed = "SELECT count(*) FROM mcp.changes($1, NULL, 100) WHERE integration_id = $2";
    for sql in [search, thread, feed] {
        let own = count(sql, a, ia).fetch_one(&mut *conn).await.expect(sql);
        let theirs = count(sql, b, ib).fetch_one(&mut *conn).await.expect(sql);
        assert_eq!((own, theirs), (1, 0), "{sql}");
    }
    let all: i64 = sqlx::query_scalar("SELECT count(*) FROM mcp.search_items($1, '')")
        .bind(b)
        .fetch_one(&mut *conn)
        .await
        .expect("search");
    assert_eq!(all, 0);
    sqlx::raw_sql("RESET ROLE")
        .execute(&mut *conn)
        .await
        .expect("reset");
    drop(conn);
    db.exec(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .await;
    db.drop_db().await;
}

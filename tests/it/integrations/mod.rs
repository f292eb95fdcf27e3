//! The integrations schema as SQL users meet it: the state machine, the event log, row-level
//! security, the circuit breaker functions, the views, the health sweep.

use std::collections::{BTreeSet, HashMap, VecDeque};

use chrono::TimeZone;
use mcp_daemon::config::Config;
use mcp_queue::pg::Db;
use uuid::Uuid;

use crate::common::TestDb;

mod health;
mod members;
mod states;

pub(super) const STATES: [&str; 9] = [
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
pub(super) fn matrix() -> BTreeSet<(&'static str, &'static str)> {
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
pub(super) fn path_to(target: &str) -> Vec<&'static str> {
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

pub(super) async fn workspace(pool: &Db, name: &str) -> Uuid {
    sqlx::query_scalar("INSERT INTO core.workspaces (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(pool)
        .await
        .expect("workspace")
}

pub(super) async fn integration(pool: &Db, ws: Uuid, platform: &str) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, $2) RETURNING id",
    )
    .bind(ws)
    .bind(platform)
    .fetch_one(pool)
    .await
    .expect("integration")
}

pub(super) async fn transition(pool: &Db, id: Uuid, to: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT mcp.transition_integration_state($1, $2, 'test')")
        .bind(id)
        .bind(to)
        .fetch_one(pool)
        .await
}

pub(super) async fn active(pool: &Db, ws: Uuid, platform: &str) -> Uuid {
    let id = integration(pool, ws, platform).await;
    for s in ["CONNECTED", "ACTIVE"] {
        transition(pool, id, s).await.expect("to active");
    }
    id
}

pub(super) async fn transition_on(conn: &mut sqlx::PgConnection, id: Uuid, to: &str) {
    sqlx::query("SELECT mcp.transition_integration_state($1, $2, 'by member')")
        .bind(id)
        .bind(to)
        .execute(&mut *conn)
        .await
        .expect("member transition");
}

/// Workspaces `a` and `b` with an ACTIVE integration each (Slack in `a`, Zoom in `b`): their ids
/// and their integrations' ids.
pub(super) async fn two_workspaces(pool: &Db) -> (Uuid, Uuid, Uuid, Uuid) {
    let a = workspace(pool, "a").await;
    let b = workspace(pool, "b").await;
    let ia = active(pool, a, "slack").await;
    let ib = active(pool, b, "zoom").await;
    (a, b, ia, ib)
}

/// A NOLOGIN role granted `mcp_workspace_member`, mapped to `ws` when given.
pub(super) async fn member(db: &TestDb, suffix: &str, ws: Option<Uuid>) -> String {
    let role = format!("{}_{suffix}", db.name);
    db.exec(&format!(
        "CREATE ROLE {role} NOLOGIN; GRANT mcp_workspace_member TO {role};"
    ))
    .await;
    if let Some(ws) = ws {
        db.exec(&format!(
            "INSERT INTO core.workspace_roles (role_name, workspace_id) VALUES ('{role}', '{ws}')"
        ))
        .await;
    }
    role
}

/// Drops the roles and what they own.
pub(super) async fn drop_roles(db: &TestDb, roles: &[&str]) {
    for r in roles {
        db.exec(&format!("DROP OWNED BY {r}; DROP ROLE {r};")).await;
    }
}

/// Runs `sql` (one statement or more) in the session; it must succeed.
pub(super) async fn run_on(
    conn: &mut sqlx::PgConnection,
    sql: &str,
) -> sqlx::postgres::PgQueryResult {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The error `sql` fails with in the session; it must fail.
pub(super) async fn refused_on(conn: &mut sqlx::PgConnection, sql: &str) -> String {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(conn)
        .await
        .expect_err(sql)
        .to_string()
}

/// Resets the session's role and gives the connection back to the pool.
pub(super) async fn release(mut conn: sqlx::pool::PoolConnection<sqlx::Postgres>) {
    run_on(&mut conn, "RESET ROLE").await;
}

pub(super) async fn record(
    pool: &Db,
    id: Uuid,
    status: &str,
    err: Option<&str>,
) -> (String, String, i32) {
    sqlx::query_as("SELECT * FROM mcp.record_health_check($1, $2, 7, $3, 'x')")
        .bind(id)
        .bind(status)
        .bind(err)
        .fetch_one(pool)
        .await
        .expect("record")
}

pub(super) async fn can_execute(pool: &Db, id: Uuid) -> bool {
    sqlx::query_scalar("SELECT mcp.can_execute_request($1)")
        .bind(id)
        .fetch_one(pool)
        .await
        .expect("gate")
}

//! The integrations schema as SQL users meet it: the state machine, the event log, row-level
//! security, the circuit breaker functions, the views, the health sweep.

use std::collections::{BTreeSet, HashMap, VecDeque};

use chrono::TimeZone;
use mcp_daemon::config::{Config, ScheduleConfig};
use mcp_queue::scheduler::Scheduler;
use sqlx::PgPool;
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

pub(super) async fn workspace(pool: &PgPool, name: &str) -> Uuid {
    sqlx::query_scalar("INSERT INTO core.workspaces (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(pool)
        .await
        .expect("workspace")
}

pub(super) async fn integration(pool: &PgPool, ws: Uuid, platform: &str) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, $2) RETURNING id",
    )
    .bind(ws)
    .bind(platform)
    .fetch_one(pool)
    .await
    .expect("integration")
}

pub(super) async fn transition(pool: &PgPool, id: Uuid, to: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT mcp.transition_integration_state($1, $2, 'test')")
        .bind(id)
        .bind(to)
        .fetch_one(pool)
        .await
}

pub(super) async fn active(pool: &PgPool, ws: Uuid, platform: &str) -> Uuid {
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

pub(super) async fn record(
    pool: &PgPool,
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

pub(super) async fn can_execute(pool: &PgPool, id: Uuid) -> bool {
    sqlx::query_scalar("SELECT mcp.can_execute_request($1)")
        .bind(id)
        .fetch_one(pool)
        .await
        .expect("gate")
}

//! The daemon's own moves of an integration between states: each through
//! `mcp.transition_integration_state` (the state machine of migration 0002 refuses any other),
//! the conditional ones only from the states their named predicate allows (migration 0008).

use super::IntegrationState;
use mcp_platforms::connectors::Platform;
use mcp_queue::pg;

/// Moves an integration to `to` with `reason`, along the transitions migration 0002 allows (a
/// refused transition is the database's error).
pub async fn transition(
    db: impl sqlx::PgExecutor<'_>,
    id: uuid::Uuid,
    to: IntegrationState,
    reason: &str,
) -> Result<(), sqlx::Error> {
    transition_if(db, TRANSITION_SQL, id, to, reason).await
}

/// `transition`'s statement.
pub const TRANSITION_SQL: &str = "SELECT mcp.transition_integration_state($1, $2, $3)";

/// A new integration of `p` in `ws`, PENDING.
pub async fn insert(
    db: impl sqlx::PgExecutor<'_>,
    ws: uuid::Uuid,
    p: Platform,
) -> Result<uuid::Uuid, sqlx::Error> {
    pg::query_scalar(
        "INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, $2) RETURNING id",
    )
    .bind(ws)
    .bind(p.as_str())
    .fetch_one(db)
    .await
}

/// The daemon's conditional transitions (exposed for the plan tests): `$1` the integration,
/// `$2` the state it moves to, `$3` the reason; each moves it only from the states its named
/// predicate allows (migration 0008).
pub const MARK_BROKEN_SQL: &str = "\
SELECT mcp.transition_integration_state($1, $2, $3) \
FROM core.integrations WHERE id = $1 AND core.state_callable(state)";
pub const REVOKE_SQL: &str = "\
SELECT mcp.transition_integration_state($1, $2, $3) \
FROM core.integrations WHERE id = $1 AND core.state_revocable(state)";
pub const REFUSED_SQL: &str = "\
SELECT mcp.transition_integration_state($1, $2, $3) \
FROM core.integrations WHERE id = $1 AND core.state_in_service(state)";

async fn transition_if(
    db: impl sqlx::PgExecutor<'_>,
    sql: &'static str,
    id: uuid::Uuid,
    to: IntegrationState,
    reason: &str,
) -> Result<(), sqlx::Error> {
    pg::query(sql)
        .bind(id)
        .bind(to.as_str())
        .bind(reason)
        .execute(db)
        .await
        .map(|_| ())
}

/// Its credentials cannot be used (missing, tampered, sealed with a key not loaded): a callable
/// integration moves to ERROR with `reason`, since no call can succeed until it is reconnected.
pub async fn mark_broken(
    db: impl sqlx::PgExecutor<'_>,
    id: uuid::Uuid,
    reason: &str,
) -> Result<(), sqlx::Error> {
    transition_if(db, MARK_BROKEN_SQL, id, IntegrationState::Error, reason).await
}

/// The platform withdrew access: a revocable integration moves to REVOKED with `reason`.
pub async fn revoke(
    db: impl sqlx::PgExecutor<'_>,
    id: uuid::Uuid,
    reason: &str,
) -> Result<(), sqlx::Error> {
    transition_if(db, REVOKE_SQL, id, IntegrationState::Revoked, reason).await
}

/// The platform refused the integration's grant (a refresh answered `auth_invalid` or
/// `revoked`): an in-service integration moves to `to` (EXPIRED or REVOKED) with `reason`.
pub async fn refused_by_platform(
    db: impl sqlx::PgExecutor<'_>,
    id: uuid::Uuid,
    to: IntegrationState,
    reason: &str,
) -> Result<(), sqlx::Error> {
    transition_if(db, REFUSED_SQL, id, to, reason).await
}

/// `cancel_jobs`' statement (exposed for the plan tests).
pub const CANCEL_JOBS_SQL: &str = "\
UPDATE mcp.sync_jobs SET state = 'cancelled', finished_at = now() \
WHERE integration_id = $1 AND state IN ('available', 'scheduled', 'retryable') \
  AND ($2::text IS NULL OR kind <> $2)";

/// Cancels an integration's jobs that have not started (available, scheduled, retryable), as an
/// integration that ends does; running ones finish (their handlers see the integration out of
/// service). Returns how many were cancelled; jobs of `keep_kind` are left alone. Takes a pool or
/// a transaction's connection.
pub async fn cancel_jobs(
    db: impl sqlx::PgExecutor<'_>,
    integration_id: uuid::Uuid,
    keep_kind: Option<&str>,
) -> Result<u64, sqlx::Error> {
    Ok(pg::query(CANCEL_JOBS_SQL)
        .bind(integration_id)
        .bind(keep_kind)
        .execute(db)
        .await?
        .rows_affected())
}

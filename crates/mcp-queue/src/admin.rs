//! What the CLI (and tests) do to single jobs: enqueue, list, show, cancel, retry.
//! Everything goes through the SQL functions that SQL users call too, so there is one behaviour.

use crate::pg::{self, Db};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::QueueError;

#[derive(Debug, Clone, Default)]
pub struct EnqueueRequest {
    pub kind: String,
    pub payload: serde_json::Value,
    pub run_at: Option<DateTime<Utc>>,
    pub priority: Option<i32>,
    pub max_attempts: Option<i32>,
    pub unique_key: Option<String>,
    pub queue: Option<String>,
}

/// One row of `mcp.sync_jobs`, as SQL users see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub queue: String,
    pub integration_id: Option<String>,
    pub payload: serde_json::Value,
    pub state: String,
    pub priority: i16,
    pub run_at: DateTime<Utc>,
    pub attempt: i16,
    pub max_attempts: Option<i16>,
    pub unique_key: Option<String>,
    pub last_error: Option<String>,
    pub errors: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub attempted_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub locked_by: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, kind, queue, integration_id::text AS integration_id, payload, state, \
    priority, run_at, attempt, max_attempts, unique_key, last_error, errors, created_at, \
    attempted_at, finished_at, locked_by, lease_expires_at";

/// The enqueue statement (exposed for the plan tests).
pub const ENQUEUE_SQL: &str =
    "SELECT mcp.enqueue_job($1, $2, run_at => $3, priority => COALESCE($4, 0), \
     max_attempts => $5, unique_key => $6, queue => COALESCE($7, 'default'))";

/// Enqueues through `mcp.enqueue_job`; returns the new (or live duplicate's) id.
pub async fn enqueue(pool: &Db, req: &EnqueueRequest) -> Result<i64, QueueError> {
    let id: i64 = pg::query_scalar(ENQUEUE_SQL)
        .bind(&req.kind)
        .bind(&req.payload)
        .bind(req.run_at)
        .bind(req.priority)
        .bind(req.max_attempts)
        .bind(&req.unique_key)
        .bind(&req.queue)
        .fetch_one(pool)
        .await
        .map_err(refusal)?;
    Ok(id)
}

/// Latest jobs first, optionally of one state and/or kind.
pub async fn list(
    pool: &Db,
    state: Option<&str>,
    kind: Option<&str>,
    limit: i64,
) -> Result<Vec<JobRow>, QueueError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM mcp.sync_jobs \
         WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR kind = $2) \
         ORDER BY id DESC LIMIT $3"
    );
    Ok(pg::query_as(sqlx::AssertSqlSafe(sql))
        .bind(state)
        .bind(kind)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

pub async fn show(pool: &Db, id: i64) -> Result<JobRow, QueueError> {
    let sql = format!("SELECT {COLUMNS} FROM mcp.sync_jobs WHERE id = $1");
    pg::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(QueueError::NotFound(id))
}

/// `mcp.cancel_job`: false when the job had already finished.
pub async fn cancel(pool: &Db, id: i64) -> Result<bool, QueueError> {
    show(pool, id).await?;
    Ok(pg::query_scalar("SELECT mcp.cancel_job($1)")
        .bind(id)
        .fetch_one(pool)
        .await?)
}

/// `mcp.retry_job`: false when the job is running.
pub async fn retry(pool: &Db, id: i64) -> Result<bool, QueueError> {
    show(pool, id).await?;
    Ok(pg::query_scalar("SELECT mcp.retry_job($1)")
        .bind(id)
        .fetch_one(pool)
        .await?)
}

/// The engine's enqueue as SQL text, for a caller that must add jobs inside one statement of
/// its own, next to its other writes (a data-modifying CTE: the webhook intake, the processing of
/// webhook events), where a function call per statement would cost a tenth of the intake's
/// throughput. One job of `$kind` (a kind type's `KIND`) per row of `$rows` (a parenthesised query with the columns
/// `integration_id`, `payload`, `run_at` (NULL: now) and `unique_key` (NULL: none)); a live job
/// with the same key is left alone. With `unkeyed`, `$rows` has only `integration_id` and
/// `payload`, every row becomes a job due now, and no conflict is looked for (a plain insert).
/// The text is the engine's; callers only compose it. Its payloads are built from typed values,
/// so it sets `mcp.enqueue_typed` for its transaction and the INSERT's per-statement SQL check
/// (migration 0025) is skipped; the claim still checks each payload.
#[macro_export]
macro_rules! enqueue_rows_sql {
    ($kind:expr, $rows:expr, unkeyed) => {
        $crate::const_format::concatcp!(
            "INSERT INTO mcp.sync_jobs (kind, integration_id, payload) SELECT '",
            $kind,
            "', r.integration_id, r.payload FROM ",
            $rows,
            " AS r WHERE set_config('mcp.enqueue_typed', 'on', true) = 'on'"
        )
    };
    ($kind:expr, $rows:expr) => {
        $crate::const_format::concatcp!(
            "INSERT INTO mcp.sync_jobs (kind, integration_id, payload, run_at, unique_key) \
             SELECT '",
            $kind,
            "', r.integration_id, r.payload, COALESCE(r.run_at, now()), r.unique_key FROM ",
            $rows,
            " AS r WHERE set_config('mcp.enqueue_typed', 'on', true) = 'on' \
             ORDER BY r.integration_id ON CONFLICT DO NOTHING"
        )
    };
}

/// Turns the database's refusal of a row (unknown kind, bad value) into a readable error.
fn refusal(e: sqlx::Error) -> QueueError {
    if let sqlx::Error::Database(db) = &e {
        let detail = db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .and_then(|p| p.detail().map(str::to_string));
        let msg = match detail {
            Some(d) => format!("{} ({d})", db.message()),
            None => db.message().to_string(),
        };
        return QueueError::Refused(msg);
    }
    QueueError::Db(e)
}

//! Claiming: one statement moves up to N due jobs to `running` under `FOR UPDATE SKIP LOCKED`,
//! so two daemons never get the same job, and stamps attempt, lease and worker.

use super::{Queue, QueueError};

#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub attempt: i16,
    pub max_attempts: i16,
    pub integration_id: Option<String>,
}

const CLAIM_SQL: &str = "\
WITH k AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::smallint[]) AS k(kind, lease_ms, max_attempts)
), picked AS (
    SELECT j.id
    FROM mcp.sync_jobs j
    WHERE j.state IN ('available', 'scheduled', 'retryable')
      AND j.run_at <= now()
      AND j.kind = ANY($1)
      AND (cardinality($6::text[]) = 0 OR j.queue = ANY($6))
    ORDER BY j.priority, j.run_at, j.id
    LIMIT $4
    FOR UPDATE SKIP LOCKED
)
UPDATE mcp.sync_jobs j
SET state = 'running',
    attempt = j.attempt + 1,
    attempted_at = now(),
    max_attempts = COALESCE(j.max_attempts, k.max_attempts),
    locked_by = $5,
    lease_expires_at = now() + k.lease_ms * interval '1 millisecond'
FROM picked, k
WHERE j.id = picked.id AND k.kind = j.kind
RETURNING j.id, j.kind, j.payload, j.attempt, j.max_attempts, j.integration_id::text";

impl Queue {
    /// Claims up to `limit` due jobs for this worker.
    pub async fn claim(&self, limit: usize) -> Result<Vec<ClaimedJob>, QueueError> {
        let rows: Vec<(i64, String, serde_json::Value, i16, i16, Option<String>)> =
            sqlx::query_as(CLAIM_SQL)
                .bind(&self.kinds)
                .bind(&self.lease_ms)
                .bind(&self.max_attempts)
                .bind(limit as i64)
                .bind(&self.worker_id)
                .bind(&self.queues)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, kind, payload, attempt, max_attempts, integration_id)| ClaimedJob {
                    id,
                    kind,
                    payload,
                    attempt,
                    max_attempts,
                    integration_id,
                },
            )
            .collect())
    }
}

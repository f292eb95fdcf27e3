//! Claiming: `mcp.claim_jobs` moves due jobs to `running` under `FOR UPDATE SKIP LOCKED`, so two
//! daemons never get the same job, and stamps attempt, lease and worker. It takes at most a
//! given number of jobs of each kind (the daemon's free per-kind slots) and walks the live
//! partition's per-kind claim index in order, whatever the statistics say.

use crate::pg;
use std::time::Instant;

use metrics::histogram;

use super::{Queue, QueueError};
use crate::metrics as m;

#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub attempt: i16,
    pub max_attempts: i16,
}

/// The claim statement (exposed for the plan tests).
pub const CLAIM_SQL: &str = "\
SELECT id, kind, payload, attempt, max_attempts \
FROM mcp.claim_jobs($1, $2, $3, $4, $5, $6, $7)";

impl Queue {
    /// Claims up to `limit` due jobs for this worker, at most `caps[i]` of the i-th kind of
    /// [`Queue::kinds`] (a cap of 0 skips that kind).
    pub async fn claim(&self, limit: usize, caps: &[i32]) -> Result<Vec<ClaimedJob>, QueueError> {
        let waited = Instant::now();
        let mut conn = self.pool.acquire().await?;
        histogram!(m::DB_POOL_WAIT, "op" => "claim").record(waited.elapsed().as_secs_f64());
        let rows: Vec<(i64, String, serde_json::Value, i16, i16)> = pg::query_as(CLAIM_SQL)
            .bind(&self.kinds)
            .bind(caps)
            .bind(&self.lease_ms)
            .bind(&self.max_attempts)
            .bind(i32::try_from(limit).unwrap_or(i32::MAX))
            .bind(&self.worker_id)
            .bind(&self.queues)
            .fetch_all(self.pool.on(&mut conn))
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, kind, payload, attempt, max_attempts)| ClaimedJob {
                id,
                kind,
                payload,
                attempt,
                max_attempts,
            })
            .collect())
    }
}

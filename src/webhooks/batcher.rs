//! Group commit for the intake: verified events from concurrent deliveries are written together
//! — events, their `webhook_process` jobs and `last_event_at` — in one statement (one
//! transaction, one WAL flush), and each delivery is answered only after that commit. Under
//! load, batches form by themselves (whatever arrived while the previous write ran); when idle,
//! each event is written at once. It never answers a delivery before its event is durable.

use std::collections::HashSet;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::Stored;

/// One verified event waiting to be stored.
pub struct PendingEvent {
    pub webhook_id: Uuid,
    pub integration_id: Uuid,
    pub workspace_id: Uuid,
    pub platform: String,
    pub dedup_key: String,
    pub event_type: Option<String>,
    pub payload: serde_json::Value,
    pub body_sha256: Vec<u8>,
}

struct Job {
    event: PendingEvent,
    reply: oneshot::Sender<Result<Stored, String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("the event store is gone")]
    Closed,
    #[error("database: {0}")]
    Db(String),
}

/// The handle the HTTP handlers use; the writer task lives as long as one handle does.
#[derive(Clone)]
pub struct EventBatcher {
    tx: mpsc::Sender<Job>,
}

impl EventBatcher {
    pub fn start(pool: PgPool, max_batch: usize) -> EventBatcher {
        let (tx, rx) = mpsc::channel(max_batch.max(1) * 4);
        tokio::spawn(writer(pool, rx, max_batch.max(1)));
        EventBatcher { tx }
    }

    /// Stores one event (with the next batch) and says whether it was new.
    pub async fn store(&self, event: PendingEvent) -> Result<Stored, BatchError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { event, reply })
            .await
            .map_err(|_| BatchError::Closed)?;
        answer
            .await
            .map_err(|_| BatchError::Closed)?
            .map_err(BatchError::Db)
    }
}

async fn writer(pool: PgPool, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        match write(&pool, &batch).await {
            Ok(new_ids) => {
                for (job, id) in batch.drain(..).zip(new_ids) {
                    let _ = job.reply.send(Ok(match id {
                        Some(id) => Stored::New(id),
                        None => Stored::Duplicate,
                    }));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(msg.clone()));
                }
            }
        }
    }
}

type Inserted = (i64, Uuid, String);

/// Writes a batch; returns, per job in order, the new event's id or `None` for a duplicate
/// (of an earlier delivery, or of an earlier job in the same batch).
async fn write(pool: &PgPool, batch: &[Job]) -> Result<Vec<Option<i64>>, sqlx::Error> {
    let n = batch.len();
    let mut hook = Vec::with_capacity(n);
    let mut integration = Vec::with_capacity(n);
    let mut workspace = Vec::with_capacity(n);
    let mut platform = Vec::with_capacity(n);
    let mut dedup = Vec::with_capacity(n);
    let mut kind = Vec::with_capacity(n);
    let mut payload = Vec::with_capacity(n);
    let mut sha = Vec::with_capacity(n);
    for j in batch {
        let e = &j.event;
        hook.push(e.webhook_id);
        integration.push(e.integration_id);
        workspace.push(e.workspace_id);
        platform.push(e.platform.as_str());
        dedup.push(e.dedup_key.as_str());
        kind.push(e.event_type.as_deref());
        payload.push(&e.payload);
        sha.push(e.body_sha256.as_slice());
    }
    let rows: Vec<Inserted> = sqlx::query_as(
        "WITH input AS ( \
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], \
                                 $6::text[], $7::jsonb[], $8::bytea[]) \
                   AS t(webhook_id, integration_id, workspace_id, platform, dedup_key, \
                        event_type, payload, body_sha256)), \
         ins AS ( \
            INSERT INTO mcp.webhook_events (webhook_id, integration_id, workspace_id, platform, \
                                            dedup_key, event_type, payload, body_sha256) \
            SELECT * FROM input \
            ON CONFLICT (webhook_id, dedup_key) DO NOTHING \
            RETURNING id, webhook_id, dedup_key, integration_id), \
         job AS ( \
            INSERT INTO mcp.sync_jobs (kind, integration_id, payload) \
            SELECT 'webhook_process', ins.integration_id, jsonb_build_object('event_id', ins.id) \
            FROM ins), \
         seen AS ( \
            UPDATE mcp.webhooks SET last_event_at = now() \
            WHERE id IN (SELECT webhook_id FROM ins) \
              AND (last_event_at IS NULL OR last_event_at < now() - interval '1 second')) \
         SELECT id, webhook_id, dedup_key FROM ins",
    )
    .bind(&hook)
    .bind(&integration)
    .bind(&workspace)
    .bind(&platform)
    .bind(&dedup)
    .bind(&kind)
    .bind(&payload)
    .bind(&sha)
    .fetch_all(pool)
    .await?;
    // The first job of each (webhook, dedup key) inserted gets the id; any repeat is a duplicate.
    let mut taken: HashSet<(Uuid, &str)> = HashSet::new();
    Ok(batch
        .iter()
        .map(|j| {
            let key = (j.event.webhook_id, j.event.dedup_key.as_str());
            if taken.contains(&key) {
                return None;
            }
            let id = rows
                .iter()
                .find(|(_, w, d)| *w == key.0 && d == key.1)
                .map(|r| r.0);
            if id.is_some() {
                taken.insert(key);
            }
            id
        })
        .collect())
}

//! Group commit for the intake: verified events from concurrent deliveries are written together
//! — events, one `webhook_process` job per integration for them, and `last_event_at` — in one
//! statement (one transaction), and each delivery is answered only after that commit. A few writers take turns
//! at the queue of waiting events, so that one batch is collected while others commit (their WAL
//! flushes are shared by PostgreSQL). Under load, batches form by themselves; when idle, each
//! event is written at once. In a daemon the writes skip the per-statement NOTIFY (which would
//! make the writers commit one at a time) and wake the workers through `QuietWake`.
//! It never answers a delivery before its event is durable.

use mcp_queue::pg::{self, Db};
use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};
use uuid::Uuid;

use mcp_queue::QuietWake;

use super::Stored;
use crate::kinds::{Kind, WebhookProcess};

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
    /// `writers` tasks writing batches of up to `max_batch` events. With `wake`, the jobs are
    /// enqueued without NOTIFY and the workers are woken through it; without, every batch
    /// notifies (for an intake whose workers run elsewhere).
    pub fn start(
        pool: Db,
        max_batch: usize,
        writers: usize,
        wake: Option<QuietWake>,
    ) -> EventBatcher {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch * 4);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..writers.max(1) {
            tokio::spawn(writer(pool.clone(), rx.clone(), max_batch, wake.clone()));
        }
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

async fn writer(
    pool: Db,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    max_batch: usize,
    wake: Option<QuietWake>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        // The lock is held only while collecting: the next writer collects while this one writes.
        let got = rx.lock().await.recv_many(&mut batch, max_batch).await;
        if got == 0 {
            return;
        }
        match write(&pool, &batch, wake.is_some()).await {
            Ok(new_ids) => {
                if let Some(w) = &wake {
                    if new_ids.iter().any(Option::is_some) {
                        w.wake();
                    }
                }
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

/// The intake's statement: the events, one `webhook_process` job per integration for the new
/// ones, and `last_event_at` (kept to the second; a batch that finds the webhook's row locked by
/// another batch, which is updating it anyway, skips it rather than wait for that commit). An
/// event of a platform in `$9` (`mcp_platforms::webhooks::UNTIMED`: its deliveries carry no
/// signed time) is stored only when the SHA-256 of its dedup key is new to
/// `mcp.webhook_dedup` (migration 0015), which keeps those keys long after the events are
/// pruned: a replay of a pruned event stays a duplicate. An event of an integration that was
/// revoked or deleted since its webhook was looked up (the intake caches rows for seconds) is
/// dropped here, as a duplicate is. The argument adds a condition on each input row: the quiet
/// form sets `mcp.skip_notify` for the statement's own transaction (migration 0006), in the same
/// round trip.
macro_rules! intake_sql {
    ($input_filter:literal) => {
        const_format::concatcp!(
            "WITH input AS ( \
                SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], \
                                     $6::text[], $7::jsonb[], $8::bytea[]) \
                       AS t(webhook_id, integration_id, workspace_id, platform, dedup_key, \
                            event_type, payload, body_sha256) \
                WHERE EXISTS (SELECT 1 FROM core.integrations i \
                              WHERE i.id = t.integration_id \
                                AND i.state NOT IN ('REVOKED', 'DELETED')) ",
            $input_filter,
            "), \
             seen AS ( \
                INSERT INTO mcp.webhook_dedup (webhook_id, key_sha256, platform) \
                SELECT webhook_id, sha256(convert_to(dedup_key, 'UTF8')), platform FROM input \
                WHERE platform = ANY($9::text[]) ORDER BY 1, 2 \
                ON CONFLICT (webhook_id, key_sha256) DO NOTHING \
                RETURNING webhook_id, key_sha256), \
             ins AS ( \
                INSERT INTO mcp.webhook_events (webhook_id, integration_id, workspace_id, platform, \
                                                dedup_key, event_type, payload, body_sha256) \
                SELECT * FROM input \
                WHERE NOT (platform = ANY($9::text[])) \
                   OR (webhook_id, sha256(convert_to(dedup_key, 'UTF8'))) \
                      IN (SELECT webhook_id, key_sha256 FROM seen) \
                ORDER BY webhook_id, dedup_key \
                ON CONFLICT (webhook_id, dedup_key) DO NOTHING \
                RETURNING id, webhook_id, dedup_key, integration_id), \
             job AS (",
            mcp_queue::enqueue_rows_sql!(
                WebhookProcess::KIND,
                "(SELECT ins.integration_id, \
                         jsonb_build_object('event_ids', jsonb_agg(ins.id ORDER BY ins.id)) \
                           AS payload \
                  FROM ins GROUP BY ins.integration_id)",
                unkeyed
            ),
            "), \
             seen_at AS ( \
                UPDATE mcp.webhooks w SET last_event_at = now() \
                FROM (SELECT id FROM mcp.webhooks \
                      WHERE id IN (SELECT webhook_id FROM ins) \
                        AND (last_event_at IS NULL OR last_event_at < now() - interval '1 second') \
                      ORDER BY id FOR NO KEY UPDATE SKIP LOCKED) due \
                WHERE w.id = due.id) \
             SELECT id, webhook_id, dedup_key FROM ins"
        )
    };
}
/// The intake's statement, notifying and quiet (both exposed for the plan tests).
pub const INTAKE: &str = intake_sql!("");
pub const INTAKE_QUIET: &str = intake_sql!("AND set_config('mcp.skip_notify', 'on', true) = 'on'");

/// The names of the platforms whose dedup keys outlive their events (`$9`).
pub fn untimed() -> Vec<&'static str> {
    mcp_platforms::webhooks::UNTIMED
        .iter()
        .map(|p| p.as_str())
        .collect()
}

/// Writes a batch; returns, per job in order, the new event's id or `None` for a duplicate
/// (of an earlier delivery, or of an earlier job in the same batch).
async fn write(pool: &Db, batch: &[Job], quiet: bool) -> Result<Vec<Option<i64>>, sqlx::Error> {
    let n = batch.len();
    // Rows in one order (webhook, dedup key) in every batch, so that two batches holding the
    // same repeated deliveries wait for each other instead of deadlocking.
    let mut order: Vec<&Job> = batch.iter().collect();
    order.sort_by(|a, b| {
        (a.event.webhook_id, &a.event.dedup_key).cmp(&(b.event.webhook_id, &b.event.dedup_key))
    });
    let mut hook = Vec::with_capacity(n);
    let mut integration = Vec::with_capacity(n);
    let mut workspace = Vec::with_capacity(n);
    let mut platform = Vec::with_capacity(n);
    let mut dedup = Vec::with_capacity(n);
    let mut kind = Vec::with_capacity(n);
    let mut payload = Vec::with_capacity(n);
    let mut sha = Vec::with_capacity(n);
    for j in order {
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
    let sql = if quiet { INTAKE_QUIET } else { INTAKE };
    let statement = pg::query_as::<Inserted>(sql)
        .bind(&hook)
        .bind(&integration)
        .bind(&workspace)
        .bind(&platform)
        .bind(&dedup)
        .bind(&kind)
        .bind(&payload)
        .bind(&sha)
        .bind(untimed());
    let rows = statement.fetch_all(pool).await?;
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

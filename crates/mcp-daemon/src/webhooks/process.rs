//! Group processing for `webhook_process` jobs: the attempts running at the same time hand their
//! events' ids to one task, which reads those events in one query and, for every event that is
//! news to fetch, asks for the integration's coalesced `sync` and marks the event processed in
//! one statement (one transaction, one commit for the whole group). An event that says items
//! were deleted at the platform tombstones them in that same transaction; one that carries its
//! item whole (a Slack message) stores it there instead of asking for a sync. Revocations are
//! handed back to their attempt, which moves the integration to REVOKED in a transaction of its
//! own; an access withdrawal that an app-wide secret alone signs (Monday's `uninstall`) is
//! handed back too, and its attempt asks for a check of the integration's token instead.
//! Under load, groups form by themselves (whatever arrived while the previous group ran); when
//! idle, an event is processed at once. Every step is idempotent, so a retried attempt is safe.

use mcp_queue::pg::{self, Db};
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::items::{self, FeedWake, Modeller};
use crate::kinds::{Kind, Sync};
use mcp_platforms::connectors::Platform;
use mcp_platforms::webhooks::deletions::{self, DELETION_EVENT_TYPES};
use mcp_platforms::webhooks::meaning::{meaning, Meaning, PAYLOAD_READ as PAYLOAD_READ_PLATFORMS};
use mcp_platforms::webhooks::messages;

/// The most attempts one group holds (each may bring many events).
const MAX_GROUP: usize = 256;

/// How long a sync waits after the event that asked for it, so that a burst is one sync.
pub const SYNC_DEBOUNCE: Duration = Duration::from_secs(2);

/// What the group did with one event.
#[derive(Debug, Clone)]
pub enum Processed {
    /// No such event (pruned, or a payload naming a wrong id).
    Missing,
    /// Marked processed, with its integration's sync asked for; how long it waited.
    Changed { platform: String, waited: Duration },
    /// Handed back to the attempt, which acts on its integration in a transaction of its own
    /// with the event marked processed.
    HandedBack {
        integration: Uuid,
        platform: String,
        reason: &'static str,
        action: HandBack,
    },
}

/// What the attempt does for an event handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandBack {
    /// The platform says access was withdrawn: REVOKED, its pending work cancelled.
    Revoke,
    /// The event says access was withdrawn, but its signature cannot tell which customer sent
    /// it: a check of the integration's token (`health_check`) is asked for instead.
    CheckAccess,
    /// The platform removed the subscription the event came by: it is made again
    /// (`webhook_subscribe`) and a `sync` is asked for what was missed.
    Resubscribe,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("the webhook processor is gone")]
    Closed,
    #[error("database: {0}")]
    Db(String),
}

struct Request {
    event_ids: Vec<i64>,
    reply: oneshot::Sender<Result<Vec<(i64, Processed)>, String>>,
}

/// The handle attempts use; its task is started on first use with that attempt's pool and lives
/// as long as the handle.
#[derive(Default)]
pub struct EventProcessor {
    tx: OnceLock<mpsc::Sender<Request>>,
}

impl EventProcessor {
    /// Processes these events with whatever group is forming, and says what became of each.
    pub async fn process(
        &self,
        pool: &Db,
        feed: &FeedWake,
        modeller: &Modeller,
        event_ids: Vec<i64>,
    ) -> Result<Vec<(i64, Processed)>, ProcessError> {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(MAX_GROUP * 4);
            tokio::spawn(run(pool.clone(), feed.sender(pool), modeller.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        tx.send(Request { event_ids, reply })
            .await
            .map_err(|_| ProcessError::Closed)?;
        answer
            .await
            .map_err(|_| ProcessError::Closed)?
            .map_err(ProcessError::Db)
    }
}

async fn run(
    pool: Db,
    feed: mpsc::UnboundedSender<Uuid>,
    modeller: Modeller,
    mut rx: mpsc::Receiver<Request>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let ids: Vec<i64> = group
            .iter()
            .flat_map(|r| r.event_ids.iter().copied())
            .collect();
        match process_group(&pool, &feed, &modeller, &ids).await {
            Ok(done) => {
                // Two attempts may name the same event (a retry, a job enqueued by hand): each
                // hears what became of it.
                for r in group.drain(..) {
                    let outcomes = r
                        .event_ids
                        .iter()
                        .map(|id| (*id, done.get(id).cloned().unwrap_or(Processed::Missing)))
                        .collect();
                    let _ = r.reply.send(Ok(outcomes));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for r in group.drain(..) {
                    let _ = r.reply.send(Err(msg.clone()));
                }
            }
        }
    }
}

type EventRow = (i64, Uuid, String, Option<String>, Value);

/// The group's read of its events (exposed for the plan tests): `$1` the event ids, `$2` the
/// platforms whose payload is read ([`PAYLOAD_READ`]), `$3` the event types whose payload may
/// name deleted items ([`DELETION_EVENT_TYPES`]) or carry one whole (Slack's `message`).
pub const READ_EVENTS_SQL: &str = "\
SELECT id, integration_id, platform, event_type, \
       CASE WHEN platform = ANY($2) OR event_type = ANY($3) THEN payload \
            ELSE 'null'::jsonb END \
FROM mcp.webhook_events WHERE id = ANY($1)";

/// The group's write (exposed for the plan tests): one coalesced `sync` per integration (`$1`)
/// due after the debounce (`$2`, milliseconds), and the events (`$3`) marked processed.
pub const MARK_PROCESSED_SQL: &str = const_format::concatcp!(
    "WITH wanted AS (",
    mcp_queue::enqueue_rows_sql!(
        Sync::KIND,
        const_format::concatcp!(
            "(SELECT i.id AS integration_id, jsonb_build_object('integration_id', i.id) AS payload, \
                     now() + $2 * interval '1 millisecond' AS run_at, '",
            Sync::KIND,
            ":' || i.id AS unique_key \
              FROM core.integrations i \
              WHERE i.id = ANY($1) AND core.state_synced(i.state) \
                AND EXISTS (SELECT 1 FROM mcp.job_kinds WHERE kind = '",
            Sync::KIND,
            "'))"
        )
    ),
    ") \
     UPDATE mcp.webhook_events SET processed_at = COALESCE(processed_at, now()) \
     WHERE id = ANY($3) \
       AND set_config('mcp.skip_notify', 'on', true) = 'on' \
       AND set_config('synchronous_commit', 'off', true) = 'off' \
     RETURNING id, extract(epoch FROM processed_at - received_at)::float8"
);

/// Reads the group's events, classifies them, and processes the ones that are news in one
/// statement. Returns what became of each event found.
async fn process_group(
    pool: &Db,
    feed: &mpsc::UnboundedSender<Uuid>,
    modeller: &Modeller,
    ids: &[i64],
) -> Result<HashMap<i64, Processed>, sqlx::Error> {
    // The payload travels only for the platforms and events whose meaning is read from it.
    let rows: Vec<EventRow> = pg::query_as(READ_EVENTS_SQL)
        .bind(ids)
        .bind(&PAYLOAD_READ[..])
        .bind(DELETION_EVENT_TYPES)
        .fetch_all(pool)
        .await?;
    let mut stones = Vec::new();
    let mut carried = Vec::new();
    let mut out = HashMap::with_capacity(rows.len());
    let mut changed_ids = Vec::new();
    let mut changed_integrations = Vec::new();
    let mut platforms = HashMap::new();
    for (id, integration, platform, event_type, payload) in rows {
        let m = Platform::parse(&platform)
            .map(|p| meaning(p, event_type.as_deref(), &payload))
            .unwrap_or(Meaning::Changed);
        match handed_back(&m) {
            Some((reason, action)) => {
                out.insert(
                    id,
                    Processed::HandedBack {
                        integration,
                        platform,
                        reason,
                        action,
                    },
                );
            }
            None => {
                let p = Platform::parse(&platform);
                for d in p.map_or_else(Vec::new, |p| {
                    deletions::deletions(p, event_type.as_deref(), &payload)
                }) {
                    stones.push(items::Tombstone {
                        integration_id: integration,
                        gone: d.gone,
                        reason: d.reason.to_string(),
                    });
                }
                // An event that carries its item whole stores it; the others ask for a sync.
                let whole = p.map_or_else(Vec::new, |p| messages::items(p, &payload));
                if whole.is_empty() {
                    changed_integrations.push(integration);
                }
                carried.extend(whole.into_iter().map(|it| (integration, it)));
                changed_ids.push(id);
                platforms.insert(id, platform);
            }
        }
    }
    if changed_ids.is_empty() {
        return Ok(out);
    }
    changed_integrations.sort_unstable();
    changed_integrations.dedup();
    // One queued sync per integration (a live one absorbs these events), and the events marked
    // processed, in one statement. The sync waits out the debounce, so nobody needs waking now:
    // the statement skips the NOTIFY (which would make it commit in line with every other).
    // Its commit need not wait for its own WAL flush: the attempts' completions are written
    // after it, so a completion that survives a crash implies this commit did too, and a lost
    // one only means the attempts run again (every step here is idempotent).
    // Both settings are made by the statement itself, local to its own transaction.
    let mark = pg::query_as(MARK_PROCESSED_SQL)
        .bind(&changed_integrations)
        .bind(SYNC_DEBOUNCE.as_millis() as i64)
        .bind(&changed_ids);
    let waited: Vec<(i64, f64)> = if stones.is_empty() && carried.is_empty() {
        mark.fetch_all(pool).await?
    } else {
        // Deleted items become tombstones, and carried ones items, in the transaction that
        // marks their events processed.
        // The integrations' rows first, in id order, as every item writer takes them.
        let mut ids: Vec<Uuid> = stones.iter().map(|t| t.integration_id).collect();
        ids.extend(carried.iter().map(|(i, _)| *i));
        ids.sort_unstable();
        ids.dedup();
        let mut tx = items::begin(pool).await?;
        items::lock_many(&mut tx, &ids).await?;
        let done = items::tombstone(&mut tx, &stones).await?;
        let written = items::write_carried(&mut tx, modeller, &carried).await?;
        let waited = mark.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        for ws in done.workspaces.iter().chain(&written) {
            let _ = feed.send(*ws);
        }
        done.count("event");
        waited
    };
    for (id, secs) in waited {
        if let Some(platform) = platforms.remove(&id) {
            out.insert(
                id,
                Processed::Changed {
                    platform,
                    waited: Duration::from_secs_f64(secs.max(0.0)),
                },
            );
        }
    }
    Ok(out)
}

/// The reason and what the attempt does, for an event it is handed back (all but a change).
fn handed_back(m: &Meaning) -> Option<(&'static str, HandBack)> {
    match *m {
        Meaning::Revoked(r) => Some((r, HandBack::Revoke)),
        Meaning::CheckAccess(r) => Some((r, HandBack::CheckAccess)),
        Meaning::Resubscribe(r) => Some((r, HandBack::Resubscribe)),
        Meaning::Changed => None,
    }
}

/// The platforms whose events' meaning is read from the payload (`mcp_platforms::webhooks::
/// meaning::PAYLOAD_READ`), by name, as the event rows hold them.
pub static PAYLOAD_READ: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| PAYLOAD_READ_PLATFORMS.iter().map(|p| p.as_str()).collect());

/// Sets `processed_at` (once) and returns how long the event waited for it.
pub async fn mark_processed(
    db: impl sqlx::PgExecutor<'_>,
    event_id: i64,
) -> Result<Option<f64>, sqlx::Error> {
    pg::query_scalar(
        "UPDATE mcp.webhook_events SET processed_at = COALESCE(processed_at, now()) \
         WHERE id = $1 RETURNING extract(epoch FROM processed_at - received_at)::float8",
    )
    .bind(event_id)
    .fetch_optional(db)
    .await
}

//! The synced items: their model (`model`, `[items]` in `config`), the writes of listed items
//! (`write`), their content fetched where a listing lacks it (`content`, the SQL of the sync's
//! content step), tombstones (a platform said an item is gone, or a reconcile's complete listing
//! no longer shows it), the backfill of rows written before the model (`backfill`), the change
//! rows the daemon's own writers add in the same statement as their writes
//! (`mcp.item_changes`, see migration 0012), the wake-up readers of the feed LISTEN for, and the
//! retention of tombstones and changes. Nothing here calls a platform or logs an item's content.

pub mod backfill;
pub mod config;
pub mod content;
pub mod feed_lag;
pub mod model;
pub mod reconcile;
pub mod tombstone;
pub mod write;

use mcp_queue::pg::{self, Db};
use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::{Postgres, Transaction};
use tokio::sync::mpsc;
use uuid::Uuid;

pub use mcp_platforms::webhooks::deletions::Gone;
pub use model::{ContentState, ModelRow, Modeller};
pub use tombstone::{
    tombstone, Tombstone, Tombstoned, TOMBSTONE_EMPTIED_SQL, TOMBSTONE_PREFIX_SQL, TOMBSTONE_SQL,
};
pub use write::{lock_many, write_carried, write_items, Saved, LOCK_SQL, SAVE_ITEMS_SQL};

/// Items tombstoned, by how (`event`, `listing`, `reconcile`, `content`: a content call's 404).
pub const TOMBSTONED: &str = "mcp_items_tombstoned_total";
/// Tombstone sources (the `source` label).
pub const TOMBSTONE_SOURCES: [&str; 4] = ["event", "listing", "reconcile", "content"];
/// The channel readers of the change feed LISTEN on; the payload is the workspace id.
pub const FEED_CHANNEL: &str = "mcp_item_changes";

/// Starts a transaction whose writes of `mcp.synced_items` write their own change rows: the
/// capture trigger (for every other writer) stays out of the way.
pub const WRITER_BEGIN: &str = "BEGIN; SET LOCAL mcp.item_changes = 'written'";

/// A transaction for the daemon's writes of items (see [`WRITER_BEGIN`]).
pub async fn begin(pool: &Db) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with(WRITER_BEGIN).await
}

pub fn register_metrics() {
    metrics::describe_counter!(
        TOMBSTONED,
        "Synced items marked deleted, by platform and source (event, listing, reconcile, content)."
    );
    for p in mcp_platforms::connectors::Platform::ALL {
        for source in TOMBSTONE_SOURCES {
            metrics::counter!(TOMBSTONED, "platform" => p.as_str(), "source" => source)
                .increment(0);
        }
    }
    content::register_metrics();
    feed_lag::register_metrics();
    backfill::register_metrics();
}

/// Wakes the feed's readers after the daemon's writers commit: a task sends one NOTIFY per
/// workspace for whatever commits arrived while it sent the previous ones. Kept out of the
/// writers' own transactions, whose commits would otherwise queue one behind the other on
/// Postgres's notification lock. Started on first use with that caller's pool.
#[derive(Default)]
pub struct FeedWake {
    tx: OnceLock<mpsc::UnboundedSender<Uuid>>,
}

impl FeedWake {
    /// A sender for a task that outlives the caller (the webhook processor's).
    pub fn sender(&self, pool: &Db) -> mpsc::UnboundedSender<Uuid> {
        self.tx
            .get_or_init(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(notify_loop(pool.clone(), rx));
                tx
            })
            .clone()
    }

    /// After a commit that changed these workspaces' items.
    pub fn wake(&self, pool: &Db, workspaces: &[Uuid]) {
        if workspaces.is_empty() {
            return;
        }
        let tx = self.sender(pool);
        for ws in workspaces {
            let _ = tx.send(*ws);
        }
    }
}

/// The shortest time between two rounds of notifications: a reader is woken at most this long
/// after a commit, and a busy daemon sends at most one round per gap (each round is a
/// transaction of its own, and on two cores 200 of them a second cost a sync a sixth of its
/// pages).
pub const FEED_WAKE_GAP: Duration = Duration::from_millis(50);

async fn notify_loop(pool: Db, mut rx: mpsc::UnboundedReceiver<Uuid>) {
    let mut got = Vec::with_capacity(256);
    let now = tokio::time::Instant::now();
    let mut last = now.checked_sub(FEED_WAKE_GAP).unwrap_or(now);
    while rx.recv_many(&mut got, 4096).await > 0 {
        // Whatever else commits until the gap has passed goes in the same round.
        tokio::time::sleep_until(last + FEED_WAKE_GAP).await;
        while let Ok(ws) = rx.try_recv() {
            got.push(ws);
        }
        last = tokio::time::Instant::now();
        let ws: HashSet<Uuid> = got.drain(..).collect();
        let ws: Vec<Uuid> = ws.into_iter().collect();
        if let Err(e) = pg::query("SELECT pg_notify($1, w::text) FROM unnest($2::uuid[]) AS w")
            .bind(FEED_CHANNEL)
            .bind(&ws)
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, workspaces = ws.len(), "change feed notification failed");
        }
    }
}

/// Retention's statements (exposed for the plan tests). Changes older than `$1` seconds, a
/// batch of `$2`, remembering the newest one deleted (readers behind it must resync).
pub const PRUNE_CHANGES_SQL: &str = "\
WITH del AS (DELETE FROM mcp.item_changes WHERE seq IN ( \
               SELECT seq FROM mcp.item_changes \
               WHERE changed_at < now() - $1 * interval '1 second' LIMIT $2) \
             RETURNING txid, seq), \
top AS (SELECT txid, seq FROM del ORDER BY txid DESC, seq DESC LIMIT 1), \
mark AS (INSERT INTO mcp.item_changes_pruned AS p (txid, seq) SELECT txid, seq FROM top \
         ON CONFLICT (one) DO UPDATE SET txid = EXCLUDED.txid, seq = EXCLUDED.seq \
         WHERE (p.txid, p.seq) < (EXCLUDED.txid, EXCLUDED.seq)) \
SELECT count(*) FROM del";

/// Tombstones deleted longer ago than `$1` seconds, a batch of `$2`.
pub const PRUNE_TOMBSTONES_SQL: &str = "\
WITH del AS (DELETE FROM mcp.synced_items WHERE (integration_id, external_id) IN ( \
               SELECT integration_id, external_id FROM mcp.synced_items \
               WHERE deleted_at < now() - $1 * interval '1 second' LIMIT $2) \
             RETURNING 1) \
SELECT count(*) FROM del";

/// Deletes changes older than `changes` and tombstones older than `tombstones`, a batch per
/// short transaction. Returns (changes, tombstones) deleted.
pub async fn prune(
    pool: &Db,
    changes: Duration,
    tombstones: Duration,
    batch: u32,
) -> Result<(u64, u64), sqlx::Error> {
    let mut out = [0u64; 2];
    for (k, (sql, age)) in [
        (PRUNE_CHANGES_SQL, changes),
        (PRUNE_TOMBSTONES_SQL, tombstones),
    ]
    .into_iter()
    .enumerate()
    {
        loop {
            // A tombstone's deletion is no change: it was announced when it was tombstoned.
            let mut tx = begin(pool).await?;
            let n: i64 = pg::query_scalar(sql)
                .bind(age.as_secs_f64())
                .bind(i64::from(batch))
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            let n = u64::try_from(n).unwrap_or(0);
            out[k] += n;
            if n < u64::from(batch) {
                break;
            }
        }
    }
    Ok((out[0], out[1]))
}

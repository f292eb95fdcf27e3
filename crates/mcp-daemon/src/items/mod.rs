//! The synced items' lifecycle beyond the sync's upsert: tombstones (a platform said an item is
//! gone, or a reconcile's complete listing no longer shows it), the change rows the daemon's own
//! writers add in the same statement as their writes (`mcp.item_changes`, see migration 0012),
//! the wake-up readers of the feed LISTEN for, and the retention of tombstones and changes.
//! Nothing here calls a platform.

pub mod reconcile;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::integrations::Integration;
use mcp_platforms::connectors::SyncItem;

pub use mcp_platforms::webhooks::deletions::Gone;

/// Items tombstoned, by how (`event`, `listing`, `reconcile`).
pub const TOMBSTONED: &str = "mcp_items_tombstoned_total";
/// The channel readers of the change feed LISTEN on; the payload is the workspace id.
pub const FEED_CHANNEL: &str = "mcp_item_changes";

/// Starts a transaction whose writes of `mcp.synced_items` write their own change rows: the
/// capture trigger (for every other writer) stays out of the way.
pub const WRITER_BEGIN: &str = "BEGIN; SET LOCAL mcp.item_changes = 'written'";

/// A transaction for the daemon's writes of items (see [`WRITER_BEGIN`]).
pub async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with(WRITER_BEGIN).await
}

pub fn register_metrics() {
    metrics::describe_counter!(
        TOMBSTONED,
        "Synced items marked deleted, by platform and source (event, listing, reconcile)."
    );
    for p in mcp_platforms::connectors::Platform::ALL {
        for source in ["event", "listing", "reconcile"] {
            metrics::counter!(TOMBSTONED, "platform" => p.as_str(), "source" => source)
                .increment(0);
        }
    }
}

/// One item (or, for [`Gone::Prefix`], every item whose id starts with it; for
/// [`Gone::Emptied`], the item once all its parts are named) of one integration that the
/// platform says is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub integration_id: Uuid,
    pub gone: Gone,
    pub reason: String,
}

/// A page's items upserted (exposed for the plan tests): new or changed ones, and tombstones
/// seen again, with their change rows (`A` new, `U` changed or back) in the same statement.
pub const SAVE_ITEMS_SQL: &str = "\
WITH up AS ( \
  INSERT INTO mcp.synced_items AS s \
    (integration_id, external_id, workspace_id, platform, kind, occurred_at, raw) \
  SELECT $1, e, $2, $3, k, o, r::jsonb \
  FROM unnest($4::text[], $5::text[], $6::timestamptz[], $7::text[]) AS t(e, k, o, r) \
  ON CONFLICT (integration_id, external_id) DO UPDATE \
  SET kind = EXCLUDED.kind, occurred_at = EXCLUDED.occurred_at, raw = EXCLUDED.raw, \
      updated_at = now(), deleted_at = NULL, deleted_reason = NULL \
  WHERE (s.kind, s.occurred_at, s.raw) IS DISTINCT FROM \
        (EXCLUDED.kind, EXCLUDED.occurred_at, EXCLUDED.raw) OR s.deleted_at IS NOT NULL \
  RETURNING s.external_id, s.xmax = 0 AS added), \
ch AS (INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids) \
       SELECT $2, $1, CASE WHEN added THEN 'A' ELSE 'U' END, array_agg(external_id) \
       FROM up GROUP BY added) \
SELECT count(*) FROM up";

/// What writing a page did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Saved {
    /// Items new, changed or back from a tombstone.
    pub written: u64,
    /// Items the page said were deleted that were live here.
    pub tombstoned: Tombstoned,
}

impl Saved {
    /// Whether the feed has something new.
    pub fn changed(&self) -> bool {
        self.written + self.tombstoned.items > 0
    }
}

/// The page's items, ready to bind: one per id (the last one wins, or the upsert would touch a
/// row twice).
struct Rows<'a> {
    ids: Vec<&'a str>,
    kinds: Vec<&'a str>,
    times: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    raws: Vec<String>,
}

fn rows(items: &[SyncItem]) -> Rows<'_> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        last.insert(it.external_id.as_str(), i);
    }
    let mut idx: Vec<usize> = last.into_values().collect();
    idx.sort_unstable();
    Rows {
        ids: idx.iter().map(|&i| items[i].external_id.as_str()).collect(),
        kinds: idx.iter().map(|&i| items[i].kind.as_str()).collect(),
        times: idx.iter().map(|&i| items[i].occurred_at).collect(),
        raws: idx.iter().map(|&i| items[i].raw.to_string()).collect(),
    }
}

/// Upserts a page's items (and their change rows) and tombstones what it says was deleted, in
/// the caller's item-writer transaction ([`crate::items::begin`]).
pub async fn write_items(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    integration: &Integration,
    items: &[SyncItem],
    deleted: &[String],
) -> Result<Saved, sqlx::Error> {
    let r = rows(items);
    let mut saved = Saved::default();
    if !r.ids.is_empty() {
        let n: i64 = sqlx::query_scalar(SAVE_ITEMS_SQL)
            .bind(integration.id)
            .bind(integration.workspace_id)
            .bind(integration.platform.as_str())
            .bind(&r.ids)
            .bind(&r.kinds)
            .bind(&r.times)
            .bind(&r.raws)
            .fetch_one(&mut **tx)
            .await?;
        saved.written = u64::try_from(n).unwrap_or(0);
    }
    if !deleted.is_empty() {
        let reason = format!("{}: deleted at the platform", integration.platform.as_str());
        let stones: Vec<Tombstone> = deleted
            .iter()
            .map(|id| Tombstone {
                integration_id: integration.id,
                gone: Gone::Item(id.clone()),
                reason: reason.clone(),
            })
            .collect();
        saved.tombstoned = tombstone(tx, &stones).await?;
    }
    Ok(saved)
}

/// Items that events carried whole (`(integration, item)`), written as a page's are
/// (`write_items`), in the caller's item-writer transaction. Returns the workspaces whose feed
/// has something new. An integration no longer there is skipped.
pub async fn write_carried(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    carried: &[(Uuid, SyncItem)],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut by: HashMap<Uuid, Vec<SyncItem>> = HashMap::new();
    for (id, it) in carried {
        by.entry(*id).or_default().push(it.clone());
    }
    let mut woke = Vec::new();
    for (id, list) in by {
        let Some(integration) = crate::integrations::load_in(tx, id).await? else {
            continue;
        };
        if write_items(tx, &integration, &list, &[]).await?.changed() {
            woke.push(integration.workspace_id);
        }
    }
    Ok(woke)
}

// A tombstoning statement: `$1` integrations, `$2` ids (or id prefixes), `$3` reasons, matched
// by the given condition on `s` (the item) and `d` (a row of those arrays). Returns the items
// tombstoned by workspace and platform; change rows name at most 1,000 items each.
macro_rules! tombstone_sql {
    ($matches:literal) => {
        concat!(
            "WITH d AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(i, e, reason)), \
             gone AS (UPDATE mcp.synced_items s SET deleted_at = now(), deleted_reason = d.reason \
                      FROM d WHERE s.integration_id = d.i AND ",
            $matches,
            " AND s.deleted_at IS NULL \
                      RETURNING s.workspace_id, s.integration_id, s.platform, s.external_id), \
             n AS (SELECT *, (row_number() OVER (PARTITION BY integration_id) - 1) / 1000 AS chunk \
                   FROM gone), \
             ch AS (INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids) \
                    SELECT workspace_id, integration_id, 'D', array_agg(external_id) FROM n \
                    GROUP BY workspace_id, integration_id, chunk) \
             SELECT workspace_id, platform, count(*) FROM gone GROUP BY 1, 2"
        )
    };
}

/// Tombstones by exact id (exposed for the plan tests; see `tombstone_sql!`).
pub const TOMBSTONE_SQL: &str = tombstone_sql!("s.external_id = d.e");
/// Tombstones by id prefix (a deleted Slack channel's messages).
pub const TOMBSTONE_PREFIX_SQL: &str = tombstone_sql!("starts_with(s.external_id, d.e)");
/// Tombstones an item once every part it holds is named ([`Gone::Emptied`], `d.e` the JSON
/// `{"item", "list", "parts"}`): a Zoom meeting whose every recording file was trashed.
pub const TOMBSTONE_EMPTIED_SQL: &str = tombstone_sql!(
    "s.external_id = (d.e::jsonb ->> 'item') \
     AND jsonb_typeof(s.raw -> (d.e::jsonb ->> 'list')) = 'array' \
     AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(s.raw -> (d.e::jsonb ->> 'list')) f \
                     WHERE NOT coalesce((d.e::jsonb -> 'parts') ? (f ->> 'id'), false))"
);

/// What a tombstoning statement did: the items tombstoned and their workspaces.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tombstoned {
    pub items: u64,
    pub workspaces: Vec<Uuid>,
    /// Items tombstoned by platform.
    pub by_platform: Vec<(String, u64)>,
}

impl Tombstoned {
    /// Counts them in `mcp_items_tombstoned_total` (once committed).
    pub fn count(&self, source: &'static str) {
        for (platform, n) in &self.by_platform {
            metrics::counter!(TOMBSTONED, "platform" => platform.clone(), "source" => source)
                .increment(*n);
        }
    }

    fn add(&mut self, rows: Vec<(Uuid, String, i64)>) {
        for (ws, platform, n) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            self.items += n;
            self.by_platform.push((platform, n));
            if !self.workspaces.contains(&ws) {
                self.workspaces.push(ws);
            }
        }
    }
}

/// Marks the items deleted (already deleted ones are left as they are) with their change rows,
/// in the caller's transaction, which must have been begun with [`begin`].
pub async fn tombstone(
    tx: &mut Transaction<'static, Postgres>,
    stones: &[Tombstone],
) -> Result<Tombstoned, sqlx::Error> {
    let mut out = Tombstoned::default();
    for sql in [TOMBSTONE_SQL, TOMBSTONE_PREFIX_SQL, TOMBSTONE_EMPTIED_SQL] {
        let (mut ids, mut keys, mut reasons) = (Vec::new(), Vec::new(), Vec::new());
        for t in stones {
            let key = match &t.gone {
                Gone::Item(e) if sql == TOMBSTONE_SQL => e.clone(),
                Gone::Prefix(e) if sql == TOMBSTONE_PREFIX_SQL => e.clone(),
                Gone::Emptied { item, list, parts } if sql == TOMBSTONE_EMPTIED_SQL => {
                    serde_json::json!({"item": item, "list": list, "parts": parts}).to_string()
                }
                _ => continue,
            };
            ids.push(t.integration_id);
            keys.push(key);
            reasons.push(t.reason.as_str());
        }
        if ids.is_empty() {
            continue;
        }
        let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(sql)
            .bind(&ids)
            .bind(&keys)
            .bind(&reasons)
            .fetch_all(&mut **tx)
            .await?;
        out.add(rows);
    }
    Ok(out)
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
    pub fn sender(&self, pool: &PgPool) -> mpsc::UnboundedSender<Uuid> {
        self.tx
            .get_or_init(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(notify_loop(pool.clone(), rx));
                tx
            })
            .clone()
    }

    /// After a commit that changed these workspaces' items.
    pub fn wake(&self, pool: &PgPool, workspaces: &[Uuid]) {
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

async fn notify_loop(pool: PgPool, mut rx: mpsc::UnboundedReceiver<Uuid>) {
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
        if let Err(e) = sqlx::query("SELECT pg_notify($1, w::text) FROM unnest($2::uuid[]) AS w")
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
    pool: &PgPool,
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
            let n: i64 = sqlx::query_scalar(sql)
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

//! Reconcile: a full listing of one integration, page by page like a sync (each page, its seen
//! ids and the run's checkpoint in one transaction, so a killed run resumes), after which the
//! items the complete listing did not show are tombstoned, but only when the listing saw at
//! least `[reconcile] min_share` of the items live when it started (a platform answering an
//! empty listing by mistake must not delete everything). Items first seen or changed after the
//! run started are never tombstoned by it. Nothing here calls a platform.

use mcp_queue::pg::{self, Db};
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{FeedWake, Modeller, Saved};
use crate::integrations::Integration;
use crate::kinds::{Kind, Reconcile};
use mcp_platforms::connectors::{Page, Platform};
use mcp_queue::config::Every;

/// Reconcile runs by platform and outcome.
pub const RUNS: &str = "mcp_reconcile_runs_total";
/// Outcomes of a reconcile run (the `outcome` label).
pub const OUTCOMES: &[&str] = &[
    "completed",
    "guard_stopped",
    "restarted",
    "rate_limited",
    "retry",
    "auth_failed",
    "failed",
    "skipped",
];

pub fn register_metrics() {
    metrics::describe_counter!(
        RUNS,
        "Reconcile runs by platform and outcome (guard_stopped: the listing saw too few items \
         to trust, nothing was tombstoned)."
    );
    for p in Platform::ALL {
        for o in OUTCOMES {
            metrics::counter!(RUNS, "platform" => p.as_str(), "outcome" => *o).increment(0);
        }
    }
}

/// `[reconcile]`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// An integration is reconciled when its last reconcile finished longer ago than this.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Per-platform overrides of `interval`; `"0s"` turns reconcile off for that platform.
    pub intervals: BTreeMap<String, Every>,
    /// The share of the items live at the start that a complete listing must see before what
    /// it did not see is tombstoned (0 to 1).
    pub min_share: f64,
    /// The sweep spreads the reconciles it enqueues over this window.
    #[serde(with = "humantime_serde")]
    pub spread: Duration,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            interval: Duration::from_secs(7 * 86_400),
            intervals: BTreeMap::new(),
            min_share: 0.5,
            spread: Duration::from_secs(3600),
        }
    }
}

impl ReconcileConfig {
    /// The platform's interval (zero: off).
    pub fn interval(&self, p: Platform) -> Duration {
        self.intervals
            .get(p.as_str())
            .map_or(self.interval, |e| e.0)
    }

    /// Whether the values make sense: a message naming the key, if not.
    pub fn check(&self) -> Result<(), (String, String)> {
        for name in self.intervals.keys() {
            if Platform::parse(name).is_none() {
                return Err((
                    format!("reconcile.intervals.{name}"),
                    "no such platform".into(),
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.min_share) {
            return Err((
                "reconcile.min_share".into(),
                "must be between 0 and 1".into(),
            ));
        }
        Ok(())
    }
}

/// A run in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub started_at: DateTime<Utc>,
    pub cursor: Option<String>,
    pub pages: i64,
    pub listed: i64,
    pub live_before: i64,
    /// Resumed from a checkpoint (false: started now).
    pub resumed: bool,
    /// A run left unfinished for longer than its interval was started over.
    pub restarted: bool,
}

/// The statements of a run (exposed for the plan tests).
pub const RESUME_SQL: &str = "\
SELECT started_at, cursor, pages, listed, live_before, \
       started_at > now() - $2 * interval '1 second' AS fresh \
FROM mcp.reconcile_runs WHERE integration_id = $1 AND finished_at IS NULL";
pub const START_SQL: &str = "\
INSERT INTO mcp.reconcile_runs AS r (integration_id, workspace_id, platform, live_before) \
SELECT $1, $2, $3, count(*) FROM mcp.synced_items \
WHERE integration_id = $1 AND deleted_at IS NULL \
ON CONFLICT (integration_id) DO UPDATE \
SET started_at = now(), cursor = NULL, pages = 0, listed = 0, live_before = EXCLUDED.live_before, \
    finished_at = NULL, outcome = NULL, tombstoned = 0 \
RETURNING started_at, live_before";
pub const SAVE_SEEN_SQL: &str = "\
INSERT INTO mcp.reconcile_seen (integration_id, external_id) \
SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING";
pub const CHECKPOINT_SQL: &str = "\
UPDATE mcp.reconcile_runs SET cursor = $2, pages = pages + 1, listed = listed + $3 \
WHERE integration_id = $1";
/// The end of a complete listing that passed the guard: `$1` the integration, `$2` the reason.
/// Change rows name at most 1,000 items each.
pub const TOMBSTONE_UNSEEN_SQL: &str = "\
WITH r AS (SELECT started_at FROM mcp.reconcile_runs WHERE integration_id = $1), \
gone AS (UPDATE mcp.synced_items s SET deleted_at = now(), deleted_reason = $2, \
           change_txid = greatest(s.change_txid, pg_current_xact_id()) \
         FROM r WHERE s.integration_id = $1 AND s.deleted_at IS NULL \
           AND s.first_seen_at < r.started_at AND s.updated_at < r.started_at \
           AND NOT EXISTS (SELECT 1 FROM mcp.reconcile_seen x \
                           WHERE x.integration_id = $1 AND x.external_id = s.external_id) \
         RETURNING s.workspace_id, s.external_id, s.change_txid), \
n AS (SELECT workspace_id, external_id, change_txid, (row_number() OVER () - 1) / 1000 AS chunk \
      FROM gone), \
ch AS (INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids, txid) \
       SELECT workspace_id, $1, 'D', array_agg(external_id), max(change_txid) FROM n \
       GROUP BY workspace_id, chunk) \
SELECT count(*) FROM gone";

/// Resumes the integration's unfinished run, or starts one (counting its live items for the
/// guard). A run unfinished for longer than `max_age` is started over.
pub async fn start_or_resume(
    pool: &Db,
    integration: &Integration,
    max_age: Duration,
) -> Result<Run, sqlx::Error> {
    type Row = (DateTime<Utc>, Option<String>, i64, i64, i64, bool);
    let found: Option<Row> = pg::query_as(RESUME_SQL)
        .bind(integration.id)
        .bind(max_age.as_secs_f64())
        .fetch_optional(pool)
        .await?;
    let restarted = match found {
        Some((started_at, cursor, pages, listed, live_before, true)) => {
            return Ok(Run {
                started_at,
                cursor,
                pages,
                listed,
                live_before,
                resumed: true,
                restarted: false,
            })
        }
        Some(_) => true,
        None => false,
    };
    start(pool, integration, restarted).await
}

/// Starts the integration's run afresh (forgetting what an unfinished one saw).
pub async fn start(
    pool: &Db,
    integration: &Integration,
    restarted: bool,
) -> Result<Run, sqlx::Error> {
    let mut tx = pool.begin().await?;
    pg::query("DELETE FROM mcp.reconcile_seen WHERE integration_id = $1")
        .bind(integration.id)
        .execute(&mut *tx)
        .await?;
    let (started_at, live_before): (DateTime<Utc>, i64) = pg::query_as(START_SQL)
        .bind(integration.id)
        .bind(integration.workspace_id)
        .bind(integration.platform.as_str())
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Run {
        started_at,
        cursor: None,
        pages: 0,
        listed: 0,
        live_before,
        resumed: false,
        restarted,
    })
}

/// Writes one page of the listing like a sync page (new and changed items, tombstones seen
/// again, deletions it names), records its ids as seen, and checkpoints the run, in one
/// transaction.
pub async fn save_page(
    pool: &Db,
    feed: &FeedWake,
    modeller: &Modeller,
    integration: &Integration,
    page: &Page,
) -> Result<Saved, sqlx::Error> {
    let ids: Vec<&str> = page.items.iter().map(|i| i.external_id.as_str()).collect();
    let mut tx = super::begin(pool).await?;
    let saved =
        super::write_items(&mut tx, modeller, integration, &page.items, &page.deleted).await?;
    if !ids.is_empty() {
        pg::query(SAVE_SEEN_SQL)
            .bind(integration.id)
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
    }
    pg::query(CHECKPOINT_SQL)
        .bind(integration.id)
        .bind(page.next_cursor.as_deref())
        .bind(ids.len() as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    saved.tombstoned.count("listing");
    if saved.changed() {
        feed.wake(pool, &[integration.workspace_id]);
    }
    Ok(saved)
}

/// How a complete listing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// What it did not see is tombstoned.
    Completed { seen: i64, tombstoned: u64 },
    /// It saw fewer than `min_share` of the live items: nothing was tombstoned.
    GuardStopped { seen: i64, live_before: i64 },
    /// No run in progress (a retried attempt after its finish).
    NoRun,
}

/// Ends the run after its last page: the guard, then the tombstones, in one transaction.
pub async fn finish(
    pool: &Db,
    feed: &FeedWake,
    integration: &Integration,
    min_share: f64,
) -> Result<Finish, sqlx::Error> {
    let mut tx = super::begin(pool).await?;
    let live_before: Option<i64> = pg::query_scalar(
        "SELECT live_before FROM mcp.reconcile_runs \
         WHERE integration_id = $1 AND finished_at IS NULL FOR UPDATE",
    )
    .bind(integration.id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(live_before) = live_before else {
        return Ok(Finish::NoRun);
    };
    let seen: i64 =
        pg::query_scalar("SELECT count(*) FROM mcp.reconcile_seen WHERE integration_id = $1")
            .bind(integration.id)
            .fetch_one(&mut *tx)
            .await?;
    let trusted = live_before == 0 || (seen as f64) >= min_share * live_before as f64;
    let (outcome, tombstoned) = if trusted {
        let reason = format!(
            "{}: not in a complete listing (reconcile)",
            integration.platform.as_str()
        );
        let n: i64 = pg::query_scalar(TOMBSTONE_UNSEEN_SQL)
            .bind(integration.id)
            .bind(reason)
            .fetch_one(&mut *tx)
            .await?;
        ("completed", u64::try_from(n).unwrap_or(0))
    } else {
        ("guard_stopped", 0)
    };
    pg::query(
        "UPDATE mcp.reconcile_runs SET finished_at = now(), outcome = $2, tombstoned = $3, \
         listed = $4 WHERE integration_id = $1",
    )
    .bind(integration.id)
    .bind(outcome)
    .bind(tombstoned as i64)
    .bind(seen)
    .execute(&mut *tx)
    .await?;
    pg::query("DELETE FROM mcp.reconcile_seen WHERE integration_id = $1")
        .bind(integration.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if tombstoned > 0 {
        feed.wake(pool, &[integration.workspace_id]);
        metrics::counter!(super::TOMBSTONED, "platform" => integration.platform.as_str(),
            "source" => "reconcile")
        .increment(tombstoned);
    }
    Ok(if trusted {
        Finish::Completed { seen, tombstoned }
    } else {
        Finish::GuardStopped { seen, live_before }
    })
}

/// The sweep's statement (exposed for the plan tests): `$1`/`$2` the platforms' intervals in
/// seconds (0: off), `$3` the spread in seconds. An integration in service that has synced once
/// is due when its last run finished (or, unfinished, started; or, never run, it was created)
/// longer ago than its interval.
pub const SWEEP_SQL: &str = const_format::concatcp!(
    "\
WITH iv AS (SELECT * FROM unnest($1::text[], $2::float8[]) AS t(platform, secs) WHERE secs > 0), \
d AS (SELECT i.id FROM core.integrations i JOIN iv ON iv.platform = i.platform \
      LEFT JOIN mcp.reconcile_runs r ON r.integration_id = i.id \
      WHERE core.state_synced(i.state) AND i.last_synced_at IS NOT NULL \
        AND COALESCE(r.finished_at, r.started_at, i.created_at) \
            < now() - iv.secs * interval '1 second') \
SELECT count(*) FROM ( \
  SELECT array_agg(id) AS ids, \
         array_agg(now() + ((abs(hashtext(id::text)::bigint) % 1000000) / 1000000.0) \
                           * $3 * interval '1 second') AS run_ats FROM d) s, \
  LATERAL mcp.enqueue_many('",
    Reconcile::KIND,
    "', s.ids, run_ats => s.run_ats)"
);

/// Enqueues a `reconcile` (unique key `reconcile:<id>`) for every integration due, each at a
/// stable point within `spread`. Returns how many were enqueued.
pub async fn sweep(pool: &Db, cfg: &ReconcileConfig, spread: Duration) -> Result<u64, sqlx::Error> {
    let (names, secs) = Platform::columns(|p| cfg.interval(p).as_secs_f64());
    let n: i64 = pg::query_scalar(SWEEP_SQL)
        .bind(&names)
        .bind(&secs)
        .bind(spread.as_secs_f64())
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

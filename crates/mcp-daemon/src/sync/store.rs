//! The sync's writes: a page of items and its cursor checkpoint in one transaction, the cursor
//! reset of a full resync, and the sweep that enqueues due syncs. Every write is idempotent
//! (a page written twice leaves one row per item and its `first_seen_at` untouched); nothing
//! here calls a platform.

use mcp_queue::pg::{self, Db};
use std::time::Duration;

use super::config::SyncConfig;
use crate::integrations::Integration;
use crate::items;
use crate::kinds::{Kind, Sync};
use mcp_platforms::connectors::{Page, Platform};

/// The statements of a sync page (exposed for the plan tests): the cursor and settings it
/// starts from, and the checkpoint written with its items (`items::SAVE_ITEMS_SQL`).
pub const CURSOR_SQL: &str = "SELECT sync_cursor FROM core.integrations WHERE id = $1";
pub const SETTINGS_SQL: &str = "SELECT settings FROM core.integrations WHERE id = $1";
pub const CHECKPOINT_SQL: &str = "\
UPDATE core.integrations SET sync_cursor = $2, \
last_synced_at = CASE WHEN $3 THEN now() ELSE last_synced_at END WHERE id = $1";

/// The integration's stored cursor.
pub async fn cursor(pool: &Db, id: uuid::Uuid) -> Result<Option<String>, sqlx::Error> {
    Ok(pg::query_scalar::<Option<String>>(CURSOR_SQL)
        .bind(id)
        .fetch_optional(pool)
        .await?
        .flatten())
}

/// The integration's settings (`core.integrations.settings`; `{}` when unknown).
pub async fn settings(pool: &Db, id: uuid::Uuid) -> Result<serde_json::Value, sqlx::Error> {
    Ok(pg::query_scalar::<serde_json::Value>(SETTINGS_SQL)
        .bind(id)
        .fetch_optional(pool)
        .await?
        .unwrap_or_else(|| serde_json::json!({})))
}

/// Writes a page ([`items::write_items`]) and checkpoints `next_cursor` in one transaction; `done`
/// also records the sync's time. Wakes the change feed's readers when something changed. The
/// checkpoint comes first: it takes the integration's row before any item's (the order every
/// item writer keeps, see `items::write`).
pub async fn save_page(
    pool: &Db,
    feed: &items::FeedWake,
    modeller: &items::Modeller,
    integration: &Integration,
    page: &Page,
    done: bool,
) -> Result<items::Saved, sqlx::Error> {
    let mut tx = items::begin(pool).await?;
    pg::query(CHECKPOINT_SQL)
        .bind(integration.id)
        .bind(page.next_cursor.as_deref())
        .bind(done)
        .execute(&mut *tx)
        .await?;
    let saved =
        items::write_items(&mut tx, modeller, integration, &page.items, &page.deleted).await?;
    tx.commit().await?;
    saved.tombstoned.count("listing");
    if saved.changed() {
        feed.wake(pool, &[integration.workspace_id]);
    }
    Ok(saved)
}

/// Forgets the cursor (the platform refused it as too old): the next page starts a full resync.
pub async fn clear_cursor(pool: &Db, id: uuid::Uuid) -> Result<(), sqlx::Error> {
    pg::query("UPDATE core.integrations SET sync_cursor = NULL WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records a failed sync call in `mcp.integration_errors` (context `sync`).
pub async fn record_error(
    pool: &Db,
    integration: &Integration,
    e: &mcp_platforms::connectors::ConnectorError,
    job_id: i64,
) -> Result<(), sqlx::Error> {
    pg::query(const_format::concatcp!(
        "INSERT INTO mcp.integration_errors (integration_id, workspace_id, platform, error_type, \
         message, http_status, context, job_id) VALUES ($1, $2, $3, $4, $5, $6, '",
        Sync::KIND,
        "', $7)"
    ))
    .bind(integration.id)
    .bind(integration.workspace_id)
    .bind(integration.platform.as_str())
    .bind(e.error_type.as_str())
    .bind(e.to_string())
    .bind(e.status.map(i32::from))
    .bind(job_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// What a sweep did.
#[derive(Debug, Default, PartialEq)]
pub struct Sweep {
    pub enqueued: u64,
    /// Integrations in service on the fallback interval, by platform.
    pub fallback: Vec<(Platform, i64)>,
}

// The sweep's integrations with their effective interval: `$1`/`$2` the platforms' intervals,
// `$3` the webhook silence and `$4` the fallback interval (seconds).
macro_rules! sweep_cte {
    () => {
        "WITH iv AS (SELECT * FROM unnest($1::text[], $2::float8[]) AS t(platform, secs)), \
         c AS (SELECT i.id, i.platform, i.last_synced_at, iv.secs, \
                 NOT EXISTS (SELECT 1 FROM mcp.webhooks w WHERE w.integration_id = i.id \
                   AND w.status = 'active' \
                   AND COALESCE(w.last_event_at, w.created_at) > now() - $3 * interval '1 second') \
                   AS fallback \
               FROM core.integrations i JOIN iv ON iv.platform = i.platform \
               WHERE core.state_synced(i.state)), \
         d AS (SELECT id, platform, fallback, last_synced_at, \
                 CASE WHEN fallback THEN least($4, secs) ELSE secs END AS eff FROM c)"
    };
}

/// The sweep's statements (exposed for the plan tests): integrations on the fallback interval
/// by platform, and the enqueue of the due syncs (`$5` the spread in seconds).
pub const SWEEP_FALLBACK_SQL: &str = concat!(
    sweep_cte!(),
    " SELECT platform, count(*) FILTER (WHERE fallback) FROM d GROUP BY platform"
);
pub const SWEEP_ENQUEUE_SQL: &str = const_format::concatcp!(
    sweep_cte!(),
    " SELECT count(*) FROM ( \
        SELECT array_agg(id) AS ids, \
               array_agg(now() + ((abs(hashtext(id::text)::bigint) % 1000000) / 1000000.0) \
                                 * least($5, eff) * interval '1 second') AS run_ats \
        FROM d WHERE last_synced_at IS NULL \
                  OR last_synced_at < now() - eff * interval '1 second') s, \
       LATERAL mcp.enqueue_many('",
    Sync::KIND,
    "', s.ids, run_ats => s.run_ats)"
);

/// Enqueues a `sync` (unique key `sync:<id>`) for every ACTIVE/DEGRADED integration whose last
/// sync is older than its interval: the platform's interval, or the fallback interval when no
/// active webhook has had an event (or was created) within `webhook_silence`. Each is due at a
/// stable point within `spread` (capped by its interval).
pub async fn sweep(pool: &Db, cfg: &SyncConfig, spread: Duration) -> Result<Sweep, sqlx::Error> {
    let (names, secs) = Platform::columns(|p| cfg.interval(p).as_secs_f64());
    let rows: Vec<(String, i64)> = pg::query_as(SWEEP_FALLBACK_SQL)
        .bind(&names)
        .bind(&secs)
        .bind(cfg.webhook_silence.as_secs_f64())
        .bind(cfg.fallback_interval.as_secs_f64())
        .fetch_all(pool)
        .await?;
    let enqueued: i64 = pg::query_scalar(SWEEP_ENQUEUE_SQL)
        .bind(&names)
        .bind(&secs)
        .bind(cfg.webhook_silence.as_secs_f64())
        .bind(cfg.fallback_interval.as_secs_f64())
        .bind(spread.as_secs_f64())
        .fetch_one(pool)
        .await?;
    let enqueued = u64::try_from(enqueued).unwrap_or(0);
    let fallback = rows
        .into_iter()
        .filter_map(|(p, n)| Platform::parse(&p).map(|p| (p, n)))
        .collect();
    Ok(Sweep { enqueued, fallback })
}

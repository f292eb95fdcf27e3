//! The SQL of the sync's content step (`handlers::content` makes the calls): an integration's
//! items whose content is still to fetch, one fetched item's content and model written with its
//! change row (one short item-writer transaction per item, so a killed sync loses at most the
//! item in flight and never fetches again what it stored), and an item whose content call
//! failed for good left modelled from its listing. Nothing here calls a platform or logs an
//! item's content.

use chrono::{DateTime, Utc};
use mcp_queue::pg::{self, Db};
use serde_json::Value;
use uuid::Uuid;

use super::model::{Columns, ModelRow};
use crate::integrations::Integration;
use mcp_platforms::connectors::Platform;
use mcp_platforms::items::MODEL_VERSION;

/// Content calls made (each HTTP call of a content fetch), by platform.
pub const CONTENT_CALLS: &str = "mcp_items_content_calls_total";
/// Items whose content was fetched and stored, by platform.
pub const CONTENT_FETCHED: &str = "mcp_items_content_fetched_total";

pub fn register_metrics() {
    metrics::describe_counter!(
        CONTENT_CALLS,
        "HTTP calls made to fetch items' content (bodies, transcripts, blocks), by platform."
    );
    metrics::describe_counter!(
        CONTENT_FETCHED,
        "Items whose content was fetched and stored, by platform."
    );
    for p in Platform::ALL {
        metrics::counter!(CONTENT_CALLS, "platform" => p.as_str()).increment(0);
        metrics::counter!(CONTENT_FETCHED, "platform" => p.as_str()).increment(0);
    }
}

/// The statements of the content step (exposed for the plan tests). `$1` the integration,
/// `$2` how many, `$3` the last id of the previous batch (`''` first): its live items waiting for
/// content, along `synced_items_pending`.
pub const PENDING_SQL: &str = "\
SELECT external_id, raw, updated_at FROM mcp.synced_items \
WHERE integration_id = $1 AND content_state = 'pending' AND deleted_at IS NULL \
  AND external_id > $3 \
ORDER BY external_id LIMIT $2";

/// One item's content and model, written only if the item is as it was read (`$3` its
/// `updated_at`): a listing that changed it meanwhile made it pending again with a new record,
/// whose content is fetched next. With its change row.
pub const SAVE_CONTENT_SQL: &str = "\
WITH up AS ( \
  UPDATE mcp.synced_items s \
  SET content = $4::jsonb, kind = $5, title = $6, text = $7, text_truncated = $8, \
      author = $9::jsonb, participants = $10::jsonb, occurred_at = coalesce($11, s.occurred_at), \
      url = $12, thread = $13, content_state = $14, model_version = $15, updated_at = now(), \
      search = mcp.item_search_vector($6, $7), \
      change_txid = greatest(s.change_txid, pg_current_xact_id()) \
  WHERE s.integration_id = $1 AND s.external_id = $2 AND s.updated_at = $3 \
    AND s.content_state = 'pending' AND s.deleted_at IS NULL \
  RETURNING s.workspace_id, s.external_id, s.change_txid), \
ch AS (INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids, txid) \
       SELECT workspace_id, $1, 'U', ARRAY[external_id], change_txid FROM up) \
SELECT count(*) FROM up";

/// An item whose content call failed for good: modelled from its listing, not asked again until
/// its listing changes. Its model is unchanged, so no change row.
pub const GIVE_UP_SQL: &str = "\
UPDATE mcp.synced_items SET content_state = 'listed' \
WHERE integration_id = $1 AND external_id = $2 AND updated_at = $3 AND content_state = 'pending'";

/// An item waiting for its content.
#[derive(Debug, Clone)]
pub struct Pending {
    pub external_id: String,
    pub raw: Value,
    /// As read: the write checks the item has not changed since.
    pub updated_at: DateTime<Utc>,
}

/// Up to `limit` of the integration's items waiting for their content, after the id `after`.
pub async fn pending(
    pool: &Db,
    integration: Uuid,
    after: &str,
    limit: u32,
) -> Result<Vec<Pending>, sqlx::Error> {
    let rows: Vec<(String, Value, DateTime<Utc>)> = pg::query_as(PENDING_SQL)
        .bind(integration)
        .bind(i64::from(limit))
        .bind(after)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(external_id, raw, updated_at)| Pending {
            external_id,
            raw,
            updated_at,
        })
        .collect())
}

/// Stores one item's content and model with its change row, in one item-writer transaction.
/// Returns whether it was stored (false: the item changed or went meanwhile).
pub async fn save(
    pool: &Db,
    integration: &Integration,
    item: &Pending,
    m: &ModelRow,
) -> Result<bool, sqlx::Error> {
    let mut c = Columns::default();
    c.push(m);
    let mut tx = super::begin(pool).await?;
    let n: i64 = pg::query_scalar(SAVE_CONTENT_SQL)
        .bind(integration.id)
        .bind(&item.external_id)
        .bind(item.updated_at)
        .bind(&c.contents[0])
        .bind(c.kinds[0])
        .bind(c.titles[0])
        .bind(c.texts[0])
        .bind(c.truncated[0])
        .bind(&c.authors[0])
        .bind(&c.participants[0])
        .bind(c.times[0])
        .bind(c.urls[0])
        .bind(c.threads[0])
        .bind(c.states[0])
        .bind(MODEL_VERSION)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(n > 0)
}

/// Leaves an item modelled from its listing after its content call failed for good.
pub async fn give_up(pool: &Db, integration: Uuid, item: &Pending) -> Result<(), sqlx::Error> {
    pg::query(GIVE_UP_SQL)
        .bind(integration)
        .bind(&item.external_id)
        .bind(item.updated_at)
        .execute(pool)
        .await?;
    Ok(())
}

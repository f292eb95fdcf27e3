//! The writes of listed items (a sync page, a reconcile page, items an event carried whole):
//! each item with its model (`super::model`), its change row in the same statement, and the
//! deletions the page names as tombstones. Every write first locks the integration's row and
//! checks that its state keeps items, so an integration being deleted (its items erased in that
//! transaction, migration 0017) never gets items back from a page written at the same time.
//! Nothing here calls a platform.

use mcp_queue::pg;
use std::collections::HashMap;

use uuid::Uuid;

use super::model::{Columns, ModelRow, Modeller};
use super::tombstone::{tombstone, Tombstone, Tombstoned};
use super::Gone;
use crate::integrations::Integration;
use mcp_platforms::connectors::SyncItem;
use mcp_platforms::items::MODEL_VERSION;

/// The integration's row locked against a change of state (`FOR SHARE`) for the rest of the
/// writer's transaction; whether its state keeps items (exposed for the plan tests).
pub const LOCK_SQL: &str =
    "SELECT core.state_keeps_items(state) FROM core.integrations WHERE id = $1 FOR SHARE";

/// Several integrations' rows locked as `LOCK_SQL` does, in id order (one order in every
/// transaction: none waits for another in a cycle).
pub const LOCK_MANY_SQL: &str =
    "SELECT id FROM core.integrations WHERE id = ANY($1) ORDER BY id FOR SHARE";

/// A page's items upserted (exposed for the plan tests): new ones, ones whose listing record
/// changed, and tombstones seen again, with their model (`$16` the model's version) and their
/// change rows (`A` new, `U` changed or back) in the same statement. An item listed again as it
/// was is left alone: its fetched content and its model stay (a row of an older model waits for
/// the backfill). A changed one takes the listing's model and loses its old content
/// (`content_state` says whether the content step fetches it again). The search vector is
/// computed here, as the writer's transaction skips the trigger that computes it for others, and
/// so is each item's feed position (migration 0026): a change row sorts at the greatest of this
/// transaction's id and its items' last positions.
pub const SAVE_ITEMS_SQL: &str = "\
WITH up AS ( \
  INSERT INTO mcp.synced_items AS s \
    (integration_id, external_id, workspace_id, platform, kind, occurred_at, raw, title, text, \
     text_truncated, author, participants, url, thread, content_state, model_version, search, \
     change_txid) \
  SELECT $1, e, $2, $3, k, o, r::jsonb, ti, tx, tt, au::jsonb, pa::jsonb, u, th, cs, $16, \
         mcp.item_search_vector(ti, tx), pg_current_xact_id() \
  FROM unnest($4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[], $9::text[], \
              $10::bool[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[]) \
       AS t(e, k, o, r, ti, tx, tt, au, pa, u, th, cs) \
  ON CONFLICT (integration_id, external_id) DO UPDATE \
  SET kind = EXCLUDED.kind, occurred_at = EXCLUDED.occurred_at, raw = EXCLUDED.raw, \
      title = EXCLUDED.title, text = EXCLUDED.text, text_truncated = EXCLUDED.text_truncated, \
      author = EXCLUDED.author, participants = EXCLUDED.participants, url = EXCLUDED.url, \
      thread = EXCLUDED.thread, content = NULL, content_state = EXCLUDED.content_state, \
      model_version = EXCLUDED.model_version, search = EXCLUDED.search, \
      updated_at = now(), deleted_at = NULL, deleted_reason = NULL, \
      change_txid = greatest(s.change_txid, pg_current_xact_id()) \
  WHERE s.raw IS DISTINCT FROM EXCLUDED.raw OR s.deleted_at IS NOT NULL \
  RETURNING s.external_id, s.xmax = 0 AS added, s.change_txid), \
ch AS (INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids, txid) \
       SELECT $2, $1, CASE WHEN added THEN 'A' ELSE 'U' END, array_agg(external_id), \
              max(change_txid) \
       FROM up GROUP BY added) \
SELECT count(*) FROM up";

/// What writing a page did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Saved {
    /// Items new, changed or back from a tombstone.
    pub written: u64,
    /// Items the page said were deleted that were live here.
    pub tombstoned: Tombstoned,
    /// The integration keeps no items (it is being deleted): nothing was written.
    pub refused: bool,
}

impl Saved {
    /// Whether the feed has something new.
    pub fn changed(&self) -> bool {
        self.written + self.tombstoned.items > 0
    }
}

/// The page's items, one per id (the last one wins, or the upsert would touch a row twice),
/// with their models.
fn last_of_each(items: &[SyncItem]) -> Vec<&SyncItem> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        last.insert(it.external_id.as_str(), i);
    }
    let mut idx: Vec<usize> = last.into_values().collect();
    idx.sort_unstable();
    idx.into_iter().map(|i| &items[i]).collect()
}

/// Locks the integration's row for the transaction (see [`LOCK_SQL`]); whether it keeps items.
pub async fn lock(tx: &mut sqlx::PgConnection, integration_id: Uuid) -> Result<bool, sqlx::Error> {
    let keeps: Option<bool> = pg::query_scalar(LOCK_SQL)
        .bind(integration_id)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(keeps.unwrap_or(false))
}

/// Locks several integrations' rows (see [`LOCK_MANY_SQL`]), before a transaction writes items
/// of several of them.
pub async fn lock_many(tx: &mut sqlx::PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    if !ids.is_empty() {
        pg::query(LOCK_MANY_SQL).bind(ids).execute(&mut *tx).await?;
    }
    Ok(())
}

/// Upserts a page's items with their models (and their change rows) and tombstones what it says
/// was deleted, in the caller's item-writer transaction ([`super::begin`]). Writes nothing for
/// an integration whose state keeps no items.
pub async fn write_items(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    modeller: &Modeller,
    integration: &Integration,
    items: &[SyncItem],
    deleted: &[String],
) -> Result<Saved, sqlx::Error> {
    let mut saved = Saved::default();
    if items.is_empty() && deleted.is_empty() {
        return Ok(saved);
    }
    if !lock(tx, integration.id).await? {
        saved.refused = true;
        return Ok(saved);
    }
    let items = last_of_each(items);
    if !items.is_empty() {
        let models: Vec<ModelRow> = items
            .iter()
            .map(|it| modeller.listed(integration, it))
            .collect();
        let mut c = Columns::default();
        for m in &models {
            c.push(m);
        }
        let ids: Vec<&str> = items.iter().map(|i| i.external_id.as_str()).collect();
        let raws: Vec<String> = items.iter().map(|i| i.raw.to_string()).collect();
        let n: i64 = pg::query_scalar(SAVE_ITEMS_SQL)
            .bind(integration.id)
            .bind(integration.workspace_id)
            .bind(integration.platform.as_str())
            .bind(&ids)
            .bind(&c.kinds)
            .bind(&c.times)
            .bind(&raws)
            .bind(&c.titles)
            .bind(&c.texts)
            .bind(&c.truncated)
            .bind(&c.authors)
            .bind(&c.participants)
            .bind(&c.urls)
            .bind(&c.threads)
            .bind(&c.states)
            .bind(MODEL_VERSION)
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
/// (`write_items`), in the caller's item-writer transaction, which has locked these
/// integrations first ([`lock_many`]). Returns the workspaces whose feed has something new. An
/// integration no longer there, or deleted, is skipped.
pub async fn write_carried(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    modeller: &Modeller,
    carried: &[(Uuid, SyncItem)],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut by: HashMap<Uuid, Vec<SyncItem>> = HashMap::new();
    for (id, it) in carried {
        by.entry(*id).or_default().push(it.clone());
    }
    let mut ids: Vec<Uuid> = by.keys().copied().collect();
    ids.sort_unstable();
    let mut woke = Vec::new();
    for id in ids {
        let Some(integration) = crate::integrations::load_in(tx, id).await? else {
            continue;
        };
        let list = by.remove(&id).unwrap_or_default();
        if write_items(tx, modeller, &integration, &list, &[])
            .await?
            .changed()
        {
            woke.push(integration.workspace_id);
        }
    }
    Ok(woke)
}

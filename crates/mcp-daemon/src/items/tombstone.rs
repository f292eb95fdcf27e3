//! Tombstones: items a platform says are gone (an event, a listing's deletions, a content call's
//! 404) marked deleted, with their change rows in the same statement (`D`, at most 1,000 items
//! each). Nothing here calls a platform.

use mcp_queue::pg;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::{Gone, TOMBSTONED};

/// One item (or, for [`Gone::Prefix`], every item whose id starts with it; for
/// [`Gone::Emptied`], the item once all its parts are named) of one integration that the
/// platform says is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub integration_id: Uuid,
    pub gone: Gone,
    pub reason: String,
}

// A tombstoning statement: `$1` integrations, `$2` ids (or id prefixes), `$3` reasons, matched
// by the given condition on `s` (the item) and `d` (a row of those arrays). Returns the items
// tombstoned by workspace and platform; change rows name at most 1,000 items each.
macro_rules! tombstone_sql {
    ($matches:literal) => {
        concat!(
            "WITH d AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(i, e, reason)), \
             gone AS (UPDATE mcp.synced_items s SET deleted_at = now(), deleted_reason = d.reason, \
                        change_txid = greatest(s.change_txid, pg_current_xact_id()) \
                      FROM d WHERE s.integration_id = d.i AND ",
            $matches,
            " AND s.deleted_at IS NULL \
                      RETURNING s.workspace_id, s.integration_id, s.platform, s.external_id, \
                                s.change_txid), \
             n AS (SELECT *, (row_number() OVER (PARTITION BY integration_id) - 1) / 1000 AS chunk \
                   FROM gone), \
             ch AS (INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids, \
                                                  txid) \
                    SELECT workspace_id, integration_id, 'D', array_agg(external_id), \
                           max(change_txid) FROM n \
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
/// in the caller's transaction, which must have been begun with [`super::begin`].
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
        let rows: Vec<(Uuid, String, i64)> = pg::query_as(sql)
            .bind(&ids)
            .bind(&keys)
            .bind(&reasons)
            .fetch_all(&mut **tx)
            .await?;
        out.add(rows);
    }
    Ok(out)
}

//! The backfill of the item model (the `items_backfill` job): every stored row of an older model
//! (`model_version` below `MODEL_VERSION`; every row when a job asks for `all`) modelled again
//! from its `raw` and stored content, in primary-key order, a batch per short transaction that
//! also records where the pass is (`mcp.items_backfill`), so a killed job resumes there. A row
//! whose listing lacks its content is marked pending (the integration's next sync fetches it);
//! a row of an integration that keeps no items (deleted before the erasure existed) is erased.
//! A row a writer changed since the batch read it is left to that writer. Nothing here calls a
//! platform or logs an item's content.

use chrono::{DateTime, Utc};
use mcp_queue::pg::{self, Db};
use serde_json::Value;
use uuid::Uuid;

use super::model::{Columns, ModelRow, Modeller, Source};
use crate::kinds::{ItemsBackfill, Kind};
use mcp_platforms::connectors::Platform;
use mcp_platforms::items::MODEL_VERSION;

/// Rows modelled by the backfill.
pub const BACKFILLED: &str = "mcp_items_backfilled_total";

pub fn register_metrics() {
    metrics::describe_counter!(
        BACKFILLED,
        "Stored items modelled again by the backfill (items_backfill)."
    );
    metrics::counter!(BACKFILLED).increment(0);
}

/// Where the backfill is.
#[derive(Debug, Clone, PartialEq)]
pub struct Pass {
    pub version: i16,
    pub all_rows: bool,
    /// The job that asked for an `all` pass.
    pub job_id: Option<i64>,
    /// The last row a committed batch reached.
    pub after: Option<(Uuid, String)>,
    pub modelled: i64,
    pub finished: bool,
}

/// The statements of the backfill (exposed for the plan tests).
pub const STATE_SQL: &str = "\
SELECT version, all_rows, job_id, after_integration, after_external_id, modelled, \
       finished_at IS NOT NULL FROM mcp.items_backfill";
pub const START_SQL: &str = "\
INSERT INTO mcp.items_backfill AS b (version, all_rows, job_id) VALUES ($1, $2, $3) \
ON CONFLICT (one) DO UPDATE \
SET version = EXCLUDED.version, all_rows = EXCLUDED.all_rows, job_id = EXCLUDED.job_id, \
    after_integration = NULL, after_external_id = NULL, modelled = 0, started_at = now(), \
    finished_at = NULL";
/// A batch of `$3` rows after (`$1`, `$2`), with what their model needs of their integration.
pub const BATCH_SQL: &str = "\
SELECT s.integration_id, s.external_id, s.platform, s.raw, s.content, s.content_state, \
       s.occurred_at, s.updated_at, s.model_version, i.external_account_id, \
       i.settings ->> 'web_base', core.state_keeps_items(i.state) \
FROM mcp.synced_items s JOIN core.integrations i ON i.id = s.integration_id \
WHERE (s.integration_id, s.external_id) > ($1, $2) \
ORDER BY s.integration_id, s.external_id LIMIT $3";
/// The first batch of a pass.
pub const BATCH_FIRST_SQL: &str = "\
SELECT s.integration_id, s.external_id, s.platform, s.raw, s.content, s.content_state, \
       s.occurred_at, s.updated_at, s.model_version, i.external_account_id, \
       i.settings ->> 'web_base', core.state_keeps_items(i.state) \
FROM mcp.synced_items s JOIN core.integrations i ON i.id = s.integration_id \
ORDER BY s.integration_id, s.external_id LIMIT $1";
/// The batch's models written where the row is as it was read (`seen` its `updated_at`), with
/// one change row per integration for the live ones; `$15` the model's version.
pub const WRITE_SQL: &str = "\
WITH u AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], \
             $5::text[], $6::text[], $7::bool[], $8::text[], $9::text[], $10::timestamptz[], \
             $11::text[], $12::text[], $13::text[], $14::text[]) \
           AS t(i, e, seen, k, ti, tx, tt, au, pa, o, ur, th, cs, co)), \
up AS (UPDATE mcp.synced_items s \
       SET kind = u.k, title = u.ti, text = u.tx, text_truncated = u.tt, author = u.au::jsonb, \
           participants = u.pa::jsonb, occurred_at = coalesce(u.o, s.occurred_at), url = u.ur, \
           thread = u.th, content_state = u.cs, content = u.co::jsonb, model_version = $15, \
           search = mcp.item_search_vector(u.ti, u.tx), \
           change_txid = greatest(s.change_txid, pg_current_xact_id()) \
       FROM u WHERE s.integration_id = u.i AND s.external_id = u.e AND s.updated_at = u.seen \
       RETURNING s.workspace_id, s.integration_id, s.external_id, s.deleted_at, s.change_txid), \
ch AS (INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids, txid) \
       SELECT workspace_id, integration_id, 'U', array_agg(external_id), max(change_txid) \
       FROM up WHERE deleted_at IS NULL GROUP BY workspace_id, integration_id) \
SELECT count(*) FROM up";
/// Rows of integrations that keep no items, erased with their change rows.
pub const ERASE_SQL: &str = "\
WITH gone AS (DELETE FROM mcp.synced_items s \
              USING unnest($1::uuid[], $2::text[]) AS t(i, e) \
              WHERE s.integration_id = t.i AND s.external_id = t.e \
              RETURNING s.workspace_id, s.integration_id, s.external_id, s.deleted_at, \
                        s.change_txid), \
ch AS (INSERT INTO mcp.item_changes (workspace_id, integration_id, op, external_ids, txid) \
       SELECT workspace_id, integration_id, 'D', array_agg(external_id), \
              greatest(max(change_txid), pg_current_xact_id()) FROM gone \
       WHERE deleted_at IS NULL GROUP BY workspace_id, integration_id) \
SELECT count(*) FROM gone";
pub const ADVANCE_SQL: &str = "\
UPDATE mcp.items_backfill SET after_integration = $1, after_external_id = $2, \
    modelled = modelled + $3, finished_at = CASE WHEN $4 THEN now() END";

/// Whether a pass of the current model is still to be made or finished.
pub const NEEDED_SQL: &str = "\
SELECT NOT EXISTS (SELECT 1 FROM mcp.items_backfill WHERE version >= $1 AND finished_at IS NOT NULL)";

/// The pass in progress or the last one.
pub async fn pass(pool: &Db) -> Result<Option<Pass>, sqlx::Error> {
    type Row = (
        i16,
        bool,
        Option<i64>,
        Option<Uuid>,
        Option<String>,
        i64,
        bool,
    );
    let row: Option<Row> = pg::query_as(STATE_SQL).fetch_optional(pool).await?;
    Ok(row.map(
        |(version, all_rows, job_id, i, e, modelled, finished)| Pass {
            version,
            all_rows,
            job_id,
            after: i.zip(e),
            modelled,
            finished,
        },
    ))
}

/// Starts a pass of the current model from the first row: of the rows below it, or of `all`
/// (asked by job `job_id`).
pub async fn start(pool: &Db, all: bool, job_id: i64) -> Result<Pass, sqlx::Error> {
    pg::query(START_SQL)
        .bind(MODEL_VERSION)
        .bind(all)
        .bind(job_id)
        .execute(pool)
        .await?;
    Ok(Pass {
        version: MODEL_VERSION,
        all_rows: all,
        job_id: Some(job_id),
        after: None,
        modelled: 0,
        finished: false,
    })
}

/// A stored row as the backfill reads it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub integration_id: Uuid,
    pub external_id: String,
    pub platform: String,
    pub raw: Value,
    pub content: Option<Value>,
    pub content_state: String,
    pub occurred_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub model_version: i16,
    pub account: Option<String>,
    pub web_base: Option<String>,
    /// Its integration keeps items (not deleted).
    pub keeps: bool,
}

type StoredRow = (
    Uuid,
    String,
    String,
    Value,
    Option<Value>,
    String,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    i16,
    Option<String>,
    Option<String>,
    bool,
);

/// The next `limit` rows after `after` (from the first without).
pub async fn batch(
    pool: &Db,
    after: Option<&(Uuid, String)>,
    limit: u32,
) -> Result<Vec<Stored>, sqlx::Error> {
    let rows: Vec<StoredRow> = match after {
        Some((i, e)) => {
            pg::query_as(BATCH_SQL)
                .bind(i)
                .bind(e)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        }
        None => {
            pg::query_as(BATCH_FIRST_SQL)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|r| Stored {
            integration_id: r.0,
            external_id: r.1,
            platform: r.2,
            raw: r.3,
            content: r.4,
            content_state: r.5,
            occurred_at: r.6,
            updated_at: r.7,
            model_version: r.8,
            account: r.9,
            web_base: r
                .10
                .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
            keeps: r.11,
        })
        .collect())
}

/// What the backfill does with one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Up to date (or of no known platform): left alone.
    Keep,
    /// Its integration keeps no items: erased.
    Erase,
    Model(Box<ModelRow>),
}

/// The plan of each row (pure; run it off the async threads: a big text takes a while).
pub fn plan(modeller: &Modeller, rows: &[Stored], all: bool) -> Vec<Plan> {
    rows.iter()
        .map(|r| {
            if !r.keeps {
                return Plan::Erase;
            }
            let Some(platform) = Platform::parse(&r.platform) else {
                return Plan::Keep;
            };
            if !all && r.model_version >= MODEL_VERSION {
                return Plan::Keep;
            }
            let m = modeller.row(
                &Source {
                    platform,
                    account: r.account.as_deref(),
                    web_base: r.web_base.as_deref(),
                    external_id: &r.external_id,
                    raw: &r.raw,
                    content: r.content.as_ref(),
                    listed_at: r.occurred_at,
                },
                r.content_state == "fetched",
            );
            Plan::Model(Box::new(m))
        })
        .collect()
}

/// Writes a batch's plans and where the pass is now (`done`: finished) in one transaction.
/// Returns the rows modelled.
pub async fn write(
    pool: &Db,
    rows: &[Stored],
    plans: &[Plan],
    last: Option<&(Uuid, String)>,
    done: bool,
) -> Result<u64, sqlx::Error> {
    let (mut ids, mut ext, mut seen, mut c) = (vec![], vec![], vec![], Columns::default());
    let (mut gone_ids, mut gone_ext) = (vec![], vec![]);
    for (r, p) in rows.iter().zip(plans) {
        match p {
            Plan::Keep => {}
            Plan::Erase => {
                gone_ids.push(r.integration_id);
                gone_ext.push(r.external_id.as_str());
            }
            Plan::Model(m) => {
                ids.push(r.integration_id);
                ext.push(r.external_id.as_str());
                seen.push(r.updated_at);
                c.push(m);
            }
        }
    }
    // The integrations' rows first, in id order, as every item writer takes them: a sync page
    // writing the same items waits for this batch or this batch for it, never both.
    let mut integrations: Vec<Uuid> = rows.iter().map(|r| r.integration_id).collect();
    integrations.dedup();
    let mut tx = super::begin(pool).await?;
    super::write::lock_many(&mut tx, &integrations).await?;
    let mut n = 0i64;
    if !ids.is_empty() {
        n = pg::query_scalar(WRITE_SQL)
            .bind(&ids)
            .bind(&ext)
            .bind(&seen)
            .bind(&c.kinds)
            .bind(&c.titles)
            .bind(&c.texts)
            .bind(&c.truncated)
            .bind(&c.authors)
            .bind(&c.participants)
            .bind(&c.times)
            .bind(&c.urls)
            .bind(&c.threads)
            .bind(&c.states)
            .bind(&c.contents)
            .bind(MODEL_VERSION)
            .fetch_one(&mut *tx)
            .await?;
    }
    if !gone_ids.is_empty() {
        pg::query(ERASE_SQL)
            .bind(&gone_ids)
            .bind(&gone_ext)
            .execute(&mut *tx)
            .await?;
    }
    pg::query(ADVANCE_SQL)
        .bind(last.map(|l| l.0))
        .bind(last.map(|l| l.1.as_str()))
        .bind(n)
        .bind(done)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Enqueues the backfill (once: unique key `items_backfill`) when a pass of the current model
/// is still to be made: after an upgrade that brought a new model, or one left unfinished.
/// Returns the job's id, when enqueued.
pub async fn enqueue_if_needed(pool: &Db) -> Result<Option<i64>, mcp_queue::QueueError> {
    let needed: bool = pg::query_scalar(NEEDED_SQL)
        .bind(MODEL_VERSION)
        .fetch_one(pool)
        .await
        .map_err(mcp_queue::QueueError::from)?;
    if !needed {
        return Ok(None);
    }
    let id = ItemsBackfill { all: false }.enqueue(pool).await?;
    Ok(Some(id))
}

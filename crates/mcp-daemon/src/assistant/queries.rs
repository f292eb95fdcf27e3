//! What each tool reads or asks, in SQL, inside the caller's transaction: `begin` sets the role
//! `mcp_assistant` and the caller's workspace for that transaction only (migration 0024), so
//! row-level security decides what every statement here sees; a bug in a tool cannot show
//! another workspace's rows. Results are cut to whole items within the character budget
//! (`fit`), never inside one.

use crate::kinds::{Kind, Sync};
use chrono::{DateTime, SecondsFormat, Utc};
use mcp_queue::pg::{self, Db};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::types::*;
use super::Failure;

/// How a tool's transaction starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Acting for the caller's workspace under row-level security, read-only.
    Read,
    /// The same, and it may write.
    Write,
    /// Read-only as the daemon: the tool finds what it needs in the caller's workspace, then
    /// acts for it (`act_for`) before it reads what it answers.
    Daemon,
}

/// The statements that make a transaction act for `workspace` under row-level security (the
/// id is a parsed UUID, so it is written into them as is).
fn acting_as(workspace: Uuid) -> String {
    format!(
        "SET LOCAL ROLE mcp_assistant; SELECT set_config('mcp.workspace_id', '{workspace}', true)"
    )
}

/// A tool's transaction (`Start`; acting for `workspace` is sent with its BEGIN, one round
/// trip).
pub async fn begin(
    pool: &Db,
    workspace: Uuid,
    start: Start,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let sql = match start {
        Start::Read => format!("BEGIN READ ONLY; {}", acting_as(workspace)),
        Start::Write => format!("BEGIN; {}", acting_as(workspace)),
        Start::Daemon => "BEGIN READ ONLY".to_string(),
    };
    pool.begin_with(sqlx::AssertSqlSafe(sql)).await
}

/// Makes a `Start::Daemon` transaction act for `workspace` from here on.
async fn act_for(tx: &mut PgConnection, workspace: Uuid) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(acting_as(workspace)))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub(super) fn time(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

pub(super) fn uuid_arg(name: &str, v: &str) -> Result<Uuid, Failure> {
    Uuid::parse_str(v.trim()).map_err(|_| {
        Failure::invalid(format!(
            "{name} `{v}` is not an id: use an integration_id from list_integrations or search_items"
        ))
    })
}

/// `value` (`default` when not given) if within `range`; otherwise a failure naming `name`.
pub(super) fn bounded(
    name: &str,
    value: Option<u32>,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, Failure> {
    let v = value.unwrap_or(default);
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(Failure::invalid(format!(
            "{name} must be between {} and {}, not {v}",
            range.start(),
            range.end()
        )))
    }
}

/// How many of `items` fit in `budget` characters of JSON beside `overhead`.
pub fn fit<T: Serialize>(items: &[T], budget: usize, overhead: usize) -> usize {
    let mut used = overhead;
    for (i, it) in items.iter().enumerate() {
        let n = serde_json::to_string(it).map(|s| s.len()).unwrap_or(0) + 1;
        if used + n > budget {
            return i;
        }
        used += n;
    }
    items.len()
}

/// Of `rows` (each item after its cursor), those that fit `budget` (at least one): the items,
/// the cursor of the last one kept, and whether the budget left any out.
pub fn fit_page<T: Serialize>(
    rows: impl IntoIterator<Item = (String, T)>,
    budget: usize,
) -> (Vec<T>, Option<String>, bool) {
    let (cursors, mut items): (Vec<String>, Vec<T>) = rows.into_iter().unzip();
    let n = fit(&items, budget, 200).max(1).min(items.len());
    let cut = n < items.len();
    items.truncate(n);
    let last = n.checked_sub(1).and_then(|i| cursors.get(i).cloned());
    (items, last, cut)
}

fn next_step(state: &str, breaker: &str) -> Option<String> {
    let s = match state {
        "PENDING" | "AUTHORIZING" => "finish connecting it: its authorization was not completed",
        "EXPIRED" => "reconnect it: its authorization expired and cannot be refreshed",
        "REVOKED" => "reconnect it: access was withdrawn at the platform",
        "ERROR" => "nothing yet: it retries by itself; if it persists, read last_error",
        "DEGRADED" => "nothing: it works within the platform's limits (rate or quota)",
        _ if breaker == "open" => {
            "nothing yet: calls are paused after repeated failures and are retried by a probe"
        }
        _ => return None,
    };
    Some(s.to_string())
}

type IntegrationRow = (
    Uuid,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    String,
    Option<DateTime<Utc>>,
    String,
    i32,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    (
        Option<String>,
        Option<String>,
        Option<i32>,
        Option<DateTime<Utc>>,
    ),
);

pub async fn list_integrations(
    tx: &mut PgConnection,
    budget: usize,
) -> Result<Integrations, Failure> {
    let rows: Vec<IntegrationRow> = pg::query_as(
        "SELECT integration_id, platform, account, display_name, state, state_reason, \
                health_status, last_health_check, circuit_breaker_state, consecutive_failures, \
                last_synced_at, token_expires_at, \
                ROW(last_error_type, last_error_message, last_error_http_status, last_error_at) \
         FROM mcp.assistant_integrations ORDER BY platform, integration_id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let all: Vec<Integration> = rows
        .into_iter()
        .map(|r| {
            let (kind, message, status, at) = r.12;
            let last_error = kind.map(|k| {
                let mut s = k.replace('_', " ");
                if let Some(code) = status {
                    s.push_str(&format!(" (HTTP {code})"));
                }
                if let Some(at) = time(at) {
                    s.push_str(&format!(" at {at}"));
                }
                if let Some(m) = message.filter(|m| !m.is_empty()) {
                    s.push_str(&format!(": {m}"));
                }
                s
            });
            Integration {
                integration_id: r.0.to_string(),
                platform: r.1,
                account: r.2,
                display_name: r.3,
                next_step: next_step(&r.4, &r.8),
                state: r.4,
                state_reason: r.5,
                health: r.6,
                last_health_check: time(r.7),
                breaker: r.8,
                consecutive_failures: r.9,
                last_synced_at: time(r.10),
                token_expires_at: time(r.11),
                last_error,
            }
        })
        .collect();
    let mut all = all;
    let n = fit(&all, budget, 40);
    all.truncate(n);
    Ok(Integrations { integrations: all })
}

pub async fn search(
    tx: &mut PgConnection,
    workspace: Uuid,
    a: SearchArgs,
    budget: usize,
) -> Result<SearchResult, Failure> {
    let limit = bounded("limit", a.limit, 20, 1..=50)?;
    let mut filters = serde_json::Map::new();
    if let Some(p) = a.platforms.filter(|p| !p.is_empty()) {
        filters.insert("platforms".into(), json!(p));
    }
    if let Some(k) = a.kinds.filter(|k| !k.is_empty()) {
        filters.insert("kinds".into(), json!(k));
    }
    if let Some(i) = a.integration_id.as_deref() {
        filters.insert(
            "integration_id".into(),
            json!(uuid_arg("integration_id", i)?),
        );
    }
    for (key, v) in [("since", &a.since), ("until", &a.until)] {
        if let Some(v) = v {
            DateTime::parse_from_rfc3339(v).map_err(|_| {
                Failure::invalid(format!(
                    "{key} `{v}` is not a time: write it as 2026-12-01T09:00:00Z"
                ))
            })?;
            filters.insert(key.into(), json!(v));
        }
    }
    // The page is found as the daemon (`Start::Daemon`), in the caller's workspace only: under
    // row-level security PostgreSQL may not use the words (`@@`, not leakproof) as a condition
    // of the search index, and a search takes several times as long. Then only what the
    // caller's workspace sees under row-level security is answered.
    let rows: Vec<HitRow> = pg::query_as(
        "SELECT cursor, integration_id, external_id, platform, kind, title, snippet, author, \
                occurred_at, url, thread, text_bytes \
         FROM mcp.search_items($1, $2, $3, $4, $5)",
    )
    .bind(workspace)
    .bind(a.query.as_deref().unwrap_or(""))
    .bind(Value::Object(filters))
    .bind(a.cursor.as_deref().filter(|c| !c.is_empty()))
    .bind(limit as i32 + 1)
    .fetch_all(&mut *tx)
    .await?;
    act_for(&mut *tx, workspace).await?;
    let (ints, exts): (Vec<Uuid>, Vec<String>) = rows.iter().map(|r| (r.1, r.2.clone())).unzip();
    let seen: std::collections::HashSet<(Uuid, String)> = pg::query_as(
        "SELECT integration_id, external_id FROM mcp.synced_items \
         WHERE (integration_id, external_id) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))",
    )
    .bind(&ints)
    .bind(&exts)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let rows: Vec<HitRow> = rows
        .into_iter()
        .filter(|r| seen.contains(&(r.1, r.2.clone())))
        .collect();
    let more = rows.len() > limit as usize;
    let rows = rows.into_iter().take(limit as usize).map(|r| {
        (
            r.0,
            Hit {
                integration_id: r.1.to_string(),
                external_id: r.2,
                platform: r.3,
                kind: r.4,
                title: r.5,
                snippet: r.6,
                author: r.7,
                occurred_at: time(r.8),
                url: r.9,
                thread: r.10,
                text_bytes: r.11,
            },
        )
    });
    let (hits, last, cut) = fit_page(rows, budget);
    let next_cursor = if more || cut { last } else { None };
    Ok(SearchResult { hits, next_cursor })
}

type HitRow = (
    String,
    Uuid,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<Value>,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<String>,
    Option<i32>,
);

type ItemRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<Value>,
    Value,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<String>,
    String,
    bool,
    Option<DateTime<Utc>>,
);

pub async fn get_item(
    tx: &mut PgConnection,
    a: GetItemArgs,
    budget: usize,
) -> Result<ItemPage, Failure> {
    let integration = uuid_arg("integration_id", &a.integration_id)?;
    let row: Option<ItemRow> = pg::query_as(
        "SELECT platform, kind, title, text, author, participants, occurred_at, url, thread, \
                content_state, text_truncated, deleted_at \
         FROM mcp.synced_items WHERE integration_id = $1 AND external_id = $2",
    )
    .bind(integration)
    .bind(&a.external_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(r) = row else {
        return Err(Failure::not_found(
            "no such item in this workspace: take integration_id and external_id from search_items",
        ));
    };
    if let Some(at) = time(r.11) {
        return Err(Failure::not_found(format!(
            "this item was deleted at its platform ({at}); search again for what replaced it"
        )));
    }
    let text = r.3.unwrap_or_default();
    let chars = text.chars().count() as u64;
    let offset = a.offset.unwrap_or(0);
    if offset > chars {
        return Err(Failure::invalid(format!(
            "offset {offset} is past the text's end ({chars} characters)"
        )));
    }
    let item = Item {
        integration_id: integration.to_string(),
        external_id: a.external_id,
        platform: r.0,
        kind: r.1,
        title: r.2,
        author: r.4,
        participants: r.5,
        occurred_at: time(r.6),
        url: r.7,
        thread: r.8,
        content_state: r.9,
        text_truncated: r.10,
    };
    // The page: what the budget leaves beside the item's fields (JSON escapes counted as the
    // characters they become), at most `max_chars`.
    let used = serde_json::to_string(&item).map(|s| s.len()).unwrap_or(0) + 200;
    let room = budget.saturating_sub(used).max(500) as u64;
    let want = a.max_chars.unwrap_or(room).clamp(1, room);
    let mut page = String::new();
    let mut taken = 0u64;
    let mut size = 0usize;
    for c in text.chars().skip(offset as usize) {
        if taken >= want {
            break;
        }
        let mut buf = [0u8; 4];
        let esc = serde_json::to_string(c.encode_utf8(&mut buf))
            .map(|s| s.len() - 2)
            .unwrap_or(1);
        if size + esc > room as usize {
            break;
        }
        size += esc;
        taken += 1;
        page.push(c);
    }
    let end = offset + taken;
    Ok(ItemPage {
        item,
        text: (chars > 0).then_some(page),
        text_offset: offset,
        text_chars: chars,
        next_offset: (end < chars).then_some(end),
    })
}

pub async fn request_sync(
    tx: &mut PgConnection,
    a: RequestSyncArgs,
) -> Result<SyncRequested, Failure> {
    let integration = uuid_arg("integration_id", &a.integration_id)?;
    // Seen under row-level security first: another workspace's integration does not exist.
    let state: Option<(String, bool)> =
        pg::query_as("SELECT state, core.state_synced(state) FROM core.integrations WHERE id = $1")
            .bind(integration)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((state, synced)) = state else {
        return Err(Failure::not_found(
            "no such integration in this workspace: take its id from list_integrations",
        ));
    };
    if !synced {
        return Err(Failure::invalid(format!(
            "this integration is {state} and is not synced: {}",
            next_step(&state, "closed").unwrap_or_else(|| "see list_integrations".into())
        )));
    }
    // The job itself is the daemon's to write (members may not enqueue): the same unique key as
    // the sweep's (`sync:<id>`), so a sync already waiting or running is the answer.
    pg::query("RESET ROLE").execute(&mut *tx).await?;
    let job = Sync {
        integration_id: integration,
    };
    let made: Option<i64> =
        pg::query_scalar("SELECT id FROM mcp.enqueue_many($2, ARRAY[$1]::uuid[]) AS id")
            .bind(integration)
            .bind(Sync::KIND)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(job_id) = made {
        return Ok(SyncRequested {
            job_id,
            coalesced: false,
        });
    }
    let existing: Option<i64> =
        pg::query_scalar("SELECT id FROM mcp.sync_jobs_live WHERE kind = $2 AND unique_key = $1")
            .bind(job.unique_key())
            .bind(Sync::KIND)
            .fetch_optional(&mut *tx)
            .await?;
    existing
        .map(|job_id| SyncRequested {
            job_id,
            coalesced: true,
        })
        .ok_or_else(|| Failure::unavailable("the sync could not be enqueued; try again"))
}

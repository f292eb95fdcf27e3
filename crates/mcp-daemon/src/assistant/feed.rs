//! The tools that read a thread and the change feed (`get_thread`, `get_changes`), in SQL,
//! inside the caller's transaction under row-level security (`queries::begin`); results cut
//! to whole items within the character budget, never inside one.

use chrono::{DateTime, Utc};
use mcp_queue::pg;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::queries::{bounded, fit_page, time, uuid_arg};
use super::types::*;
use super::Failure;

type ThreadRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<Value>,
    Option<DateTime<Utc>>,
    Option<String>,
);

pub async fn get_thread(
    tx: &mut PgConnection,
    a: GetThreadArgs,
    budget: usize,
) -> Result<Thread, Failure> {
    let integration = uuid_arg("integration_id", &a.integration_id)?;
    let from: usize = match a.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => c
            .strip_prefix("t:")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                Failure::invalid("cursor is not one of get_thread's: start the thread again")
            })?,
    };
    let rows: Vec<ThreadRow> = pg::query_as(
        "SELECT external_id, kind, title, text, author, occurred_at, url \
         FROM mcp.thread_items($1, $2) OFFSET $3",
    )
    .bind(integration)
    .bind(&a.thread)
    .bind(from as i64)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() && from == 0 {
        return Err(Failure::not_found(
            "no such thread in this workspace: take integration_id and thread from search_items",
        ));
    }
    let mut used = 200 + a.thread.len();
    let mut messages = Vec::new();
    let total = rows.len();
    for r in rows {
        let chars =
            r.3.as_deref()
                .map(|t| t.chars().count() as u64)
                .unwrap_or(0);
        let mut m = ThreadMessage {
            external_id: r.0,
            kind: r.1,
            title: r.2,
            text: r.3,
            text_chars: chars,
            author: r.4,
            occurred_at: time(r.5),
            url: r.6,
        };
        let mut n = serde_json::to_string(&m).map(|s| s.len()).unwrap_or(0) + 1;
        if used + n > budget && messages.is_empty() {
            // One message longer than a whole result: its text is left out (get_item pages it).
            m.text = None;
            n = serde_json::to_string(&m).map(|s| s.len()).unwrap_or(0) + 1;
        }
        if used + n > budget {
            break;
        }
        used += n;
        messages.push(m);
    }
    let next = from + messages.len();
    Ok(Thread {
        integration_id: integration.to_string(),
        thread: a.thread,
        next_cursor: (messages.len() < total).then(|| format!("t:{next}")),
        messages,
    })
}

pub async fn get_changes(
    tx: &mut PgConnection,
    workspace: Uuid,
    a: GetChangesArgs,
    budget: usize,
) -> Result<Changes, Failure> {
    let max = bounded("max_rows", a.max_rows, 100, 1..=500)?;
    let cursor = a.cursor.filter(|c| !c.is_empty());
    let rows: Vec<ChangeRow> = pg::query_as(
        "SELECT cursor, op, integration_id, external_id, platform, kind, occurred_at, \
                changed_at, title, left(text, 200), url, thread \
         FROM mcp.changes($1, $2, $3)",
    )
    .bind(workspace)
    .bind(cursor.as_deref())
    .bind(max as i32 + 1)
    .fetch_all(&mut *tx)
    .await?;
    let more_rows = rows.len() > max as usize;
    let rows = rows.into_iter().take(max as usize).map(|r| {
        (
            r.0,
            Change {
                op: r.1,
                integration_id: r.2.to_string(),
                external_id: r.3,
                platform: r.4,
                kind: r.5,
                occurred_at: time(r.6),
                changed_at: time(Some(r.7)).unwrap_or_default(),
                title: r.8,
                preview: r.9,
                url: r.10,
                thread: r.11,
            },
        )
    });
    let (changes, last, cut) = fit_page(rows, budget);
    let next_cursor = last.or(cursor);
    Ok(Changes {
        changes,
        next_cursor,
        more: more_rows || cut,
    })
}

type ChangeRow = (
    String,
    String,
    Uuid,
    String,
    String,
    Option<String>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

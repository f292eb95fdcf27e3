//! The MCP server driven by a client nobody here wrote: the official MCP Python SDK
//! (`tests/mcp/drive.py`, run by the interpreter of the throwaway virtual environment that
//! `scripts/test` makes and names in `MCP_TEST_PYTHON`), over HTTP against the real daemon and
//! over stdio against `mcp-worker mcp stdio`. Items are stored by plain SQL, as any writer may.

mod refused;
mod replica;
mod sdk;

use std::process::Stdio;

use mcp_queue::pg::Db;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::common::{bin, Daemon};
use mcp_platforms::connectors::Platform;
use mcp_testkit::integrations::{bare_active, workspace};
use mcp_testkit::TestDb;

/// The interpreter with the SDK installed.
fn python() -> String {
    std::env::var("MCP_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "MCP_TEST_PYTHON is not set: run the tests with scripts/test, which installs the \
             official MCP Python SDK (mcp>=2.3,<3) into a throwaway virtual environment"
        )
    })
}

/// Runs one plan through the SDK; what it printed.
pub async fn drive(plan: Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/drive.py");
    let mut child = tokio::process::Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the SDK's driver");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(plan.to_string().as_bytes())
        .await
        .expect("plan");
    drop(stdin);
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        child.wait_with_output(),
    )
    .await
    .expect("the driver finishes")
    .expect("driver output");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "driver printed no JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// An HTTP plan for the daemon on `port` with `token`.
pub fn http_plan(port: u16, token: &str, mode: &str, steps: Value) -> Value {
    json!({
        "transport": "http",
        "url": format!("http://127.0.0.1:{port}/mcp"),
        "headers": {"Authorization": format!("Bearer {token}")},
        "mode": mode,
        "steps": steps,
    })
}

/// The structured answer of step `i` (panics on a connect failure or a tool error).
pub fn ok_step(out: &Value, i: usize) -> &Value {
    assert_eq!(out["ok"], true, "{out}");
    let s = &out["steps"][i];
    assert_eq!(s["is_error"], false, "step {i}: {s}");
    &s["structured"]
}

/// One workspace as an assistant finds it: an ACTIVE Gmail and Slack integration, a Gmail thread
/// of three mails about `word`, a Slack message, and one long document (`long_chars` characters).
pub struct Seeded {
    pub ws: Uuid,
    pub gmail: Uuid,
    pub slack: Uuid,
}

pub async fn seed(db: &TestDb, name: &str, word: &str, long_chars: usize) -> Seeded {
    let ws = workspace(db, name).await;
    let gmail = bare_active(&db.pool, ws, Platform::Gmail).await;
    let slack = bare_active(&db.pool, ws, Platform::Slack).await;
    for (i, who) in ["Anna", "Ben", "Anna"].iter().enumerate() {
        item(
            &db.pool,
            (gmail, ws, "gmail", "email"),
            &format!("m{i}"),
            &format!("Re: the {word} plan"),
            &format!("{who} writes about the {word} plan, part {i}."),
            Some("t1"),
            i as i64,
        )
        .await;
    }
    item(
        &db.pool,
        (slack, ws, "slack", "message"),
        "1700000000.000100",
        "",
        &format!("standup: {word} numbers are in"),
        None,
        10,
    )
    .await;
    let long: String = (0..long_chars)
        .map(|i| {
            if i % 7 == 6 {
                ' '
            } else {
                (b'a' + (i % 26) as u8) as char
            }
        })
        .collect();
    item(
        &db.pool,
        (gmail, ws, "gmail", "email"),
        "long",
        &format!("{word} handbook"),
        &long,
        None,
        20,
    )
    .await;
    Seeded { ws, gmail, slack }
}

/// One item written by plain SQL (the trigger computes its search vector).
pub async fn item(
    pool: &Db,
    (integration, ws, platform, kind): (Uuid, Uuid, &str, &str),
    id: &str,
    title: &str,
    text: &str,
    thread: Option<&str>,
    minutes: i64,
) {
    sqlx::query(
        "INSERT INTO mcp.synced_items (integration_id, external_id, workspace_id, platform, kind, \
            occurred_at, raw, title, text, author, url, thread, model_version) \
         VALUES ($1, $2, $3, $4, $5, now() - interval '1 day' + $6 * interval '1 minute', '{}', \
                 nullif($7, ''), $8, '{\"name\": \"Anna\"}', 'https://example.test/' || $2, $9, 1)",
    )
    .bind(integration)
    .bind(id)
    .bind(ws)
    .bind(platform)
    .bind(kind)
    .bind(minutes)
    .bind(title)
    .bind(text)
    .bind(thread)
    .execute(pool)
    .await
    .expect("item");
}

/// `mcp-worker mcp token create …` as a person runs it; the token it printed.
pub async fn token_cli(url: &str, ws: Uuid, extra: &[&str]) -> String {
    let mut args = vec!["mcp", "token", "create", "--workspace"];
    let w = ws.to_string();
    args.push(&w);
    args.extend_from_slice(extra);
    let out = tokio::process::Command::new(bin())
        .args(&args)
        .env("DATABASE_URL", url)
        .env("MCP_WORKER__LOG__LEVEL", "warn")
        .output()
        .await
        .expect("mcp token create");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.split_whitespace()
        .find(|w| w.starts_with("mcpt_"))
        .unwrap_or_else(|| panic!("no token printed: {text}"))
        .to_string()
}

/// Waits until the feed shows `n` changes of `ws`: a change is read once every transaction
/// that began before it has ended, and other tests' transactions (in other databases of the
/// cluster) can hold that back for a moment.
pub async fn wait_feed(db: &TestDb, ws: Uuid, n: i64) {
    db.wait_until(
        &format!("SELECT count(*) >= {n} FROM mcp.changes('{ws}', NULL, 1000)"),
        std::time::Duration::from_secs(60),
    )
    .await;
}

pub async fn daemon(db: &TestDb, env: &[(&str, &str)]) -> Daemon {
    Daemon::start(&db.url, env).await
}

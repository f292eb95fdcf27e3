//! What an assistant does through the official SDK: list the tools, call each, page a search,
//! read a long item in pages, read a thread, follow the feed, ask for a sync, in both protocol
//! generations and over stdio; and what it never sees: another workspace's anything.

use serde_json::{json, Value};

use super::*;

/// The six tools in a stable order, each with schemas; all but request_sync read-only.
fn check_tools(tools: &Value) {
    let names: Vec<&str> = tools
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "get_changes",
            "get_item",
            "get_thread",
            "list_integrations",
            "request_sync",
            "search_items"
        ]
    );
    for t in tools.as_array().expect("tools") {
        assert_eq!(t["input_schema"]["type"], "object", "{t}");
        assert_eq!(t["output_schema"]["type"], "object", "{t}");
        assert_eq!(t["read_only"], t["name"] != "request_sync", "{t}");
    }
}

/// Every tool called through the SDK, in the 2026-07-28 revision (`auto` probes
/// `server/discover`) and in the handshake of 2025-11-25 (`legacy`).
#[tokio::test]
async fn an_assistant_calls_every_tool_in_both_protocol_generations() {
    let db = TestDb::new().await;
    let a = seed(&db, "acme", "zephyr", 30_000).await;
    let token = token_cli(&db.url, a.ws, &["--name", "claude"]).await;
    wait_feed(&db, a.ws, 5).await;
    sqlx::query(
        "INSERT INTO mcp.integration_errors (integration_id, workspace_id, platform, error_type, \
                                             message, http_status, context) \
         VALUES ($1, $2, 'gmail', 'rate_limited', 'Too many requests', 429, 'sync')",
    )
    .bind(a.gmail)
    .bind(a.ws)
    .execute(&db.pool)
    .await
    .expect("an error");
    // This daemon claims no job (its only queue is one nothing is put in): a requested sync
    // waits, so that asking again finds it.
    let d = daemon(
        &db,
        &[
            ("MCP_WORKER__MCP__MAX_RESULT_CHARS", "5000"),
            ("MCP_WORKER__WORKER__QUEUES", "[\"elsewhere\"]"),
        ],
    )
    .await;
    for (mode, version) in [("auto", "2026-07-28"), ("legacy", "2025-11-25")] {
        let out = drive(http_plan(
            d.port,
            &token,
            mode,
            json!([
                {"op": "list_tools"},
                {"op": "call", "tool": "list_integrations"},
                {"op": "pages", "tool": "search_items", "args": {"query": "zephyr", "limit": 2}},
                {"op": "pages", "tool": "get_item", "cursor_arg": "offset", "next": "next_offset",
                 "args": {"integration_id": a.gmail.to_string(), "external_id": "long"}},
                {"op": "call", "tool": "get_thread",
                 "args": {"integration_id": a.gmail.to_string(), "thread": "t1"}},
                {"op": "pages", "tool": "get_changes", "while": "more", "args": {"max_rows": 2}},
                {"op": "call", "tool": "request_sync",
                 "args": {"integration_id": a.slack.to_string()}},
                {"op": "call", "tool": "request_sync",
                 "args": {"integration_id": a.slack.to_string()}}
            ]),
        ))
        .await;
        assert_eq!(out["protocol_version"], version, "{mode}");
        assert_eq!(out["ok"], true, "{out}");
        check_tools(&out["steps"][0]["tools"]);
        let ints = ok_step(&out, 1)["integrations"].as_array().expect("list");
        assert_eq!(ints.len(), 2);
        assert!(ints
            .iter()
            .all(|i| i["state"] == "ACTIVE" && i["breaker"] == "closed"));
        let gmail = ints
            .iter()
            .find(|i| i["platform"] == "gmail")
            .expect("gmail");
        let said = gmail["last_error"].as_str().unwrap_or("");
        assert!(
            said.starts_with("rate limited (HTTP 429) at ")
                && said.ends_with(": Too many requests"),
            "the last error in words: {said}"
        );
        // The search: 5 hits for the word, 2 a page, no repeats, the last page without a cursor.
        let pages = out["steps"][2]["pages"].as_array().expect("pages");
        let mut ids: Vec<String> = Vec::new();
        for p in pages {
            assert_eq!(p["is_error"], false, "{p}");
            for h in p["structured"]["hits"].as_array().expect("hits") {
                ids.push(h["external_id"].as_str().unwrap_or("").to_string());
                assert!(
                    h.get("text").is_none(),
                    "hits carry a snippet, not the text"
                );
            }
        }
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 5, "{ids:?}");
        assert_eq!(ids.len(), 5, "no hit twice: {ids:?}");
        // The long text: pages within the limit, together the whole text.
        let pages = out["steps"][3]["pages"].as_array().expect("pages");
        assert!(
            pages.len() >= 6,
            "30,000 characters over a 5,000 limit: {}",
            pages.len()
        );
        let mut text = String::new();
        for p in pages {
            assert!(
                p["text"].as_str().unwrap_or("").len() <= 5_000,
                "a page fits the limit"
            );
            text.push_str(p["structured"]["text"].as_str().unwrap_or(""));
        }
        let stored: String =
            sqlx::query_scalar("SELECT text FROM mcp.synced_items WHERE external_id = 'long'")
                .fetch_one(&db.pool)
                .await
                .expect("stored");
        assert_eq!(
            text, stored,
            "the pages are the text, in order, nothing cut or repeated"
        );
        // The thread in order.
        let msgs: Vec<&str> = ok_step(&out, 4)["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["external_id"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(msgs, ["m0", "m1", "m2"]);
        // The feed: every item once, two at a time.
        let pages = out["steps"][5]["pages"].as_array().expect("pages");
        let seen: usize = pages
            .iter()
            .map(|p| p["structured"]["changes"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(seen, 5, "{pages:?}");
        // One sync asked twice: the same job.
        let first = ok_step(&out, 6)["job_id"].as_i64().expect("job");
        let again = ok_step(&out, 7);
        assert_eq!(again["job_id"].as_i64(), Some(first));
        assert_eq!(again["coalesced"], true);
        sqlx::query("DELETE FROM mcp.sync_jobs WHERE id = $1")
            .bind(first)
            .execute(&db.pool)
            .await
            .expect("clear the job for the next round");
    }
    drop(d);
    db.drop_db().await;
}

/// Two workspaces on one daemon: each token sees its own items, integrations, threads and
/// changes only; another's ids are as if they did not exist.
#[tokio::test]
async fn two_workspaces_never_see_each_others_items_integrations_or_changes() {
    let db = TestDb::new().await;
    let a = seed(&db, "a", "alpha", 100).await;
    let b = seed(&db, "b", "bravo", 100).await;
    let ta = token_cli(&db.url, a.ws, &[]).await;
    wait_feed(&db, a.ws, 5).await;
    let d = daemon(&db, &[]).await;
    let out = drive(http_plan(
        d.port,
        &ta,
        "auto",
        json!([
            {"op": "call", "tool": "search_items", "args": {"query": "bravo"}},
            {"op": "call", "tool": "search_items", "args": {"query": "alpha", "limit": 50}},
            {"op": "call", "tool": "list_integrations"},
            {"op": "call", "tool": "get_item",
             "args": {"integration_id": b.gmail.to_string(), "external_id": "m0"}},
            {"op": "call", "tool": "get_thread",
             "args": {"integration_id": b.gmail.to_string(), "thread": "t1"}},
            {"op": "call", "tool": "get_changes", "args": {"max_rows": 500}},
            {"op": "call", "tool": "request_sync", "args": {"integration_id": b.slack.to_string()}},
            {"op": "call", "tool": "search_items",
             "args": {"query": "bravo", "integration_id": b.gmail.to_string()}}
        ]),
    ))
    .await;
    assert_eq!(ok_step(&out, 0)["hits"], json!([]), "B's word is not found");
    assert_eq!(ok_step(&out, 1)["hits"].as_array().map(Vec::len), Some(5));
    let ints: Vec<String> = ok_step(&out, 2)["integrations"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["integration_id"].as_str().unwrap_or("").to_string())
        .collect();
    let mut mine = vec![a.gmail.to_string(), a.slack.to_string()];
    mine.sort();
    let mut got = ints.clone();
    got.sort();
    assert_eq!(got, mine);
    for i in [3, 4, 6] {
        let s = &out["steps"][i];
        assert_eq!(s["is_error"], true, "{s}");
        assert_eq!(s["structured"]["error"], "not_found", "{s}");
    }
    let changes = ok_step(&out, 5)["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 5);
    assert!(changes
        .iter()
        .all(|c| c["integration_id"] == json!(a.gmail.to_string())
            || c["integration_id"] == json!(a.slack.to_string())));
    assert_eq!(ok_step(&out, 7)["hits"], json!([]));
    // Once `prune` has deleted changes past a reader's cursor, the cursor is refused with what
    // to do next.
    let cursor = ok_step(&out, 5)["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_string();
    sqlx::query(
        "INSERT INTO mcp.item_changes_pruned (txid, seq) \
         SELECT txid, seq FROM mcp.item_changes ORDER BY txid DESC, seq DESC LIMIT 1",
    )
    .execute(&db.pool)
    .await
    .expect("prune past the cursor");
    let late = drive(http_plan(
        d.port,
        &ta,
        "auto",
        json!([{"op": "call", "tool": "get_changes", "args": {"cursor": cursor}}]),
    ))
    .await;
    let expired = &late["steps"][0];
    assert_eq!(expired["is_error"], true, "{late}");
    assert_eq!(expired["structured"]["error"], "cursor_expired");
    assert!(
        expired["structured"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("start again from a fresh search"),
        "{expired}"
    );
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'sync'")
        .fetch_one(&db.pool)
        .await
        .expect("jobs");
    assert_eq!(
        jobs, 0,
        "no sync enqueued for another workspace's integration"
    );
    let _ = b.ws;
    drop(d);
    db.drop_db().await;
}

/// A desktop assistant starts `mcp-worker mcp stdio --workspace ID` as a command: the same
/// tools, its workspace only, credentials from the environment.
#[tokio::test]
async fn over_stdio_an_assistant_reads_its_workspace() {
    let db = TestDb::new().await;
    let a = seed(&db, "a", "kestrel", 100).await;
    let _b = seed(&db, "b", "osprey", 100).await;
    for mode in ["auto", "legacy"] {
        let plan = json!({
            "transport": "stdio",
            "command": crate::common::bin(),
            "args": ["mcp", "stdio", "--workspace", a.ws.to_string()],
            "env": {"DATABASE_URL": db.url, "MCP_WORKER__LOG__LEVEL": "warn"},
            "mode": mode,
            "steps": [
                {"op": "list_tools"},
                {"op": "call", "tool": "search_items", "args": {"query": "kestrel"}},
                {"op": "call", "tool": "search_items", "args": {"query": "osprey"}}
            ]
        });
        let out = drive(plan).await;
        assert_eq!(out["ok"], true, "{mode}: {out}");
        check_tools(&out["steps"][0]["tools"]);
        assert_eq!(ok_step(&out, 1)["hits"].as_array().map(Vec::len), Some(5));
        assert_eq!(ok_step(&out, 2)["hits"], json!([]), "{mode}");
    }
    db.drop_db().await;
}

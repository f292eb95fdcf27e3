//! `mcp-worker-lab bench --suite mcp`: the MCP server of the real daemon, through HTTP as an
//! assistant calls it (JSON-RPC `tools/call`, the stateless 2026-07-28 revision, one bearer
//! token per workspace). On the search suite's data set (1,000,000 items over 100 workspaces,
//! modelled by the daemon's backfill): `list_integrations` from one client, back to back;
//! 100 clients holding connections open and calling at once (the daemon's RSS); then
//! `search_items` from 8 clients with the search suite's queries. Prints latencies, calls/s
//! and RSS; asserts nothing.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::bench::search::{query, vocabulary, SearchReport, Zipf};
use crate::bench::{machine, BenchArgs};

#[derive(Debug, Default, serde::Serialize)]
pub struct McpReport {
    pub machine: String,
    pub items: u64,
    pub list_calls: u64,
    pub list_p50_ms: f64,
    pub list_p99_ms: f64,
    pub open_clients: u64,
    pub open_clients_calls_per_s: f64,
    pub rss_with_open_clients_mb: f64,
    pub search_calls: u64,
    pub search_p50_ms: f64,
    pub search_p99_ms: f64,
    pub search_calls_per_s: f64,
    pub daemon_peak_rss_mb: f64,
}

const SEARCH_CLIENTS: usize = 8;
const OPEN_CLIENTS: usize = 100;

/// One `tools/call` through HTTP; the structured result (an error when the tool said so).
async fn call(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    tool: &str,
    args: Value,
) -> anyhow::Result<Value> {
    // The 2026-07-28 revision's stateless request: the version and the client's capabilities
    // in every request's `_meta`, the method and tool in headers.
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": tool, "arguments": args, "_meta": {
                          "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                          "io.modelcontextprotocol/clientCapabilities": {},
                          "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"}}}});
    let resp = http
        .post(url)
        .bearer_auth(token)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await?;
    let status = resp.status();
    let v: Value = resp.json().await?;
    anyhow::ensure!(status.is_success(), "{tool}: HTTP {status}: {v}");
    let result = &v["result"];
    anyhow::ensure!(
        result["isError"] != true && v.get("error").is_none(),
        "{tool}: {v}"
    );
    Ok(result["structuredContent"].clone())
}

fn pick(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

pub async fn measure(args: &BenchArgs, db_url: &str) -> anyhow::Result<McpReport> {
    let mut report = McpReport {
        machine: machine(),
        ..McpReport::default()
    };
    println!("machine: {}", report.machine);
    let mut data = SearchReport::default();
    crate::bench::search::prepare(args, db_url, &mut data).await?;
    report.items = data.items;
    let workspaces = args.search_workspaces.max(1);
    let pool = mcp_queue::pg::Db::connect(db_url).await?;
    let mut tokens = Vec::with_capacity(workspaces);
    for w in 1..=workspaces {
        let ws: uuid::Uuid = format!("00000000-0000-4000-8000-{w:012x}").parse()?;
        let (_, t) = mcp_daemon::assistant::tokens::create(&pool, ws, "bench", &[], None).await?;
        tokens.push(t.expose().to_string());
    }
    let keys = crate::bench::health::bench_keys()?;
    let daemon = crate::bench::health::daemon_with(
        &keys,
        "[mcp]\ncalls_per_minute = 100000000\nburst = 1000000\n",
        args,
        db_url,
    )
    .await?;
    let url = format!("http://127.0.0.1:{}/mcp", daemon.port);

    // list_integrations, one client, back to back.
    let http = reqwest::Client::new();
    for _ in 0..50 {
        call(&http, &url, &tokens[0], "list_integrations", json!({})).await?;
    }
    let mut ms = Vec::new();
    for i in 0..2000 {
        let t = Instant::now();
        call(
            &http,
            &url,
            &tokens[i % tokens.len()],
            "list_integrations",
            json!({}),
        )
        .await?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    report.list_calls = ms.len() as u64;
    report.list_p50_ms = pick(&ms, 0.5);
    report.list_p99_ms = pick(&ms, 0.99);
    println!(
        "list_integrations, 1 client, {} calls through HTTP: p50 {:.2} ms, p99 {:.2} ms",
        report.list_calls, report.list_p50_ms, report.list_p99_ms
    );

    // 100 clients, each with its own open connection, calling at once for 10 s.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..OPEN_CLIENTS {
        let (url, token) = (url.clone(), tokens[c % tokens.len()].clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?;
            let mut n = 0u64;
            while started.elapsed() < Duration::from_secs(10) {
                call(&http, &url, &token, "list_integrations", json!({})).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    report.rss_with_open_clients_mb = rss_mb(daemon.pid);
    let mut calls = 0;
    for t in tasks {
        calls += t.await??;
    }
    report.open_clients = OPEN_CLIENTS as u64;
    report.open_clients_calls_per_s = calls as f64 / started.elapsed().as_secs_f64();
    println!(
        "{OPEN_CLIENTS} clients with open connections calling at once: {:.0} calls/s; daemon RSS {:.1} MB",
        report.open_clients_calls_per_s, report.rss_with_open_clients_mb
    );

    // search_items, 8 clients, the search suite's queries in random workspaces.
    let words = std::sync::Arc::new(vocabulary());
    let per_client = (args.search_queries / SEARCH_CLIENTS as u64).max(1);
    let tokens = std::sync::Arc::new(tokens);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..SEARCH_CLIENTS {
        let (words, tokens, url) = (words.clone(), tokens.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let z = Zipf::new(100, 10_000);
            let mut rng = StdRng::seed_from_u64(100 + c as u64);
            let mut out = Vec::with_capacity(per_client as usize);
            for _ in 0..per_client {
                let (q, f) = query(&mut rng, &z, &words);
                let w = rng.random_range(0..tokens.len());
                let mut a = json!({"query": q, "limit": 20});
                for k in ["platforms", "since"] {
                    if let Some(v) = f.get(k) {
                        a[k] = v.clone();
                    }
                }
                let started = Instant::now();
                call(&http, &url, &tokens[w], "search_items", a).await?;
                out.push(started.elapsed().as_secs_f64() * 1e3);
            }
            anyhow::Ok(out)
        }));
    }
    let mut ms = Vec::new();
    for task in tasks {
        ms.extend(task.await??);
    }
    let wall = t.elapsed().as_secs_f64();
    ms.sort_by(f64::total_cmp);
    report.search_calls = ms.len() as u64;
    report.search_p50_ms = pick(&ms, 0.5);
    report.search_p99_ms = pick(&ms, 0.99);
    report.search_calls_per_s = ms.len() as f64 / wall;
    println!(
        "search_items, {SEARCH_CLIENTS} clients, {} calls through HTTP over {} items: p50 {:.2} ms, p99 {:.2} ms, {:.0} calls/s",
        report.search_calls,
        report.items,
        report.search_p50_ms,
        report.search_p99_ms,
        report.search_calls_per_s
    );
    report.daemon_peak_rss_mb = daemon.stop().await;
    pool.close().await;
    Ok(report)
}

//! `mcp-worker-lab bench --suite search`: `--search-items` items (1,000,000 by default) of about
//! 1 KB of text each over `--search-workspaces` (100), stored as an older daemon stored them (the platform's
//! record only, no model), then modelled by a full `items_backfill` pass of the real daemon
//! (items/s), then searched by 8 concurrent clients with typical queries of 1–3 words, a quarter
//! of them with a filter (latency p50/p99, the search index's size). Half the items are Slack
//! messages (mrkdwn in the record), half Outlook messages (an HTML body). The words follow a
//! Zipf law over a vocabulary of 40,000 made-up words; queries pick content words (ranks 100 to
//! 10,000), as people search for what is rare enough to find. It prints numbers; it asserts
//! nothing, and it touches no database but the bench's own.

use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::{Connection, PgConnection};

use crate::bench::{machine, BenchArgs};

const VOCABULARY: usize = 40_000;
const WORDS_PER_ITEM: usize = 150;
const CLIENTS: usize = 8;
const BATCH: usize = 2_000;

#[derive(Debug, Default, serde::Serialize)]
pub struct SearchReport {
    pub machine: String,
    pub items: u64,
    pub seed_s: f64,
    pub backfill_s: f64,
    pub backfill_items_per_s: f64,
    pub index_mb: f64,
    pub table_mb: f64,
    pub queries: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub queries_per_s: f64,
    pub mean_rows: f64,
}

/// Made-up words from syllables, the same every run.
pub(crate) fn vocabulary() -> Vec<String> {
    const ON: [&str; 16] = [
        "b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br",
    ];
    const NU: [&str; 6] = ["a", "e", "i", "o", "u", "ei"];
    let mut rng = StdRng::seed_from_u64(7);
    let mut seen = std::collections::HashSet::new();
    let mut words = Vec::with_capacity(VOCABULARY);
    while words.len() < VOCABULARY {
        let syllables = rng.random_range(1..=4);
        let w: String = (0..syllables)
            .map(|_| {
                format!(
                    "{}{}",
                    ON[rng.random_range(0..ON.len())],
                    NU[rng.random_range(0..NU.len())]
                )
            })
            .collect();
        if seen.insert(w.clone()) {
            words.push(w);
        }
    }
    words
}

/// Zipf sampling over ranks `lo..hi` (exponent 1) by inverse cumulative weights.
pub(crate) struct Zipf {
    cumulative: Vec<f64>,
    lo: usize,
}

impl Zipf {
    pub(crate) fn new(lo: usize, hi: usize) -> Zipf {
        let mut acc = 0.0;
        let cumulative = (lo..hi)
            .map(|r| {
                acc += 1.0 / (r + 1) as f64;
                acc
            })
            .collect();
        Zipf { cumulative, lo }
    }

    pub(crate) fn sample(&self, rng: &mut StdRng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.random::<f64>() * total;
        self.lo + self.cumulative.partition_point(|c| *c < x)
    }
}

fn sentence(rng: &mut StdRng, z: &Zipf, words: &[String], n: usize) -> String {
    let mut s = String::with_capacity(n * 7);
    for i in 0..n {
        if i > 0 {
            s.push(if rng.random_ratio(1, 12) { '.' } else { ' ' });
            if s.ends_with('.') {
                s.push(' ');
            }
        }
        s.push_str(&words[z.sample(rng)]);
    }
    s
}

/// One item's record as its platform lists it: a Slack message or an Outlook message.
fn record(i: u64, rng: &mut StdRng, z: &Zipf, words: &[String], at: i64) -> (String, String) {
    let text = sentence(rng, z, words, WORDS_PER_ITEM);
    if i.is_multiple_of(2) {
        let ts = format!("{at}.{:06}", i % 1_000_000);
        let raw = serde_json::json!({
            "type": "message", "user": format!("U{:06}", i % 997), "ts": ts,
            "text": format!("<@U{:06}> {text}", (i + 1) % 997),
        });
        (format!("C0BENCH:{ts}"), raw.to_string())
    } else {
        let subject = sentence(rng, z, words, 5);
        let who = i % 977;
        let raw = serde_json::json!({
            "id": format!("AAMk{i}"), "subject": subject,
            "receivedDateTime": chrono::DateTime::from_timestamp(at, 0).map(|t| t.to_rfc3339()),
            "from": {"emailAddress": {"name": format!("Person {who}"), "address": format!("p{who}@example.com")}},
            "conversationId": format!("conv{}", i / 4),
            "body": {"contentType": "html",
                     "content": format!("<html><body><p>{}</p><p>Regards,<br>Person {who}</p></body></html>", text)},
        });
        (format!("AAMk{i}"), raw.to_string())
    }
}

async fn seed(pool: &mcp_queue::pg::Db, items: u64, workspaces: usize) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO core.workspaces (id, name) \
         SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, 'bench ' || g \
         FROM generate_series(1, $1) g",
    )
    .bind(workspaces as i32)
    .execute(pool)
    .await?;
    // Two integrations a workspace: Slack (even items) and Outlook (odd ones).
    sqlx::query(
        "INSERT INTO core.integrations (id, workspace_id, platform, external_account_id) \
         SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(g), 12, '0'))::uuid, \
                ('00000000-0000-4000-8000-' || lpad(to_hex((g - 1) / 2 + 1), 12, '0'))::uuid, \
                CASE WHEN g % 2 = 1 THEN 'slack' ELSE 'outlook' END, 'bench-' || g \
         FROM generate_series(1, $1) g",
    )
    .bind((workspaces * 2) as i32)
    .execute(pool)
    .await?;
    let words = vocabulary();
    let z = Zipf::new(0, VOCABULARY);
    let mut rng = StdRng::seed_from_u64(11);
    let now = chrono::Utc::now().timestamp();
    let mut i = 0u64;
    while i < items {
        let n = BATCH.min((items - i) as usize);
        let (mut ints, mut ext, mut ws, mut plat, mut at, mut raws) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for k in 0..n as u64 {
            let item = i + k;
            let w = (item % workspaces as u64) as usize + 1;
            let slack = item.is_multiple_of(2);
            let integration = if slack { 2 * w - 1 } else { 2 * w };
            let when = now - (item as i64 % 200_000) * 60;
            let (id, raw) = record(item, &mut rng, &z, &words, when);
            ints.push(format!("00000000-0000-4000-9000-{integration:012x}"));
            ws.push(format!("00000000-0000-4000-8000-{w:012x}"));
            plat.push(if slack { "slack" } else { "outlook" });
            ext.push(id);
            at.push(chrono::DateTime::from_timestamp(when, 0));
            raws.push(raw);
        }
        // As an older daemon stored them: the record and the listing's kind, no model.
        sqlx::query(
            "INSERT INTO mcp.synced_items (integration_id, external_id, workspace_id, platform, \
                                           kind, occurred_at, raw) \
             SELECT i::uuid, e, w::uuid, p, 'message', o, r::jsonb \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], \
                         $6::text[]) AS t(i, e, w, p, o, r)",
        )
        .bind(&ints)
        .bind(&ext)
        .bind(&ws)
        .bind(&plat)
        .bind(&at)
        .bind(&raws)
        .execute(pool)
        .await?;
        i += n as u64;
    }
    Ok(())
}

/// A typical query: 1–3 content words, a quarter of them with a filter.
pub(crate) fn query(rng: &mut StdRng, z: &Zipf, words: &[String]) -> (String, serde_json::Value) {
    let n = match rng.random_range(0..100) {
        0..50 => 1,
        50..85 => 2,
        _ => 3,
    };
    let q: Vec<&str> = (0..n).map(|_| words[z.sample(rng)].as_str()).collect();
    let filters = match rng.random_range(0..8) {
        0 => serde_json::json!({"platforms": ["outlook"]}),
        1 => {
            serde_json::json!({"since": (chrono::Utc::now() - chrono::Duration::days(30)).to_rfc3339()})
        }
        _ => serde_json::json!({}),
    };
    (q.join(" "), filters)
}

/// The search suite's data set, stored, modelled by the daemon's backfill and vacuumed (the
/// mcp suite searches the same one); fills the report's seed, backfill and size figures.
pub(crate) async fn prepare(
    args: &BenchArgs,
    db_url: &str,
    report: &mut SearchReport,
) -> anyhow::Result<()> {
    let workspaces = args.search_workspaces.max(1);
    let items = args.search_items.max(workspaces as u64);
    report.items = items;
    let pool = mcp_queue::pg::Db::connect(db_url).await?;
    mcp_daemon::db::migrate(&pool, mcp_handlers::builtin_catalog()).await?;
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mcp.synced_items WHERE model_version > 0 AND search IS NOT NULL",
    )
    .fetch_one(&pool)
    .await?;
    if stored >= items as i64 {
        println!("{stored} modelled items found (--db): not stored again");
        pool.close().await;
        return Ok(());
    }
    let t = Instant::now();
    seed(&pool, items, workspaces).await?;
    report.seed_s = t.elapsed().as_secs_f64();
    println!(
        "seeded {items} items over {workspaces} workspaces (Slack and Outlook records, ~1 KB of text each, no model) in {:.1} s",
        report.seed_s
    );

    // A full pass of the real daemon's backfill.
    let keys = crate::bench::health::bench_keys()?;
    let daemon = crate::bench::health::daemon_with(&keys, "", args, db_url).await?;
    let mut conn = PgConnection::connect(db_url).await?;
    let t = Instant::now();
    sqlx::query(
        "SELECT mcp.enqueue_job('items_backfill', '{\"all\": true}', unique_key => 'items_backfill')",
    )
    .execute(&mut conn)
    .await?;
    loop {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'items_backfill' \
             AND state NOT IN ('completed', 'discarded', 'cancelled')",
        )
        .fetch_one(&mut conn)
        .await?;
        if left == 0 {
            break;
        }
        if t.elapsed() > Duration::from_secs(3600) {
            anyhow::bail!("the backfill did not finish within an hour");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    report.backfill_s = t.elapsed().as_secs_f64();
    daemon.stop().await;
    let modelled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mcp.synced_items WHERE model_version > 0 AND search IS NOT NULL",
    )
    .fetch_one(&mut conn)
    .await?;
    if modelled < items as i64 {
        anyhow::bail!("the backfill modelled {modelled} of {items} items");
    }
    report.backfill_items_per_s = items as f64 / report.backfill_s;
    println!(
        "backfill (the daemon's items_backfill, every item modelled and indexed): {:.1} s = {:.0} items/s",
        report.backfill_s, report.backfill_items_per_s
    );
    sqlx::query("VACUUM ANALYZE mcp.synced_items")
        .execute(&mut conn)
        .await?;
    let (index, table): (i64, i64) = sqlx::query_as(
        "SELECT pg_relation_size('mcp.synced_items_search'), pg_table_size('mcp.synced_items')",
    )
    .fetch_one(&mut conn)
    .await
    .context("index size")?;
    report.index_mb = index as f64 / 1048576.0;
    report.table_mb = table as f64 / 1048576.0;
    println!(
        "search index {:.0} MB; table with its TOAST {:.0} MB",
        report.index_mb, report.table_mb
    );
    pool.close().await;
    Ok(())
}

pub async fn measure(args: &BenchArgs, db_url: &str) -> anyhow::Result<SearchReport> {
    let workspaces = args.search_workspaces.max(1);
    let mut report = SearchReport {
        machine: machine(),
        ..SearchReport::default()
    };
    println!("machine: {}", report.machine);
    prepare(args, db_url, &mut report).await?;

    // 8 clients, each with its connection, back to back.
    let words = std::sync::Arc::new(vocabulary());
    let per_client = (args.search_queries / CLIENTS as u64).max(1);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let words = words.clone();
        let url = db_url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut conn = PgConnection::connect(&url).await?;
            let z = Zipf::new(100, 10_000);
            let mut rng = StdRng::seed_from_u64(100 + c as u64);
            let mut out = Vec::with_capacity(per_client as usize);
            for _ in 0..per_client {
                let (q, f) = query(&mut rng, &z, &words);
                let w = rng.random_range(1..=workspaces);
                let ws: uuid::Uuid = format!("00000000-0000-4000-8000-{w:012x}").parse()?;
                let started = Instant::now();
                let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
                    "SELECT cursor, external_id, snippet FROM mcp.search_items($1, $2, $3, NULL, 20)",
                )
                .bind(ws)
                .bind(&q)
                .bind(&f)
                .fetch_all(&mut conn)
                .await?;
                out.push((started.elapsed().as_secs_f64() * 1000.0, rows.len()));
            }
            anyhow::Ok(out)
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await??);
    }
    let wall = t.elapsed().as_secs_f64();
    let rows: usize = samples.iter().map(|s| s.1).sum();
    let mut ms: Vec<f64> = samples.iter().map(|s| s.0).collect();
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    report.queries = ms.len() as u64;
    report.p50_ms = pick(0.5);
    report.p99_ms = pick(0.99);
    report.max_ms = pick(1.0);
    report.queries_per_s = ms.len() as f64 / wall;
    report.mean_rows = rows as f64 / ms.len() as f64;
    println!(
        "search, {CLIENTS} clients, {} queries of 1-3 words (a quarter filtered): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.0} queries/s; {:.1} rows a query",
        report.queries, report.p50_ms, report.p99_ms, report.max_ms, report.queries_per_s, report.mean_rows
    );
    Ok(report)
}

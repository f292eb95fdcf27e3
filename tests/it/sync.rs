//! Sync end to end: a real worker (or daemon), a real database, the sandbox as the platforms.

use std::time::{Duration, Instant};

use mcp_worker::catalog::Catalog;
use mcp_worker::config::{Config, KindOverride};
use mcp_worker::connectors::Platform;
use mcp_worker::handlers::Registry;
use mcp_worker::integrations;
use mcp_worker::sandbox::{self, FaultKind, Sandbox};
use mcp_worker::sync::config::RateLimit;
use uuid::Uuid;

use crate::common::{start_worker, test_config, test_vault, Daemon, TestDb};

fn config(db: &TestDb, sb: &Sandbox, limit: RateLimit) -> Config {
    let mut c = test_config(&db.url);
    c.platforms = sb.config_overrides();
    c.http_client.timeout = Duration::from_millis(2000);
    for p in Platform::ALL {
        c.sync.rate_limits.insert(p.as_str().into(), limit);
    }
    c.kinds.insert(
        "sync".into(),
        KindOverride {
            max_attempts: Some(5),
            backoff_base: Some(Duration::from_millis(10)),
            backoff_max: Some(Duration::from_millis(20)),
            timeout: None,
            concurrency: None,
        },
    );
    c
}

const FAST: RateLimit = RateLimit {
    capacity: 1000.0,
    per_sec: 1000.0,
};

async fn seed(db: &TestDb, sb: &Sandbox, ws: Uuid, p: Platform, account: &str) -> Uuid {
    let (creds, _refresh) = sb.mint_credentials(p, account);
    integrations::create_active(&db.pool, &test_vault(), ws, p, &creds)
        .await
        .expect("seed integration")
}

async fn set_settings(db: &TestDb, id: Uuid, settings: serde_json::Value) {
    sqlx::query("UPDATE core.integrations SET settings = $2 WHERE id = $1")
        .bind(id)
        .bind(settings)
        .execute(&db.pool)
        .await
        .expect("settings");
}

/// What an integration of `p` needs in its settings to be synced (Discord: its channels).
fn settings_for(p: Platform) -> serde_json::Value {
    match p {
        Platform::Discord => serde_json::json!({"channels": ["1100"]}),
        _ => serde_json::json!({}),
    }
}

async fn sync_now(db: &TestDb, id: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT mcp.enqueue_job('sync', jsonb_build_object('integration_id', $1::uuid), \
         unique_key => 'sync:' || $1::text)",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("enqueue sync")
}

async fn wait_done(db: &TestDb, jobs: &[i64]) {
    let list = jobs
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let start = Instant::now();
    loop {
        let left = db
            .scalar_i64(&format!(
                "SELECT count(*) FROM mcp.sync_jobs WHERE id IN ({list}) AND state <> 'completed'"
            ))
            .await;
        if left == 0 {
            return;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let rows: Vec<(i64, String, i16, Option<serde_json::Value>)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT id, state, attempt, errors FROM mcp.sync_jobs WHERE id IN ({list})"
                )))
                .fetch_all(&db.pool)
                .await
                .expect("jobs");
            panic!("sync jobs not completed: {rows:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn rows(db: &TestDb, id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM mcp.synced_items WHERE integration_id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("count")
}

#[tokio::test]
async fn every_platform_pages_to_the_end_and_counts_each_item_once() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    // 250 items: several pages on every platform (Outlook pages by 10, Fireflies by 50).
    sb.set_items_per_account(250);
    let cfg = config(&db, &sb, FAST);
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    let mut ids = Vec::new();
    for p in Platform::ALL {
        let id = seed(&db, &sb, ws, p, "acme").await;
        set_settings(&db, id, settings_for(p)).await;
        ids.push((p, id));
    }
    let worker = start_worker(
        &db,
        cfg,
        &Catalog::effective(&test_config(&db.url)),
        &Registry::builtin(),
    )
    .await;
    let mut jobs = Vec::new();
    for (_, id) in &ids {
        jobs.push(sync_now(&db, *id).await);
    }
    wait_done(&db, &jobs).await;
    for (p, id) in &ids {
        assert_eq!(rows(&db, *id).await, 250, "{p}");
        let synced: bool = sqlx::query_scalar(
            "SELECT last_synced_at IS NOT NULL FROM core.integrations WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("synced");
        assert!(synced, "{p}: last_synced_at recorded");
    }
    let pages: i64 = db
        .scalar_i64("SELECT count(*) FROM mcp.synced_items WHERE raw IS NULL OR external_id = ''")
        .await;
    assert_eq!(pages, 0, "every row has an id and its raw record");
    // A second run rewrites nothing new: same rows, first_seen_at untouched.
    let before: Vec<(String, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT external_id, first_seen_at FROM mcp.synced_items ORDER BY 1")
            .fetch_all(&db.pool)
            .await
            .expect("before");
    let mut jobs = Vec::new();
    for (_, id) in &ids {
        jobs.push(sync_now(&db, *id).await);
    }
    wait_done(&db, &jobs).await;
    let after: Vec<(String, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT external_id, first_seen_at FROM mcp.synced_items ORDER BY 1")
            .fetch_all(&db.pool)
            .await
            .expect("after");
    assert_eq!(before, after);
    worker.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_too_old_gmail_cursor_starts_a_full_resync() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    sb.set_items_per_account(120);
    let cfg = config(&db, &sb, FAST);
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    let id = seed(&db, &sb, ws, Platform::Gmail, "acme").await;
    // History ids below the sandbox's oldest answer 404, as Gmail does for an old id.
    sqlx::query("UPDATE core.integrations SET sync_cursor = '100' WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .expect("old cursor");
    let worker = start_worker(
        &db,
        cfg,
        &Catalog::effective(&test_config(&db.url)),
        &Registry::builtin(),
    )
    .await;
    let job = sync_now(&db, id).await;
    wait_done(&db, &[job]).await;
    assert_eq!(rows(&db, id).await, 120, "the full listing");
    let cursor: Option<String> =
        sqlx::query_scalar("SELECT sync_cursor FROM core.integrations WHERE id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .expect("cursor");
    assert_eq!(
        cursor.as_deref(),
        Some("10000"),
        "the history id to continue from"
    );
    // Incremental from there: nothing new, nothing doubled.
    let job = sync_now(&db, id).await;
    wait_done(&db, &[job]).await;
    assert_eq!(rows(&db, id).await, 120);
    worker.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_429_in_each_form_snoozes_without_spending_an_attempt_and_blocks_the_bucket() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let cfg = config(&db, &sb, FAST);
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    let cases = [
        (Platform::Notion, FaultKind::RateLimitSeconds),
        (Platform::Zoom, FaultKind::RateLimitDate),
        (Platform::Discord, FaultKind::RateLimitSeconds),
    ];
    let mut ids = Vec::new();
    for (p, kind) in cases {
        let id = seed(&db, &sb, ws, p, "acme").await;
        set_settings(&db, id, settings_for(p)).await;
        ids.push((p, id));
        sb.fault(p, kind, Some(1), Some(120));
    }
    let worker = start_worker(
        &db,
        cfg,
        &Catalog::effective(&test_config(&db.url)),
        &Registry::builtin(),
    )
    .await;
    for (_, id) in &ids {
        sync_now(&db, *id).await;
    }
    db.wait_until(
        "SELECT count(*) = 3 FROM mcp.sync_jobs WHERE kind = 'sync' AND state = 'scheduled' \
         AND run_at > now() + interval '60 seconds'",
        Duration::from_secs(20),
    )
    .await;
    for (p, id) in &ids {
        let (attempt, wait_s): (i16, f64) = sqlx::query_as(
            "SELECT attempt, EXTRACT(EPOCH FROM run_at - now())::float8 FROM mcp.sync_jobs \
             WHERE kind = 'sync' AND payload->>'integration_id' = $1::text",
        )
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("job");
        assert_eq!(attempt, 0, "{p}: the attempt is not spent");
        assert!((100.0..=125.0).contains(&wait_s), "{p}: snoozed {wait_s} s");
        let blocked_s: f64 = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM blocked_until - now())::float8 FROM mcp.rate_limits \
             WHERE integration_id = $1",
        )
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("bucket");
        assert!(
            (100.0..=125.0).contains(&blocked_s),
            "{p}: bucket blocked {blocked_s} s"
        );
        assert_eq!(rows(&db, *id).await, 0, "{p}");
    }
    worker.shutdown().await;
    db.drop_db().await;
}

/// Two pools (as two daemons) hammer one bucket: grants never exceed capacity + rate × time.
#[tokio::test]
async fn the_token_bucket_is_shared_by_every_caller() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    let id = seed(&db, &sb, ws, Platform::Notion, "acme").await;
    let limit = RateLimit {
        capacity: 3.0,
        per_sec: 10.0,
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");
        for _ in 0..4 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                let mut granted = 0u32;
                while start.elapsed() < Duration::from_millis(1500) {
                    let wait = mcp_worker::sync::try_take_token(&pool, id, limit)
                        .await
                        .expect("take");
                    if wait.is_zero() {
                        granted += 1;
                    } else {
                        assert!(wait <= Duration::from_millis(101), "wait {wait:?}");
                    }
                }
                granted
            }));
        }
    }
    let mut granted = 0;
    for t in tasks {
        granted += t.await.expect("task");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let most = limit.capacity + limit.per_sec * elapsed;
    assert!(granted as f64 <= most + 1.0, "{granted} tokens > {most:.1}");
    assert!(
        granted as f64 >= 0.7 * most,
        "{granted} tokens, the bucket refills ({most:.1})"
    );
    db.drop_db().await;
}

/// Two workers syncing integrations of one platform stay under its buckets (per integration).
#[tokio::test]
async fn two_workers_stay_under_the_platforms_rate() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    // Outlook pages by 10: 60 items = 6 calls per integration (the last with the delta link).
    sb.set_items_per_account(60);
    let limit = RateLimit {
        capacity: 2.0,
        per_sec: 5.0,
    };
    let cfg = config(&db, &sb, limit);
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    let a = seed(&db, &sb, ws, Platform::Outlook, "a").await;
    let b = seed(&db, &sb, ws, Platform::Outlook, "b").await;
    let catalog = Catalog::effective(&test_config(&db.url));
    let w1 = start_worker(&db, cfg.clone(), &catalog, &Registry::builtin()).await;
    let w2 = start_worker(&db, cfg, &catalog, &Registry::builtin()).await;
    let start = Instant::now();
    let jobs = [sync_now(&db, a).await, sync_now(&db, b).await];
    let mut worst = 0.0f64;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let calls = sb.calls(Platform::Outlook) as f64;
        let allowed = 2.0 * (limit.capacity + limit.per_sec * start.elapsed().as_secs_f64());
        worst = worst.max(calls - allowed);
        let done = db
            .scalar_i64(&format!(
                "SELECT count(*) FROM mcp.sync_jobs WHERE id IN ({}, {}) AND state = 'completed'",
                jobs[0], jobs[1]
            ))
            .await;
        if done == 2 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "syncs not done");
    }
    assert!(worst <= 1.0, "calls ran ahead of the buckets by {worst}");
    assert_eq!(sb.calls(Platform::Outlook), 12);
    // 6 calls each with a burst of 2 at 5/s take at least (6 - 2) / 5 s.
    assert!(
        start.elapsed() >= Duration::from_millis(750),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(rows(&db, a).await + rows(&db, b).await, 120);
    w1.shutdown().await;
    w2.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_silent_webhook_puts_the_integration_on_the_fallback_interval() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let cfg = Config::default().sync;
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    let id = seed(&db, &sb, ws, Platform::Slack, "acme").await;
    // Synced 10 minutes ago: due on the 5-minute fallback, not on the 1-hour interval.
    sqlx::query(
        "UPDATE core.integrations SET last_synced_at = now() - interval '10 minutes' WHERE id = $1",
    )
    .bind(id)
    .execute(&db.pool)
    .await
    .expect("last sync");
    let hook: Uuid = sqlx::query_scalar(
        "INSERT INTO mcp.webhooks (integration_id, workspace_id, platform, last_event_at, created_at) \
         VALUES ($1, $2, 'slack', now() - interval '2 hours', now() - interval '1 day') RETURNING id",
    )
    .bind(id)
    .bind(ws)
    .fetch_one(&db.pool)
    .await
    .expect("webhook");
    let sweep = |c| mcp_worker::sync::store::sweep(&db.pool, c, Duration::ZERO);
    let s = sweep(&cfg).await.expect("sweep");
    assert_eq!(
        (s.enqueued, s.fallback.clone()),
        (1, vec![(Platform::Slack, 1)])
    );
    // Events flow again: back to the normal interval, nothing due.
    db.exec("DELETE FROM mcp.sync_jobs WHERE kind = 'sync'")
        .await;
    sqlx::query("UPDATE mcp.webhooks SET last_event_at = now() WHERE id = $1")
        .bind(hook)
        .execute(&db.pool)
        .await
        .expect("event");
    let s = sweep(&cfg).await.expect("sweep");
    assert_eq!(
        (s.enqueued, s.fallback.clone()),
        (0, vec![(Platform::Slack, 0)])
    );
    // A failing webhook counts as missing.
    db.exec("UPDATE mcp.webhooks SET status = 'failing'").await;
    let s = sweep(&cfg).await.expect("sweep");
    assert_eq!(s.enqueued, 1);
    // Twice in a row: one live job per integration.
    assert_eq!(sweep(&cfg).await.expect("sweep").enqueued, 0);
    // Past the normal interval, due without any webhook state.
    db.exec("DELETE FROM mcp.sync_jobs WHERE kind = 'sync'")
        .await;
    db.exec("UPDATE mcp.webhooks SET status = 'active', last_event_at = now()")
        .await;
    db.exec("UPDATE core.integrations SET last_synced_at = now() - interval '2 hours'")
        .await;
    assert_eq!(sweep(&cfg).await.expect("sweep").enqueued, 1);
    db.drop_db().await;
}

/// Each connector's listing, page by page to the end: every item once, the cursor moving on.
#[tokio::test]
async fn each_connector_lists_every_item_once() {
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    sb.set_items_per_account(230);
    let cfg = Config {
        platforms: sb.config_overrides(),
        ..Config::default()
    };
    let connectors = mcp_worker::connectors::Connectors::from_config(&cfg).expect("connectors");
    for p in Platform::ALL {
        let (creds, _) = sb.mint_credentials(p, "acme");
        let c = connectors.get(p);
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for n in 0.. {
            assert!(n < 100, "{p}: no end after 100 pages (cursor {cursor:?})");
            let page = c
                .list_page(&creds, cursor.as_deref(), &settings_for(p))
                .await
                .unwrap_or_else(|e| panic!("{p}: {e}"));
            for it in &page.items {
                assert!(
                    seen.insert(it.external_id.clone()),
                    "{p}: {} twice",
                    it.external_id
                );
            }
            if page.done {
                break;
            }
            assert_ne!(page.next_cursor, cursor, "{p}: the cursor moves on");
            cursor = page.next_cursor;
        }
        assert_eq!(seen.len(), 230, "{p}");
    }
}

/// A daemon SIGKILLed in the middle of a long sync: a second daemon rescues the job after its
/// lease and resumes at the last checkpoint. Every item ends up stored once, and the items
/// stored before the kill keep their `first_seen_at`.
#[tokio::test]
async fn a_killed_daemons_sync_resumes_on_another_daemon_without_loss_or_doubling() {
    const ITEMS: i64 = 1500;
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    // Outlook pages by 10: 150 pages, at most 100 a second through the bucket below.
    sb.set_items_per_account(ITEMS as u64);
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("test.key");
    std::fs::write(&key_file, mcp_worker::vault::Vault::generate_key()).expect("key");
    let vault = mcp_worker::vault::Vault::from_config(&mcp_worker::vault::VaultConfig {
        key_files: vec![key_file.clone()],
    })
    .expect("vault");
    let cfg_file = dir.path().join("daemon.toml");
    std::fs::write(
        &cfg_file,
        format!(
            "[vault]\nkey_files = [{:?}]\n\n[scheduler]\nenabled = false\n\n\
             [sync.rate_limits.outlook]\ncapacity = 1.0\nper_sec = 100.0\n\n{}",
            key_file.display().to_string(),
            sandbox::overrides_toml(&sb)
        ),
    )
    .expect("config");
    let cfg = cfg_file.display().to_string();
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    let (creds, _) = sb.mint_credentials(Platform::Outlook, "acme");
    let id = integrations::create_active(&db.pool, &vault, ws, Platform::Outlook, &creds)
        .await
        .expect("seed");

    // The first daemon claims with a short lease (timeout 2 s + grace 200 ms).
    let first = Daemon::start_with(
        &db.url,
        &["--config", &cfg],
        &[
            ("MCP_WORKER__KINDS__SYNC__TIMEOUT", "2s"),
            ("MCP_WORKER__WORKER__LEASE_GRACE", "200ms"),
        ],
    )
    .await;
    let job = sync_now(&db, id).await;
    let start = Instant::now();
    let stored = loop {
        let n = rows(&db, id).await;
        if n >= 30 {
            break n;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no pages checkpointed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    first.signal(libc::SIGKILL);
    first.wait(Duration::from_secs(10)).await;
    let before: Vec<(String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT external_id, first_seen_at FROM mcp.synced_items WHERE integration_id = $1 \
         ORDER BY 1",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .expect("before");
    assert!(
        before.len() as i64 >= stored && (before.len() as i64) < ITEMS,
        "killed mid-sync: {} of {ITEMS} stored",
        before.len()
    );
    let cursor: Option<String> =
        sqlx::query_scalar("SELECT sync_cursor FROM core.integrations WHERE id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .expect("cursor");
    assert!(cursor.is_some(), "a checkpoint was written with the pages");

    let second = Daemon::start_with(&db.url, &["--config", &cfg], &[]).await;
    wait_done(&db, &[job]).await;
    assert_eq!(rows(&db, id).await, ITEMS, "every item, each once");
    let distinct = db
        .scalar_i64(&format!(
            "SELECT count(DISTINCT external_id) FROM mcp.synced_items WHERE integration_id = '{id}'"
        ))
        .await;
    assert_eq!(distinct, ITEMS);
    let after: Vec<(String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT external_id, first_seen_at FROM mcp.synced_items \
         WHERE integration_id = $1 AND external_id = ANY($2) ORDER BY 1",
    )
    .bind(id)
    .bind(before.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>())
    .fetch_all(&db.pool)
    .await
    .expect("after");
    assert_eq!(
        before, after,
        "items stored before the kill keep first_seen_at"
    );
    // Rescued after the lease, not restarted from the first page: 150 pages, plus at most the
    // page the first daemon had read but not yet written.
    let (attempt, errors): (i16, String) = sqlx::query_as(
        "SELECT attempt, coalesce(errors::text, '') FROM mcp.sync_jobs WHERE id = $1",
    )
    .bind(job)
    .fetch_one(&db.pool)
    .await
    .expect("job");
    assert_eq!(attempt, 2, "{errors}");
    assert!(errors.contains("lease expired"), "{errors}");
    let calls = sb.calls(Platform::Outlook);
    assert!(
        (150..=152).contains(&calls),
        "{calls} list calls: resumed at the checkpoint"
    );
    second.signal(libc::SIGTERM);
    second.wait(Duration::from_secs(10)).await;
    db.drop_db().await;
}

/// The platforms whose listing starts from a watermark (besides Gmail and Outlook).
const INCREMENTAL: [Platform; 10] = [
    Platform::Slack,
    Platform::Discord,
    Platform::Zoom,
    Platform::Notion,
    Platform::Fireflies,
    Platform::ZeroVoice,
    Platform::Otter,
    Platform::Loom,
    Platform::Granola,
    Platform::ZeroDb,
];

async fn cursor_of(db: &TestDb, id: Uuid) -> Option<String> {
    sqlx::query_scalar("SELECT sync_cursor FROM core.integrations WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("cursor")
}

/// A first sync lists everything; after new items appear, the next sync reads only from the
/// watermark: the new items (plus, where the platform's filter is inclusive or by day, the
/// items at the watermark itself), each stored once.
#[tokio::test]
async fn each_incremental_platform_reads_only_new_items_on_the_next_sync() {
    const N: u64 = 150;
    const K: u64 = 5;
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    sb.set_items_per_account(N);
    let cfg = config(&db, &sb, FAST);
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    let mut ids = Vec::new();
    for p in INCREMENTAL {
        let id = seed(&db, &sb, ws, p, "acme").await;
        set_settings(&db, id, settings_for(p)).await;
        ids.push((p, id));
    }
    let worker = start_worker(
        &db,
        cfg,
        &Catalog::effective(&test_config(&db.url)),
        &Registry::builtin(),
    )
    .await;
    let mut jobs = Vec::new();
    for (_, id) in &ids {
        jobs.push(sync_now(&db, *id).await);
    }
    wait_done(&db, &jobs).await;
    let mut before = Vec::new();
    for (p, id) in &ids {
        assert_eq!(rows(&db, *id).await, N as i64, "{p}: first sync");
        let c = cursor_of(&db, *id).await;
        assert!(c.is_some(), "{p}: a finished listing keeps its watermark");
        assert_eq!(
            sb.served(*p),
            N,
            "{p}: the first sync reads everything once"
        );
        before.push((sb.served(*p), sb.calls(*p)));
    }

    sb.set_items_per_account(N + K);
    let mut jobs = Vec::new();
    for (_, id) in &ids {
        jobs.push(sync_now(&db, *id).await);
    }
    wait_done(&db, &jobs).await;
    for ((p, id), (served0, calls0)) in ids.iter().zip(before) {
        assert_eq!(rows(&db, *id).await, (N + K) as i64, "{p}: every item once");
        let served = sb.served(*p) - served0;
        let calls = sb.calls(*p) - calls0;
        let want = match p {
            // `oldest` and `after` are exclusive.
            Platform::Slack | Platform::Discord => K,
            // From the day of the newest recording: that day's earlier recordings again.
            Platform::Zoom => {
                N + K
                    - sandbox::ZOOM_RECORDINGS_PER_DAY
                        * ((N - 1) / sandbox::ZOOM_RECORDINGS_PER_DAY)
            }
            // Notion has no filter: one page, cut at the watermark (checked by calls below).
            Platform::Notion => served,
            // Inclusive (a time, or a day with one recording a day): the watermark item again.
            _ => K + 1,
        };
        assert_eq!(served, want, "{p}: items read on the second sync");
        // Notion (pages of 100) and everyone else: one list call now, where the first sync
        // needed several; Slack also lists its channels, Zoom walks its date windows.
        let most = match p {
            Platform::Slack => 2,
            Platform::Zoom => 4,
            _ => 1,
        };
        assert!(calls <= most, "{p}: {calls} calls on the second sync");
    }
    let distinct = db
        .scalar_i64(
            "SELECT count(*) - count(DISTINCT (integration_id, external_id)) FROM mcp.synced_items",
        )
        .await;
    assert_eq!(distinct, 0);
    worker.shutdown().await;
    db.drop_db().await;
}

/// Slack with two channels in its settings reads both, each from its own watermark.
#[tokio::test]
async fn slack_reads_each_configured_channel_from_its_own_watermark() {
    const N: u64 = 120;
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    sb.set_items_per_account(N);
    let cfg = config(&db, &sb, FAST);
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    let id = seed(&db, &sb, ws, Platform::Slack, "acme").await;
    set_settings(&db, id, serde_json::json!({"channels": ["C123", "C456"]})).await;
    let worker = start_worker(
        &db,
        cfg,
        &Catalog::effective(&test_config(&db.url)),
        &Registry::builtin(),
    )
    .await;
    let job = sync_now(&db, id).await;
    wait_done(&db, &[job]).await;
    assert_eq!(rows(&db, id).await, 2 * N as i64, "both channels");
    // Two pages per channel; no conversations.list with channels configured.
    assert_eq!(sb.calls(Platform::Slack), 4);
    let per_channel = db
        .scalar_i64(&format!(
            "SELECT count(DISTINCT split_part(external_id, ':', 1)) FROM mcp.synced_items \
             WHERE integration_id = '{id}'"
        ))
        .await;
    assert_eq!(per_channel, 2);
    let cursor: serde_json::Value =
        serde_json::from_str(&cursor_of(&db, id).await.expect("cursor")).expect("json cursor");
    assert!(
        cursor.pointer("/marks/C123").is_some() && cursor.pointer("/marks/C456").is_some(),
        "{cursor}"
    );
    sb.set_items_per_account(N + 3);
    let job = sync_now(&db, id).await;
    wait_done(&db, &[job]).await;
    assert_eq!(rows(&db, id).await, 2 * (N + 3) as i64);
    assert_eq!(
        sb.served(Platform::Slack),
        2 * N + 6,
        "only the new messages"
    );
    assert_eq!(sb.calls(Platform::Slack), 6);
    worker.shutdown().await;
    db.drop_db().await;
}

/// Discord without channels in its settings: the sync completes at once without calling the
/// platform, recording an error or retrying; once channels are set, it reads them.
#[tokio::test]
async fn discord_without_channels_is_skipped_without_calls_or_retries() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    sb.set_items_per_account(30);
    let cfg = config(&db, &sb, FAST);
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    let id = seed(&db, &sb, ws, Platform::Discord, "acme").await;
    let worker = start_worker(
        &db,
        cfg,
        &Catalog::effective(&test_config(&db.url)),
        &Registry::builtin(),
    )
    .await;
    let job = sync_now(&db, id).await;
    wait_done(&db, &[job]).await;
    let attempt: i16 = sqlx::query_scalar("SELECT attempt FROM mcp.sync_jobs WHERE id = $1")
        .bind(job)
        .fetch_one(&db.pool)
        .await
        .expect("job");
    assert_eq!(attempt, 1, "no retry");
    assert_eq!(sb.calls(Platform::Discord), 0, "no platform call");
    let errors = db
        .scalar_i64(&format!(
            "SELECT count(*) FROM mcp.integration_errors WHERE integration_id = '{id}'"
        ))
        .await;
    assert_eq!(errors, 0);
    let (state, synced): (String, bool) = sqlx::query_as(
        "SELECT state, last_synced_at IS NOT NULL FROM core.integrations WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("integration");
    assert_eq!((state.as_str(), synced), ("ACTIVE", false));
    set_settings(&db, id, serde_json::json!({"channels": ["1100", "1200"]})).await;
    let job = sync_now(&db, id).await;
    wait_done(&db, &[job]).await;
    // Snowflakes are unique across channels: the sandbox's two channels hold the same ids.
    assert_eq!(rows(&db, id).await, 30);
    assert_eq!(sb.served(Platform::Discord), 60, "both channels read");
    worker.shutdown().await;
    db.drop_db().await;
}

/// A listing stopped after its first page (a killed daemon) and resumed from the stored cursor
/// after new items appeared loses nothing, and the next listing, from the watermark it left,
/// reads the items added after it: every item is read.
#[tokio::test]
async fn an_interrupted_listing_resumes_from_its_checkpoint_without_loss() {
    const N: u64 = 230;
    const K: u64 = 7;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let cfg = Config {
        platforms: sb.config_overrides(),
        ..Config::default()
    };
    let connectors = mcp_worker::connectors::Connectors::from_config(&cfg).expect("connectors");
    for p in INCREMENTAL {
        sb.set_items_per_account(N);
        let (creds, _) = sb.mint_credentials(p, "acme");
        let c = connectors.get(p);
        let settings = settings_for(p);
        let mut seen = std::collections::HashSet::new();
        let first = c
            .list_page(&creds, None, &settings)
            .await
            .unwrap_or_else(|e| panic!("{p}: {e}"));
        assert!(!first.done, "{p}: more than one page");
        seen.extend(first.items.iter().map(|i| i.external_id.clone()));
        // The daemon dies here; new items arrive; another daemon resumes from the checkpoint.
        sb.set_items_per_account(N + K);
        let mut cursor = first.next_cursor;
        for round in 0..2 {
            for n in 0.. {
                assert!(n < 100, "{p}: no end after 100 pages");
                let page = c
                    .list_page(&creds, cursor.as_deref(), &settings)
                    .await
                    .unwrap_or_else(|e| panic!("{p}: {e}"));
                seen.extend(page.items.iter().map(|i| i.external_id.clone()));
                cursor = page.next_cursor;
                if page.done {
                    break;
                }
            }
            assert!(cursor.is_some(), "{p}: round {round} ends on a watermark");
            // More items before the next (incremental) listing.
            sb.set_items_per_account(N + K + K);
        }
        assert_eq!(seen.len() as u64, N + K + K, "{p}: every item");
    }
}

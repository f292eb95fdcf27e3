//! Sync end to end: a real worker (or daemon), a real database, the sandbox as the platforms.

use std::time::{Duration, Instant};

use mcp_daemon::config::{Config, KindOverride};
use mcp_daemon::integrations;
use mcp_daemon::sync::config::RateLimit;
use mcp_platforms::connectors::Platform;
use mcp_sandbox::{self as sandbox, FaultKind, Sandbox};
use uuid::Uuid;

use crate::common::{start_configured_worker, test_config, Daemon, TestDb};

pub(super) use mcp_testkit::integrations::{active as seed, set_settings};

mod listing;
mod rates;
mod recovery;

pub(super) fn config(db: &TestDb, sb: &Sandbox, limit: RateLimit) -> Config {
    let mut c = test_config(&db.url);
    c.platforms = sb.config_overrides();
    c.http_client.timeout = Duration::from_millis(2000);
    for p in Platform::ALL {
        c.sync.rate_limits.insert(p.as_str().into(), limit);
    }
    // Notion's block calls have a bucket of their own (3/s, as documented).
    c.sync
        .method_limits
        .insert("notion:blocks.children".into(), limit);
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

pub(super) const FAST: RateLimit = RateLimit {
    capacity: 1000.0,
    per_sec: 1000.0,
};

/// What an integration of `p` (of the login `acme`) has in its settings for these tests: one
/// channel for Discord (the first text channel of acme's guild, whose id follows the
/// guild's; without one it reads every text channel of the guild), nothing elsewhere.
pub(super) fn settings_for(p: Platform) -> serde_json::Value {
    match p {
        Platform::Discord => {
            let guild: u64 = sandbox::account_of(p, "acme").parse().expect("guild id");
            serde_json::json!({"channels": [(guild + 1).to_string()]})
        }
        _ => serde_json::json!({}),
    }
}

pub(super) async fn sync_now(db: &TestDb, id: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT mcp.enqueue_job('sync', jsonb_build_object('integration_id', $1::uuid), \
         unique_key => 'sync:' || $1::text)",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("enqueue sync")
}

pub(super) async fn wait_done(db: &TestDb, jobs: &[i64]) {
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

pub(super) async fn rows(db: &TestDb, id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM mcp.synced_items WHERE integration_id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("count")
}

/// The platforms whose listing starts from a watermark (besides Gmail and Outlook).
pub(super) const INCREMENTAL: [Platform; 10] = [
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

/// A test database, the sandbox (with `items` per account when given), a worker config aimed at
/// them at `limit`, and the workspace `acme`.
pub(super) async fn setup(items: Option<u64>, limit: RateLimit) -> (TestDb, Sandbox, Config, Uuid) {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    if let Some(n) = items {
        sb.set_items_per_account(n);
    }
    let cfg = config(&db, &sb, limit);
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    (db, sb, cfg, ws)
}

/// An integration (login `acme`) of each of `platforms` in `ws`, with its test settings.
pub(super) async fn seed_all(
    db: &TestDb,
    sb: &Sandbox,
    ws: Uuid,
    platforms: impl IntoIterator<Item = Platform>,
) -> Vec<(Platform, Uuid)> {
    let mut ids = Vec::new();
    for p in platforms {
        let id = seed(db, sb, ws, p, "acme").await;
        set_settings(db, id, settings_for(p)).await;
        ids.push((p, id));
    }
    ids
}

/// A sync of every integration of `ids` asked for now, waited for until each has completed.
pub(super) async fn sync_all(db: &TestDb, ids: &[(Platform, Uuid)]) {
    let mut jobs = Vec::new();
    for (_, id) in ids {
        jobs.push(sync_now(db, *id).await);
    }
    wait_done(db, &jobs).await;
}

/// A sync of `id` asked for now, waited for until it has completed.
pub(super) async fn sync_once(db: &TestDb, id: Uuid) {
    let job = sync_now(db, id).await;
    wait_done(db, &[job]).await;
}

/// The sandbox with `items` per account and the connectors aimed at it.
pub(super) async fn sandbox_connectors(
    items: u64,
) -> (Sandbox, mcp_platforms::connectors::Connectors) {
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    sb.set_items_per_account(items);
    let cfg = Config {
        platforms: sb.config_overrides(),
        ..Config::default()
    };
    let connectors = cfg.connectors().expect("connectors");
    (sb, connectors)
}

/// One page of `p`'s listing (the sandbox account `acme`) from `cursor`.
pub(super) async fn list_page(
    c: &dyn mcp_platforms::connectors::Connector,
    creds: &mcp_platforms::connectors::Credentials,
    cursor: Option<&str>,
    settings: &serde_json::Value,
    p: Platform,
) -> mcp_platforms::connectors::Page {
    c.list_page(
        creds,
        cursor,
        settings,
        Some(&sandbox::account_of(p, "acme")),
    )
    .await
    .unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Calls `probe` every 5 ms until it answers something, which it returns; fails with `what`
/// when 20 s have passed since `start`.
pub(super) async fn poll<T, F, Fut>(start: Instant, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An item's external id and one of its timestamps.
pub(super) type Stamp = (String, chrono::DateTime<chrono::Utc>);

/// (external id, `col`) of the integration's items that match `and` (and, when given, are named
/// in `of`), by external id.
pub(super) async fn stamps(
    db: &TestDb,
    id: Uuid,
    col: &str,
    and: &str,
    of: Option<&[Stamp]>,
) -> Vec<Stamp> {
    let names = of.map(|of| of.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>());
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT external_id, {col} FROM mcp.synced_items WHERE integration_id = $1 {and} \
         AND ($2::text[] IS NULL OR external_id = ANY($2)) ORDER BY 1"
    )))
    .bind(id)
    .bind(names)
    .fetch_all(&db.pool)
    .await
    .expect("items")
}

/// A daemon's world to kill in the middle of a sync: its config file (a fresh vault key, no
/// scheduler, the sandbox `sb` as the platforms, `p` held to 100 calls a second) and an ACTIVE
/// `p` integration of `acme` sealed with that key.
pub(super) struct Killable {
    _dir: tempfile::TempDir,
    pub cfg: String,
    pub id: Uuid,
}

/// The config and integration of a daemon to kill (see [`Killable`]).
pub(super) async fn killable(db: &TestDb, sb: &Sandbox, p: Platform) -> Killable {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("test.key");
    mcp_daemon::vault::Vault::write_new_key_file(&key_file).expect("key");
    let vault = mcp_daemon::vault::Vault::from_config(&mcp_daemon::vault::VaultConfig {
        key_files: vec![key_file.clone()],
        ..Default::default()
    })
    .expect("vault");
    let cfg_file = dir.path().join("daemon.toml");
    std::fs::write(
        &cfg_file,
        format!(
            "[vault]\nkey_files = [{:?}]\n\n[scheduler]\nenabled = false\n\n\
             [sync.rate_limits.{p}]\ncapacity = 1.0\nper_sec = 100.0\n\n{}",
            key_file.display().to_string(),
            sandbox::overrides_toml(sb)
        ),
    )
    .expect("config");
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    let (creds, _) = sb.mint_credentials(p, "acme");
    let id = integrations::create_active(&db.pool, &vault, ws, p, &creds)
        .await
        .expect("seed");
    Killable {
        cfg: cfg_file.display().to_string(),
        id,
        _dir: dir,
    }
}

impl Killable {
    /// The daemon on this config, with a short lease on its syncs (timeout 2 s + grace 200 ms).
    pub async fn short_lease_daemon(&self, db: &TestDb) -> Daemon {
        Daemon::start_with(
            &db.url,
            &["--config", &self.cfg],
            &[
                ("MCP_WORKER__KINDS__SYNC__TIMEOUT", "2s"),
                ("MCP_WORKER__WORKER__LEASE_GRACE", "200ms"),
            ],
        )
        .await
    }

    /// The daemon on this config, with the default lease.
    pub async fn daemon(&self, db: &TestDb) -> Daemon {
        Daemon::start_with(&db.url, &["--config", &self.cfg], &[]).await
    }
}

/// Sends `sig` to the daemon and waits (up to 10 s) for it to exit.
pub(super) async fn stop(daemon: Daemon, sig: i32) {
    daemon.signal(sig);
    daemon.wait(Duration::from_secs(10)).await;
}

pub(super) async fn cursor_of(db: &TestDb, id: Uuid) -> Option<String> {
    sqlx::query_scalar("SELECT sync_cursor FROM core.integrations WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("cursor")
}

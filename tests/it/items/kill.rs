//! A daemon SIGKILLed in the middle of a sync's content calls, with the real connectors and the
//! sandbox: the daemon that rescues the job fetches only what the first had not stored.
//!
//! Gmail's listing has only ids (`messages.list`, `history.list`): its content call
//! (`messages.get`) is what this kills in the middle of. Until Gmail's connector says so
//! (`Connector::needs_content`; the default fetches nothing), its items are `listed`, there is
//! nothing to kill in the middle of, and the test checks only that.

use std::time::{Duration, Instant};

use mcp_daemon::config::Config;
use mcp_daemon::integrations;
use mcp_platforms::connectors::Platform;
use mcp_sandbox as sandbox;

use super::*;
use crate::common::Daemon;
use crate::sync::{sync_now, wait_done};

const ITEMS: i64 = 300;

async fn fetched(pool: &PgPool, id: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM mcp.synced_items WHERE integration_id = $1 \
         AND content_state = 'fetched'",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .expect("fetched")
}

#[tokio::test]
async fn a_killed_daemons_content_calls_resume_without_fetching_again() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    sb.set_items_per_account(ITEMS as u64);
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("test.key");
    mcp_daemon::vault::Vault::write_new_key_file(&key_file).expect("key");
    let vault = mcp_daemon::vault::Vault::from_config(&mcp_daemon::vault::VaultConfig {
        key_files: vec![key_file.clone()],
        ..Default::default()
    })
    .expect("vault");
    // Content calls at 100 a second: the kill comes well before the last.
    let cfg_file = dir.path().join("daemon.toml");
    std::fs::write(
        &cfg_file,
        format!(
            "[vault]\nkey_files = [{:?}]\n\n[scheduler]\nenabled = false\n\n\
             [sync.rate_limits.gmail]\ncapacity = 1.0\nper_sec = 100.0\n\n{}",
            key_file.display().to_string(),
            sandbox::overrides_toml(&sb)
        ),
    )
    .expect("config");
    let cfg = cfg_file.display().to_string();
    let ws = workspace(&db, "acme").await;
    let (creds, _) = sb.mint_credentials(Platform::Gmail, "acme");
    let id = integrations::create_active(&db.pool, &vault, ws, Platform::Gmail, &creds)
        .await
        .expect("seed");
    let connectors = Config::default().connectors().expect("connectors");
    let gmail = connectors.get(Platform::Gmail);

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
    // The first stored message says whether Gmail's listing lacks its content.
    let raw: serde_json::Value = loop {
        let raw: Option<serde_json::Value> = sqlx::query_scalar(
            "SELECT raw FROM mcp.synced_items WHERE integration_id = $1 LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .expect("raw");
        if let Some(raw) = raw {
            break raw;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "nothing stored");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(
        gmail.needs_content(&raw),
        "Gmail's listing lacks its messages' content: the sync fetches it"
    );
    loop {
        let n = fetched(&db.pool, id).await;
        if n >= 30 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no content stored"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.signal(libc::SIGKILL);
    first.wait(Duration::from_secs(10)).await;
    let calls_at_kill = sb.calls(Platform::Gmail);
    let before: Vec<(String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT external_id, updated_at FROM mcp.synced_items WHERE integration_id = $1 \
         AND content_state = 'fetched' ORDER BY 1",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .expect("before");
    let listed_at_kill: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mcp.synced_items WHERE integration_id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .expect("listed");
    assert!((before.len() as i64) < ITEMS, "killed in the middle");

    let second = Daemon::start_with(&db.url, &["--config", &cfg], &[]).await;
    wait_done(&db, &[job]).await;
    assert_eq!(
        fetched(&db.pool, id).await,
        ITEMS,
        "every item's content, once"
    );
    let after: Vec<(String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT external_id, updated_at FROM mcp.synced_items WHERE integration_id = $1 \
         AND external_id = ANY($2) ORDER BY 1",
    )
    .bind(id)
    .bind(before.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>())
    .fetch_all(&db.pool)
    .await
    .expect("after");
    assert_eq!(
        before, after,
        "what was stored before the kill is not written again"
    );
    // The rescuer's calls: a content call per item not yet stored (and the one in flight),
    // the listing's remaining pages (100 a page) and its identity calls, never one per item
    // stored before the kill.
    let calls = sb.calls(Platform::Gmail) - calls_at_kill;
    let left = (ITEMS - before.len() as i64) as u64;
    let pages = ((ITEMS - listed_at_kill) as u64).div_ceil(100) + 2;
    assert!(
        calls <= left + 1 + pages + 3,
        "{calls} calls after the kill for {left} items left"
    );
    second.signal(libc::SIGTERM);
    second.wait(Duration::from_secs(10)).await;
    db.drop_db().await;
}

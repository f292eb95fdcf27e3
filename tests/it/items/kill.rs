//! A daemon SIGKILLed in the middle of a sync's content calls, with the real connectors and the
//! sandbox: the daemon that rescues the job fetches only what the first had not stored.
//!
//! Gmail's listing has only ids (`messages.list`, `history.list`): its content call
//! (`messages.get`) is what this kills in the middle of. Until Gmail's connector says so
//! (`Connector::needs_content`; the default fetches nothing), its items are `listed`, there is
//! nothing to kill in the middle of, and the test checks only that.

use mcp_queue::pg::Db;
use std::time::Instant;

use mcp_daemon::config::Config;
use mcp_platforms::connectors::Platform;
use mcp_sandbox as sandbox;

use super::*;
use crate::sync::{killable, poll, stamps, stop, sync_now, wait_done};

const ITEMS: i64 = 300;

async fn fetched(pool: &Db, id: Uuid) -> i64 {
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
    // Content calls at 100 a second: the kill comes well before the last.
    let k = killable(&db, &sb, Platform::Gmail).await;
    let id = k.id;
    let connectors = Config::default().connectors().expect("connectors");
    let gmail = connectors.get(Platform::Gmail);

    let first = k.short_lease_daemon(&db).await;
    let job = sync_now(&db, id).await;
    let start = Instant::now();
    // The first stored message says whether Gmail's listing lacks its content.
    let raw: serde_json::Value = poll(start, "nothing stored", || async {
        sqlx::query_scalar::<_, serde_json::Value>(
            "SELECT raw FROM mcp.synced_items WHERE integration_id = $1 LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .expect("raw")
    })
    .await;
    assert!(
        gmail.needs_content(&raw),
        "Gmail's listing lacks its messages' content: the sync fetches it"
    );
    poll(start, "no content stored", || async {
        (fetched(&db.pool, id).await >= 30).then_some(())
    })
    .await;
    stop(first, libc::SIGKILL).await;
    let calls_at_kill = sb.calls(Platform::Gmail);
    let before = stamps(&db, id, "updated_at", "AND content_state = 'fetched'", None).await;
    let listed_at_kill: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mcp.synced_items WHERE integration_id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .expect("listed");
    assert!((before.len() as i64) < ITEMS, "killed in the middle");

    let second = k.daemon(&db).await;
    wait_done(&db, &[job]).await;
    assert_eq!(
        fetched(&db.pool, id).await,
        ITEMS,
        "every item's content, once"
    );
    let after = stamps(&db, id, "updated_at", "", Some(&before)).await;
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
    stop(second, libc::SIGTERM).await;
    db.drop_db().await;
}

//! Recovery: a silent webhook falls back to polling, a killed daemon's sync resumes elsewhere,
//! and the worker runs the policies its own config sets.

use super::*;

#[tokio::test]
async fn a_silent_webhook_puts_the_integration_on_the_fallback_interval() {
    let (db, sb, _, ws) = setup(None, FAST).await;
    let cfg = Config::default().sync;
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
    let sweep = |c| mcp_daemon::sync::store::sweep(&db.pool, c, Duration::ZERO);
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
    let k = killable(&db, &sb, Platform::Outlook).await;
    let id = k.id;

    // The first daemon claims with a short lease (timeout 2 s + grace 200 ms).
    let first = k.short_lease_daemon(&db).await;
    let job = sync_now(&db, id).await;
    let start = Instant::now();
    let stored = poll(start, "no pages checkpointed", || async {
        let n = rows(&db, id).await;
        (n >= 30).then_some(n)
    })
    .await;
    stop(first, libc::SIGKILL).await;
    let before = stamps(&db, id, "first_seen_at", "", None).await;
    assert!(
        before.len() as i64 >= stored && (before.len() as i64) < ITEMS,
        "killed mid-sync: {} of {ITEMS} stored",
        before.len()
    );
    let cursor = cursor_of(&db, id).await;
    assert!(cursor.is_some(), "a checkpoint was written with the pages");

    let second = k.daemon(&db).await;
    wait_done(&db, &[job]).await;
    assert_eq!(rows(&db, id).await, ITEMS, "every item, each once");
    // The resumed sync wrote nothing twice: in the change feed each item was added once and
    // never rewritten or removed (a page written again with other content, or items deleted and
    // stored anew, would show here; the primary key alone would hide both).
    let feed = format!(
        "SELECT count(*) FILTER (WHERE op = 'ADDED'), \
                count(DISTINCT external_id) FILTER (WHERE op = 'ADDED'), \
                count(*) FILTER (WHERE op <> 'ADDED') \
         FROM mcp.changes((SELECT workspace_id FROM core.integrations WHERE id = '{id}'), \
                          NULL, 100000)"
    );
    // The feed shows a change once every older transaction on the server has ended.
    db.wait_until(
        &format!("SELECT added >= {ITEMS} FROM ({feed}) f(added, distinct_added, other)"),
        Duration::from_secs(30),
    )
    .await;
    let (added, distinct_added, other): (i64, i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(feed))
        .fetch_one(&db.pool)
        .await
        .expect("feed");
    assert_eq!((added, distinct_added, other), (ITEMS, ITEMS, 0));
    let after = stamps(&db, id, "first_seen_at", "", Some(&before)).await;
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
    stop(second, libc::SIGTERM).await;
    db.drop_db().await;
}

/// The worker runs the catalogue its own config makes: `config()`'s `[kinds.sync]` override
/// (10–20 ms backoff instead of jobs/sync.toml's 30 s) reaches it, so a sync whose first two
/// listings fail completes on its third attempt within seconds.
#[tokio::test]
async fn the_workers_policies_come_from_its_own_config() {
    let (db, sb, cfg, ws) = setup(None, FAST).await;
    let id = seed(&db, &sb, ws, Platform::Notion, "acme").await;
    sb.fault(Platform::Notion, FaultKind::ServerError, Some(2), None);
    let worker = start_configured_worker(&db, cfg).await;
    let job = sync_now(&db, id).await;
    db.wait_until(
        &format!("SELECT state = 'completed' AND attempt = 3 FROM mcp.sync_jobs WHERE id = {job}"),
        Duration::from_secs(10),
    )
    .await;
    worker.shutdown().await;
    db.drop_db().await;
}

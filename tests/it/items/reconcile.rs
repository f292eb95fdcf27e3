//! Reconcile against the sandbox: a complete listing tombstones what the platform removed (and
//! brings back what it restored); a listing that fails tombstones nothing and resumes from its
//! checkpoint; the guard stops a listing that saw too few items; the sweep picks who is due.

use std::time::Duration;

use mcp_daemon::config::{Config, KindOverride};
use mcp_platforms::connectors::Platform;
use mcp_sandbox::{self as sandbox, FaultKind, FaultSpec, Sandbox};

use super::*;
use crate::common::start_configured_worker;
use crate::sync::{config as sync_config, rows, sync_now, wait_done, FAST};

fn config(db: &TestDb, sb: &Sandbox) -> Config {
    let mut c = sync_config(db, sb, FAST);
    c.kinds.insert(
        "reconcile".into(),
        KindOverride {
            max_attempts: Some(2),
            backoff_base: Some(Duration::from_millis(10)),
            backoff_max: Some(Duration::from_millis(20)),
            timeout: None,
            concurrency: None,
        },
    );
    c
}

/// Notion answers 500 to every call after the first: a listing stops after its first page.
fn fail_after_first_page(sb: &Sandbox) {
    sb.set_fault(FaultSpec {
        platform: "notion".into(),
        token: None,
        fault: FaultKind::ServerError,
        count: None,
        retry_after_secs: None,
        after: Some(1),
        code: None,
    });
}

async fn reconcile_now(db: &TestDb, id: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT mcp.enqueue_job('reconcile', jsonb_build_object('integration_id', $1::uuid), \
         unique_key => 'reconcile:' || $1::text)",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("enqueue reconcile")
}

async fn wait_finished(db: &TestDb, job: i64) -> String {
    db.wait_until(
        &format!("SELECT state IN ('completed', 'discarded') FROM mcp.sync_jobs WHERE id = {job}"),
        Duration::from_secs(30),
    )
    .await;
    sqlx::query_scalar("SELECT state::text FROM mcp.sync_jobs WHERE id = $1")
        .bind(job)
        .fetch_one(&db.pool)
        .await
        .expect("state")
}

/// (outcome, listed, tombstoned, pages) of the integration's run.
async fn run_of(db: &TestDb, id: Uuid) -> (Option<String>, i64, i64, i64) {
    sqlx::query_as(
        "SELECT outcome, listed, tombstoned, pages FROM mcp.reconcile_runs WHERE integration_id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("run")
}

async fn tombstones(db: &TestDb, id: Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT deleted_reason FROM mcp.synced_items \
         WHERE integration_id = $1 AND deleted_at IS NOT NULL ORDER BY external_id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .expect("tombstones")
}

async fn synced(db: &TestDb, sb: &Sandbox, p: Platform, items: u64) -> (Uuid, Uuid) {
    sb.set_items_per_account(items);
    let ws = workspace(db, "acme").await;
    let id = mcp_testkit::integrations::active(db, sb, ws, p, "acme").await;
    let job = sync_now(db, id).await;
    wait_done(db, &[job]).await;
    assert_eq!(rows(db, id).await, items as i64);
    (ws, id)
}

#[tokio::test]
async fn a_complete_listing_tombstones_what_the_platform_removed() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let worker = start_configured_worker(&db, config(&db, &sb)).await;
    let (ws, id) = synced(&db, &sb, Platform::Notion, 40).await;
    assert_eq!(sb.remove_items(Platform::Notion, "acme", &[1, 2, 3]), 3);
    let job = reconcile_now(&db, id).await;
    assert_eq!(wait_finished(&db, job).await, "completed");
    let gone = tombstones(&db, id).await;
    assert_eq!(gone.len(), 3, "{gone:?}");
    assert!(gone
        .iter()
        .all(|r| r == "notion: not in a complete listing (reconcile)"));
    let (outcome, listed, tombstoned, _) = run_of(&db, id).await;
    assert_eq!(
        (outcome.as_deref(), listed, tombstoned),
        (Some("completed"), 37, 3)
    );
    // 40 added, 40 updated by their content (Notion's blocks), 3 deleted.
    let ops = ops_of(&db, ws, 83).await;
    assert_eq!(ops.iter().filter(|(op, _)| op == "DELETED").count(), 3);
    let updated = |ops: &[(String, String)]| ops.iter().filter(|(op, _)| op == "UPDATED").count();
    let updated_before = updated(&ops);
    let seen_left = db
        .scalar_i64("SELECT count(*) FROM mcp.reconcile_seen")
        .await;
    assert_eq!(seen_left, 0, "a finished run leaves no seen ids behind");

    // Restored at the platform: the next reconcile brings them back.
    assert_eq!(
        sb.restore_items(Platform::Notion, "acme", Some(&[1, 2, 3])),
        3
    );
    let job = reconcile_now(&db, id).await;
    assert_eq!(wait_finished(&db, job).await, "completed");
    assert!(tombstones(&db, id).await.is_empty());
    let ops = ops_of(&db, ws, 86).await;
    assert_eq!(
        updated(&ops) - updated_before,
        3,
        "the three restored items, once each"
    );
    worker.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_failing_listing_tombstones_nothing_and_resumes_from_its_checkpoint() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let worker = start_configured_worker(&db, config(&db, &sb)).await;
    // 250 items: Notion pages by 100, three pages.
    let (_, id) = synced(&db, &sb, Platform::Notion, 250).await;
    assert_eq!(sb.remove_items(Platform::Notion, "acme", &[10, 200]), 2);
    fail_after_first_page(&sb);
    let job = reconcile_now(&db, id).await;
    assert_eq!(wait_finished(&db, job).await, "discarded");
    assert!(
        tombstones(&db, id).await.is_empty(),
        "a failed listing tombstones nothing"
    );
    let (outcome, listed, _, pages) = run_of(&db, id).await;
    assert_eq!(
        (outcome, pages),
        (None, 1),
        "unfinished, checkpointed after its first page"
    );
    assert!(listed > 0);
    let errors = db
        .scalar_i64("SELECT count(*) FROM mcp.integration_errors WHERE context = 'sync'")
        .await;
    assert!(errors >= 1, "the failure is recorded");

    sb.clear_faults(None);
    let job = reconcile_now(&db, id).await;
    assert_eq!(wait_finished(&db, job).await, "completed");
    let (outcome, listed, tombstoned, pages) = run_of(&db, id).await;
    assert_eq!(outcome.as_deref(), Some("completed"));
    assert_eq!(
        (listed, tombstoned, pages),
        (248, 2, 3),
        "resumed at page 2"
    );
    assert_eq!(tombstones(&db, id).await.len(), 2);
    worker.shutdown().await;
    db.drop_db().await;
}

/// What is written while a run is under way is not its to judge: an item first stored after the
/// run started, and one changed after it started, are left live by that run though its listing
/// does not show them; one stored before and left alone is tombstoned with what the platform
/// removed.
#[tokio::test]
async fn items_written_during_a_run_are_never_its_victims() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let worker = start_configured_worker(&db, config(&db, &sb)).await;
    let (_, id) = synced(&db, &sb, Platform::Notion, 250).await;
    assert_eq!(sb.remove_items(Platform::Notion, "acme", &[10, 200]), 2);
    // Two items no listing shows, stored by another writer before the run.
    let store = |external_id: &str| {
        format!(
            "INSERT INTO mcp.synced_items (integration_id, external_id, workspace_id, platform, \
                                           kind, raw) \
             SELECT id, '{external_id}', workspace_id, platform, 'document', '{{}}' \
             FROM core.integrations WHERE id = '{id}'"
        )
    };
    db.exec(&store("stored-before-untouched")).await;
    db.exec(&store("stored-before-edited-during")).await;
    // The run stops after its first page and stays under way (checkpointed) until resumed.
    fail_after_first_page(&sb);
    let job = reconcile_now(&db, id).await;
    assert_eq!(wait_finished(&db, job).await, "discarded");
    // During the run: one of them changed (as docs/CHANGES.md says a writer does, `updated_at`
    // with it), and a third stored.
    db.exec(&format!(
        "UPDATE mcp.synced_items SET raw = '{{\"note\": \"edited\"}}', updated_at = now() \
         WHERE integration_id = '{id}' AND external_id = 'stored-before-edited-during'"
    ))
    .await;
    db.exec(&store("stored-during")).await;
    let during = db
        .scalar_i64(&format!(
            "SELECT count(*) FROM mcp.synced_items s \
             JOIN mcp.reconcile_runs r USING (integration_id) \
             WHERE s.integration_id = '{id}' AND s.updated_at > r.started_at \
               AND r.finished_at IS NULL"
        ))
        .await;
    assert_eq!(during, 2, "both writes came while the run was under way");

    sb.clear_faults(None);
    let job = reconcile_now(&db, id).await;
    assert_eq!(wait_finished(&db, job).await, "completed");
    let (outcome, _, tombstoned, pages) = run_of(&db, id).await;
    assert_eq!(
        (outcome.as_deref(), pages),
        (Some("completed"), 3),
        "the same run, resumed"
    );
    assert_eq!(
        tombstoned, 3,
        "the platform's two removed items and the untouched one"
    );
    let live: Vec<String> = sqlx::query_scalar(
        "SELECT external_id FROM mcp.synced_items \
         WHERE integration_id = $1 AND external_id LIKE 'stored-%' AND deleted_at IS NULL \
         ORDER BY external_id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .expect("live");
    assert_eq!(live, vec!["stored-before-edited-during", "stored-during"]);
    worker.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_guard_stops_a_listing_that_saw_too_few_items() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let worker = start_configured_worker(&db, config(&db, &sb)).await;
    let (_, id) = synced(&db, &sb, Platform::Slack, 20).await;
    assert_eq!(
        sb.remove_items(Platform::Slack, "acme", &(0..15).collect::<Vec<_>>()),
        15
    );
    let job = reconcile_now(&db, id).await;
    assert_eq!(wait_finished(&db, job).await, "completed");
    let (outcome, listed, tombstoned, _) = run_of(&db, id).await;
    assert_eq!(
        (outcome.as_deref(), listed, tombstoned),
        (Some("guard_stopped"), 5, 0)
    );
    assert!(tombstones(&db, id).await.is_empty());
    worker.shutdown().await;

    // With a lower share, the same listing is trusted.
    let mut cfg = config(&db, &sb);
    cfg.reconcile.min_share = 0.2;
    let worker = start_configured_worker(&db, cfg).await;
    let job = reconcile_now(&db, id).await;
    assert_eq!(wait_finished(&db, job).await, "completed");
    assert_eq!(run_of(&db, id).await.0.as_deref(), Some("completed"));
    assert_eq!(tombstones(&db, id).await.len(), 15);
    worker.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_sweep_enqueues_the_integrations_due() {
    let db = TestDb::new().await;
    let ws = workspace(&db, "a").await;
    let synced = bare_active(&db.pool, ws, Platform::Notion).await;
    let never_synced = bare_active(&db.pool, ws, Platform::Notion).await;
    let off = bare_active(&db.pool, ws, Platform::Zoom).await;
    let recent = bare_active(&db.pool, ws, Platform::Slack).await;
    db.exec(
        "UPDATE core.integrations SET last_synced_at = now(), created_at = now() - interval '8 days'",
    )
    .await;
    db.exec(&format!(
        "UPDATE core.integrations SET last_synced_at = NULL WHERE id = '{never_synced}'"
    ))
    .await;
    db.exec(&format!(
        "INSERT INTO mcp.reconcile_runs (integration_id, workspace_id, platform, live_before, \
         finished_at, outcome) VALUES ('{recent}', '{ws}', 'slack', 0, now() - interval '1 day', \
         'completed')"
    ))
    .await;
    let mut cfg = mcp_daemon::items::reconcile::ReconcileConfig::default();
    cfg.intervals.insert(
        "zoom".into(),
        mcp_daemon::sync::config::Every(Duration::ZERO),
    );
    let n = mcp_daemon::items::reconcile::sweep(&db.pool, &cfg, Duration::ZERO)
        .await
        .expect("sweep");
    assert_eq!(n, 1);
    let due: Vec<Uuid> =
        sqlx::query_scalar("SELECT integration_id FROM mcp.sync_jobs WHERE kind = 'reconcile'")
            .fetch_all(&db.pool)
            .await
            .expect("jobs");
    assert_eq!(due, vec![synced], "not {never_synced}, {off} or {recent}");
    // Once enqueued, a second sweep adds nothing.
    let n = mcp_daemon::items::reconcile::sweep(&db.pool, &cfg, Duration::ZERO)
        .await
        .expect("sweep");
    assert_eq!(n, 0);
    db.drop_db().await;
}

#[tokio::test]
async fn a_listing_whose_cursor_expired_starts_over() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let worker = start_configured_worker(&db, config(&db, &sb)).await;
    // Outlook pages by 10: 25 items are three pages; the second page's link expires once.
    let (_, id) = synced(&db, &sb, Platform::Outlook, 25).await;
    assert_eq!(sb.remove_items(Platform::Outlook, "acme", &[7]), 1);
    sb.set_fault(FaultSpec {
        platform: "outlook".into(),
        token: None,
        fault: FaultKind::Gone,
        count: Some(1),
        retry_after_secs: None,
        after: Some(1),
        code: None,
    });
    let calls = sb.calls(Platform::Outlook);
    let job = reconcile_now(&db, id).await;
    assert_eq!(wait_finished(&db, job).await, "completed");
    assert_eq!(
        sb.calls(Platform::Outlook) - calls,
        5,
        "page 1, the expired page 2, then three pages from the start"
    );
    let attempts: i64 = db
        .scalar_i64(&format!(
            "SELECT attempt::int8 FROM mcp.sync_jobs WHERE id = {job}"
        ))
        .await;
    assert_eq!(attempts, 1, "started over within the attempt");
    let (outcome, listed, _, pages) = run_of(&db, id).await;
    assert_eq!(
        (outcome.as_deref(), listed, pages),
        (Some("completed"), 24, 3),
        "the fresh listing's three pages"
    );
    assert_eq!(tombstones(&db, id).await.len(), 1);
    worker.shutdown().await;
    db.drop_db().await;
}

//! Deletions the platforms announce: a signed event through the real intake, processed by a
//! real worker, tombstones exactly the items it names (in the transaction that marks it
//! processed), each a DELETED change; an item written again is back. Deletions in a listing
//! (Gmail history `messagesDeleted`, Graph delta `@removed`) tombstone during the sync.

use std::time::Duration;

use mcp_daemon::items::WRITER_BEGIN;
use mcp_platforms::connectors::Platform;
use mcp_sandbox as sandbox;
use mcp_testkit::webhooks::{content_type, env, now, secret_of, sign};
use serde_json::json;

use super::*;
use crate::common::{start_configured_worker, test_config};

struct Case {
    platform: Platform,
    /// The event's body; Outlook's carries the webhook's clientState.
    event: serde_json::Value,
    items: &'static [&'static str],
    gone: &'static [&'static str],
    reason: &'static str,
}

/// A case: `platform`'s `event`, the `items` stored before it, the ones it tombstones (`gone`),
/// and what their tombstones' reason starts with.
fn case(
    platform: Platform,
    reason: &'static str,
    event: serde_json::Value,
    items: &'static [&'static str],
    gone: &'static [&'static str],
) -> Case {
    Case {
        platform,
        event,
        items,
        gone,
        reason,
    }
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let outlook_state = secret_of(Platform::Outlook);
    vec![
        case(Platform::Slack, "slack",
            json!({"type": "event_callback", "event_id": "EvDel1", "team_id": "T1",
                "event": {"type": "message", "subtype": "message_deleted", "channel": "C1",
                          "deleted_ts": "1700000001.000001", "hidden": true}}),
            &["C1:1700000001.000001", "C1:1700000002.000002"], &["C1:1700000001.000001"]),
        case(Platform::Slack, "slack",
            json!({"type": "event_callback", "event_id": "EvDel2", "team_id": "T1",
                "event": {"type": "channel_deleted", "channel": "C2"}}),
            &["C2:1700000001.000001", "C2:1700000003.000003", "C3:1700000001.000001"],
            &["C2:1700000001.000001", "C2:1700000003.000003"]),
        case(Platform::Notion, "notion",
            json!({"id": "evt-del-1", "type": "page.deleted", "workspace_id": "w1",
                "entity": {"id": "59833787-2cf9-4fdf-8782-e53db20768a5", "type": "page"}}),
            &["59833787-2cf9-4fdf-8782-e53db20768a5", "6a1f0a43-6d0a-4b8e-9d0d-3a3c2b1e0f11"],
            &["59833787-2cf9-4fdf-8782-e53db20768a5"]),
        // Zoom: every recording file of a meeting deleted, and one of two trashed (the meeting
        // keeps its recording); a deleted meeting (its schedule) names no recording.
        case(Platform::Zoom, "zoom",
            sandbox::events::zoom_recording_event(
                "recording.deleted", "z1", "4444AAAiAAAAAiAiAiiAii==", 6840331990, &["f4a", "f4b"]),
            &["4444AAAiAAAAAiAiAiiAii==", "5555BBBiBBBBBiBiBiiBii=="],
            &["4444AAAiAAAAAiAiAiiAii=="]),
        case(Platform::Zoom, "zoom",
            sandbox::events::zoom_recording_event(
                "recording.trashed", "z1", "6666CCCiCCCCCiCiCiiCii==", 6840331991, &["f6a"]),
            &["6666CCCiCCCCCiCiCiiCii=="], &[]),
        case(Platform::Zoom, "zoom",
            sandbox::events::zoom_meeting_deleted("z1", "7777DDDiDDDDDiDiDiiDii==", 6840331992),
            &["7777DDDiDDDDDiDiDiiDii=="], &[]),
        case(Platform::Monday, "monday",
            json!({"event": {"type": "delete_pulse", "triggerUuid": "tdel1",
                "boardId": 77, "pulseId": 1234567}}),
            &["1234567", "7654321"], &["1234567"]),
        case(Platform::Outlook, "outlook",
            json!({"value": [{"subscriptionId": "sub-1", "clientState": outlook_state,
                "changeType": "deleted", "resource": "me/messages/AAMkAD1",
                "resourceData": {"id": "AAMkAD1"}}]}),
            &["AAMkAD1", "AAMkAD2"], &["AAMkAD1"]),
    ]
}

/// A Zoom meeting's recording holding two files (`f<first letter>a`, `f<first letter>b`), as
/// the recordings listing gives them.
async fn insert_zoom_recording(pool: &mcp_queue::pg::Db, integration: uuid::Uuid, uuid: &str) {
    insert_item_as(
        pool,
        integration,
        uuid,
        "recording",
        "jsonb_build_object('uuid', $2, 'recording_files', jsonb_build_array( \
         jsonb_build_object('id', 'f' || left($2, 1) || 'a'), \
         jsonb_build_object('id', 'f' || left($2, 1) || 'b')))",
    )
    .await;
}

#[tokio::test]
async fn deletion_events_tombstone_the_items_they_name() {
    let env = env().await;
    let worker = start_configured_worker(&env.db, test_config(&env.db.url)).await;
    let mut posted = Vec::new();
    for (n, case) in cases().into_iter().enumerate() {
        let p = case.platform;
        let path = env.hook(p).await;
        let integration = env.activate(&path).await;
        for id in case.items {
            if p == Platform::Zoom {
                insert_zoom_recording(&env.db.pool, integration, id).await;
            } else {
                insert_item(&env.db.pool, integration, id).await;
            }
        }
        let body = case.event.to_string().into_bytes();
        let headers = sign(p, &secret_of(p), &body, now(), &path);
        let r = env.post(&path, content_type(p), &headers, &body).await;
        assert_eq!(r.status, 200, "case {n} ({p}): {}", r.body);
        posted.push((n, case, integration));
    }
    env.db
        .wait_until(
            "SELECT count(*) = 0 FROM mcp.webhook_events WHERE processed_at IS NULL",
            Duration::from_secs(30),
        )
        .await;
    for (n, case, integration) in &posted {
        for id in case.items {
            let (deleted, reason) = tombstone_of(&env.db.pool, *integration, id).await;
            let want = case.gone.contains(id);
            assert_eq!(deleted, want, "case {n} ({}): {id}", case.platform);
            if want {
                let reason = reason.unwrap_or_default();
                assert!(reason.starts_with(case.reason), "case {n}: {reason}");
            }
        }
    }
    // Every tombstone is one DELETED change, after the items' ADDED.
    let gone: usize = posted.iter().map(|(_, c, _)| c.gone.len()).sum();
    let added: usize = posted.iter().map(|(_, c, _)| c.items.len()).sum();
    let ops = ops_of(&env.db, env.ws, gone + added).await;
    let mut deleted: Vec<String> = ops
        .iter()
        .filter(|(op, _)| op == "DELETED")
        .map(|(_, id)| id.clone())
        .collect();
    deleted.sort();
    let mut want: Vec<String> = posted
        .iter()
        .flat_map(|(_, c, _)| c.gone.iter().map(|s| s.to_string()))
        .collect();
    want.sort();
    assert_eq!(deleted, want);

    // The same event again (a retry, a duplicate job) changes nothing more.
    let (_, first, integration) = &posted[0];
    sqlx::query(
        "SELECT mcp.enqueue_job('webhook_process', jsonb_build_object('event_ids', \
                 (SELECT jsonb_agg(id) FROM mcp.webhook_events)))",
    )
    .execute(&env.db.pool)
    .await
    .expect("again");
    env.db
        .wait_until(
            "SELECT count(*) = 0 FROM mcp.sync_jobs WHERE kind = 'webhook_process' \
             AND state NOT IN ('completed')",
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(
        ops_of(&env.db, env.ws, gone + added).await.len(),
        gone + added
    );

    // Seen again by a sync page: live again, an UPDATED change.
    let gone_id = first.gone[0];
    let mut tx = env.db.pool.begin_with(WRITER_BEGIN).await.expect("tx");
    let n = super::save_page(
        &mut tx,
        (env.ws, *integration, "slack"),
        &[gone_id],
        &[json!({"id": gone_id}).to_string()],
    )
    .await;
    tx.commit().await.expect("commit");
    assert_eq!(n, 1);
    assert_eq!(
        tombstone_of(&env.db.pool, *integration, gone_id).await,
        (false, None)
    );
    let ops = ops_of(&env.db, env.ws, gone + added + 1).await;
    assert_eq!(
        ops.last(),
        Some(&("UPDATED".to_string(), gone_id.to_string()))
    );
    worker.shutdown().await;
    env.finish().await;
}

#[tokio::test]
async fn deletions_in_a_listing_tombstone_during_the_sync() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    sb.set_items_per_account(30);
    let ws = workspace(&db, "acme").await;
    let mut cfg = crate::sync::config(&db, &sb, crate::sync::FAST);
    cfg.reconcile.interval = Duration::ZERO;
    let gmail = mcp_testkit::integrations::active(&db, &sb, ws, Platform::Gmail, "acme").await;
    let outlook = mcp_testkit::integrations::active(&db, &sb, ws, Platform::Outlook, "acme").await;
    let worker = start_configured_worker(&db, cfg).await;
    for id in [gmail, outlook] {
        let job = crate::sync::sync_now(&db, id).await;
        crate::sync::wait_done(&db, &[job]).await;
        assert_eq!(crate::sync::rows(&db, id).await, 30);
    }
    for p in [Platform::Gmail, Platform::Outlook] {
        assert_eq!(sb.remove_items(p, "acme", &[3, 4]), 2);
    }
    for id in [gmail, outlook] {
        let job = crate::sync::sync_now(&db, id).await;
        crate::sync::wait_done(&db, &[job]).await;
        let gone: Vec<(String, String)> = sqlx::query_as(
            "SELECT external_id, deleted_reason FROM mcp.synced_items \
             WHERE integration_id = $1 AND deleted_at IS NOT NULL ORDER BY 1",
        )
        .bind(id)
        .fetch_all(&db.pool)
        .await
        .expect("tombstones");
        assert_eq!(gone.len(), 2, "{gone:?}");
        assert!(
            gone.iter()
                .all(|(_, r)| r.contains("deleted at the platform")),
            "{gone:?}"
        );
    }
    // 60 added, 30 updated by their content (Gmail's messages), 4 deleted: read once the feed
    // shows them all (its watermark waits for transactions still open anywhere).
    let count = |ops: &[(String, String)], op: &str| ops.iter().filter(|(o, _)| o == op).count();
    let start = std::time::Instant::now();
    let ops = loop {
        let ops = ops_of(&db, ws, 94).await;
        if count(&ops, "DELETED") == 4 || start.elapsed() > Duration::from_secs(60) {
            break ops;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(count(&ops, "ADDED"), 60);
    assert_eq!(
        count(&ops, "UPDATED"),
        30,
        "each message once, by its content"
    );
    assert_eq!(count(&ops, "DELETED"), 4);
    worker.shutdown().await;
    db.drop_db().await;
}

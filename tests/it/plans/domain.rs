//! The integrations' hot statements: the sweeps and gauges, what every health check and sync
//! job reads and writes, webhook intake and processing, and history retention.

use mcp_daemon::config::Config;
use mcp_daemon::webhooks::batcher::INTAKE_QUIET;
use mcp_daemon::webhooks::process::{MARK_PROCESSED_SQL, PAYLOAD_READ, READ_EVENTS_SQL};
use mcp_daemon::webhooks::renew::{RENEWABLE, RENEW_SWEEP_SQL};
use mcp_daemon::webhooks::{LOOKUP_SQL, ROUTE_SQL};
use mcp_daemon::{credentials, integrations as integ, keys, sync};
use mcp_platforms::connectors::Platform;
use mcp_platforms::webhooks::deletions::DELETION_EVENT_TYPES;
use uuid::Uuid;

use super::{args, integration, webhook, Harness, INTEGRATIONS};
use crate::common::TestDb;

/// A sweep (or a gauge) may touch each integration a few times: its row read, its token or
/// webhook read, its job inserted with its kind's foreign-key check (entry + row), a live
/// job's key that absorbs it. Measured: under 4 per integration (the sync sweep's enqueue,
/// which reads the webhooks twice); bound 6 per integration, whatever the history beside them.
const SWEEP: i64 = 6 * INTEGRATIONS;

/// Webhook intake's and processing's batch (the intake's group commit holds up to 256).
const EVENTS: usize = 256;
/// The webhooks an intake batch's events come from.
const WEBHOOKS: i64 = 40;
/// A sync page.
const PAGE: usize = 100;
/// History retention's batch.
const HISTORY_BATCH: i64 = 1_000;

/// What a statement on one row (or a handful) may touch.
const SMALL: i64 = 25;

/// The state machine's two small tables (9 states, 36 transitions), which a change of state
/// reads through (its trigger and foreign key).
const STATE_MACHINE: i64 = 45;

const DAY: f64 = 86_400.0;

pub async fn check(h: &mut Harness, db: &TestDb) {
    let cfg = Config::default();
    let ms = |d: std::time::Duration| d.as_millis() as i64;

    // The sweeps: each visits the integrations in service (and their tokens or webhooks).
    let m = h
        .check(
            "health sweep",
            integ::HEALTH_SWEEP_SQL,
            args!(ms(cfg.health.spread)),
            SWEEP + SMALL,
            true,
        )
        .await;
    assert!(m.rows > 0, "health sweep: {}", m.describe());
    let m = h
        .check(
            "token refresh sweep",
            credentials::REFRESH_SWEEP_SQL,
            args!(ms(cfg.refresh.ahead)),
            SWEEP + SMALL,
            true,
        )
        .await;
    assert!(m.rows > 0, "token refresh sweep: {}", m.describe());
    let names: Vec<&str> = Platform::ALL.iter().map(|p| p.as_str()).collect();
    let secs: Vec<f64> = Platform::ALL
        .iter()
        .map(|p| cfg.sync.interval(*p).as_secs_f64())
        .collect();
    let silence = cfg.sync.webhook_silence.as_secs_f64();
    let fallback = cfg.sync.fallback_interval.as_secs_f64();
    h.check(
        "sync sweep: fallback gauge",
        sync::store::SWEEP_FALLBACK_SQL,
        args!(&names, &secs, silence, fallback),
        SWEEP + SMALL,
        true,
    )
    .await;
    let m = h
        .check(
            "sync sweep: enqueue",
            sync::store::SWEEP_ENQUEUE_SQL,
            args!(
                &names,
                &secs,
                silence,
                fallback,
                cfg.sync.spread.as_secs_f64()
            ),
            SWEEP + SMALL,
            true,
        )
        .await;
    assert!(m.rows > 0, "sync sweep: enqueue: {}", m.describe());
    let renewable: Vec<&str> = RENEWABLE.iter().map(|p| p.as_str()).collect();
    let m = h
        .check(
            "webhook renew sweep",
            RENEW_SWEEP_SQL,
            args!(&renewable, ms(cfg.webhooks.renew_ahead)),
            SWEEP + SMALL,
            true,
        )
        .await;
    assert!(m.rows > 0, "webhook renew sweep: {}", m.describe());

    // The gauges: one pass over the integrations (and their tokens).
    h.check(
        "integration gauges",
        integ::GAUGES_SQL,
        args!(),
        SWEEP + SMALL,
        true,
    )
    .await;
    h.check(
        "credential gauge: earliest expiry",
        keys::EARLIEST_EXPIRY_SQL,
        args!(),
        SWEEP + SMALL,
        true,
    )
    .await;
    h.check(
        "credential gauge: key age",
        keys::KEY_AGE_SQL,
        args!("test-key"),
        SMALL,
        true,
    )
    .await;

    // One integration's job: the gate, the health check's record, the token refresh's lock,
    // a sync page's reads and writes, its token bucket. Each a handful of rows by primary key;
    // a health check's record moves the integration (ACTIVE to ERROR here), which also reads
    // the state machine's tables and logs an event.
    let id = integration(5);
    let (workspace, platform): (Uuid, String) =
        sqlx::query_as("SELECT workspace_id, platform FROM core.integrations WHERE id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .expect("integration 5");
    h.check("load integration", integ::LOAD_SQL, args!(id), SMALL, true)
        .await;
    h.check(
        "credentials",
        integ::CREDENTIALS_SQL,
        args!(id),
        SMALL,
        true,
    )
    .await;
    h.check(
        "circuit breaker gate",
        integ::CAN_EXECUTE_SQL,
        args!(id, 300_000i64),
        SMALL,
        false,
    )
    .await;
    h.check(
        "record health check",
        integ::RECORD_HEALTH_CHECK_SQL,
        args!(
            id,
            "unhealthy",
            3_000i32,
            Some("timeout"),
            Some("no answer"),
            None::<i32>,
            5i32,
            Some(1i64)
        ),
        SMALL + STATE_MACHINE,
        false,
    )
    .await;
    h.check(
        "token refresh: lock",
        credentials::REFRESH_LOCK_SQL,
        args!(id),
        SMALL,
        true,
    )
    .await;
    h.check(
        "sync: cursor",
        sync::store::CURSOR_SQL,
        args!(id),
        SMALL,
        true,
    )
    .await;
    h.check(
        "sync: settings",
        sync::store::SETTINGS_SQL,
        args!(id),
        SMALL,
        true,
    )
    .await;
    // A page of 100: the integration's 25 stored items changed, 75 new. A new one: the row and
    // its integration's foreign-key check (entry + row); a changed one: the conflicting row
    // (entry + row) and its new version: 3 each; bound 5.
    let ids: Vec<String> = (0..PAGE as u32)
        .map(|k| format!("item-{}", 5 + 2_000 * k))
        .collect();
    let m = h
        .check(
            "sync: page of items (100)",
            mcp_daemon::items::SAVE_ITEMS_SQL,
            super::items::page_args(id, workspace, &platform, &ids),
            5 * PAGE as i64 + SMALL,
            true,
        )
        .await;
    let items = m.of("mcp.synced_items");
    assert_eq!(
        items.inserted + items.updated,
        PAGE as i64,
        "{}",
        m.describe()
    );
    assert_eq!(m.of("mcp.item_changes").inserted, 2, "{}", m.describe());
    // Tombstones of a page's worth of items named by events: each item's entry, row and new
    // version, and its change rows.
    let m = h
        .check(
            "tombstones by id (100)",
            mcp_daemon::items::TOMBSTONE_SQL,
            args!(vec![id; PAGE], &ids, vec!["gone"; PAGE]),
            5 * PAGE as i64 + SMALL,
            true,
        )
        .await;
    assert_eq!(m.of("mcp.synced_items").updated, 25, "{}", m.describe());
    // Tombstones of items once every part they hold is named (Zoom recordings): the same
    // lookups by id; these items hold no such parts, so none goes.
    let emptied: Vec<String> = ids
        .iter()
        .map(|i| {
            serde_json::json!({"item": i, "list": "recording_files", "parts": ["f1"]}).to_string()
        })
        .collect();
    let m = h
        .check(
            "tombstones of emptied items (100)",
            mcp_daemon::items::TOMBSTONE_EMPTIED_SQL,
            args!(vec![id; PAGE], &emptied, vec!["gone"; PAGE]),
            5 * PAGE as i64 + SMALL,
            true,
        )
        .await;
    assert_eq!(m.of("mcp.synced_items").updated, 0, "{}", m.describe());
    // The feed: a page of 1,000 changes reads its change rows by index, not the history of
    // 50,000 changes (nor the 50,000 items beyond the ones it shows).
    let feed_ws: Uuid = sqlx::query_scalar(
        "SELECT workspace_id FROM mcp.item_changes GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .expect("a workspace with changes");
    let m = h
        .check(
            "change feed: page of 1,000",
            "SELECT * FROM mcp.changes($1, NULL, 1000)",
            args!(feed_ws),
            4 * 1_000 + SMALL,
            false,
        )
        .await;
    assert!(m.rows > 0, "{}", m.describe());
    h.check(
        "change feed: retention batch",
        mcp_daemon::items::PRUNE_CHANGES_SQL,
        args!(30.0 * DAY, HISTORY_BATCH),
        4 * HISTORY_BATCH + SMALL,
        true,
    )
    .await;
    h.check(
        "sync: checkpoint",
        sync::store::CHECKPOINT_SQL,
        args!(id, Some("cursor-next"), true),
        SMALL,
        true,
    )
    .await;
    h.check(
        "sync: token bucket",
        sync::TAKE_TOKEN_SQL,
        args!(id, "default", 10.0f64, 1.0f64),
        SMALL,
        false,
    )
    .await;

    // Webhook intake: one delivery's webhook, then a group commit of 256 new events over 40
    // webhooks. Each event: the row, its webhook's foreign-key check (the webhook's entries,
    // two once this statement has updated it, and its row): 4. Each webhook: its
    // integration's job (row, kind's foreign key: entry + row) and `last_event_at` (entry and
    // row for the lock and for the update, the new version): 8. Bound 5 and 10.
    h.check(
        "webhook lookup",
        LOOKUP_SQL,
        args!(webhook(5), &platform),
        SMALL,
        true,
    )
    .await;
    // The app-level route: the account's live integration by index, its app route by index.
    let names = vec!["T0NOBODY".to_string(), "E0NOBODY".to_string()];
    h.check(
        "app-level route",
        ROUTE_SQL,
        args!(&platform, &names),
        SMALL,
        true,
    )
    .await;
    let hooks: Vec<(Uuid, Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT w.id, w.integration_id, w.workspace_id, w.platform FROM mcp.webhooks w \
         JOIN core.integrations i ON i.id = w.integration_id \
         WHERE i.state NOT IN ('REVOKED', 'DELETED') ORDER BY w.id LIMIT $1",
    )
    .bind(WEBHOOKS)
    .fetch_all(&db.pool)
    .await
    .expect("webhooks");
    let mut events: Vec<(Uuid, Uuid, Uuid, String, String)> = (0..EVENTS)
        .map(|k| {
            let (w, i, ws, p) = hooks[k % hooks.len()].clone();
            (w, i, ws, p, format!("new-{k:04}"))
        })
        .collect();
    events.sort_by(|a, b| (a.0, &a.4).cmp(&(b.0, &b.4)));
    let col = |f: fn(&(Uuid, Uuid, Uuid, String, String)) -> Uuid| -> Vec<Uuid> {
        events.iter().map(f).collect()
    };
    let platforms: Vec<&str> = events.iter().map(|e| e.3.as_str()).collect();
    let dedup: Vec<&str> = events.iter().map(|e| e.4.as_str()).collect();
    let m = h
        .check(
            "webhook intake (256 events)",
            INTAKE_QUIET,
            args!(
                col(|e| e.0),
                col(|e| e.1),
                col(|e| e.2),
                &platforms,
                &dedup,
                vec![Some("message"); EVENTS],
                vec![serde_json::json!({"type": "message"}); EVENTS],
                vec![vec![7u8; 32]; EVENTS],
                mcp_daemon::webhooks::batcher::untimed()
            ),
            // Per event also its integration's state (entry + row: the revoked are dropped).
            7 * EVENTS as i64 + 10 * WEBHOOKS + SMALL,
            true,
        )
        .await;
    assert_eq!(
        m.of("mcp.webhook_events").inserted,
        EVENTS as i64,
        "{}",
        m.describe()
    );

    // Webhook processing of a group of 256 stored events (the 256 oldest waiting, of as many
    // integrations, the worst case): read by id (entry + row: 2 each; bound 3), then one
    // coalesced sync per integration (its row: entry + row; for the 186 in ACTIVE/DEGRADED
    // the job and its kind's foreign key, entry + row, or the live job's key that absorbs it)
    // and each event marked processed (entry, row, new version): 3 per event and up to 5 per
    // integration; bound 4 and 6.
    let waiting: Vec<(i64, Uuid)> = sqlx::query_as(
        "SELECT id, integration_id FROM mcp.webhook_events WHERE processed_at IS NULL \
         ORDER BY id LIMIT $1",
    )
    .bind(EVENTS as i64)
    .fetch_all(&db.pool)
    .await
    .expect("unprocessed events");
    let event_ids: Vec<i64> = waiting.iter().map(|w| w.0).collect();
    let mut changed: Vec<Uuid> = waiting.iter().map(|w| w.1).collect();
    changed.sort_unstable();
    changed.dedup();
    let m = h
        .check(
            "webhook processing: read (256)",
            READ_EVENTS_SQL,
            args!(&event_ids, &PAYLOAD_READ[..], DELETION_EVENT_TYPES),
            3 * EVENTS as i64 + SMALL,
            true,
        )
        .await;
    assert_eq!(m.rows, EVENTS as u64, "{}", m.describe());
    let m = h
        .check(
            "webhook processing: mark (256)",
            MARK_PROCESSED_SQL,
            args!(&changed, 2_000i64, &event_ids),
            4 * EVENTS as i64 + 6 * changed.len() as i64 + SMALL,
            true,
        )
        .await;
    assert_eq!(
        m.of("mcp.webhook_events").updated,
        EVENTS as i64,
        "{}",
        m.describe()
    );

    // History retention: a batch found in the time index's order (entry + row), deleted by
    // primary key (entry, row, deletion): 5 each, as measured; bound 6. A batch with nothing
    // due reads nothing (the end of every prune, and every prune on a quiet day).
    let r = &cfg.retention;
    let history = [
        (
            "prune health checks",
            integ::PRUNE_HEALTH_CHECKS_SQL,
            r.health_checks,
        ),
        (
            "prune integration errors",
            integ::PRUNE_INTEGRATION_ERRORS_SQL,
            r.integration_errors,
        ),
        (
            "prune webhook events",
            integ::PRUNE_WEBHOOK_EVENTS_SQL,
            r.webhook_events,
        ),
    ];
    for (name, sql, age) in history {
        let m = h
            .check(
                name,
                sql,
                args!(age.as_secs_f64(), HISTORY_BATCH),
                6 * HISTORY_BATCH + SMALL,
                true,
            )
            .await;
        assert_eq!(m.rows, HISTORY_BATCH as u64, "{name}: a full batch");
    }
    for (name, sql) in [
        (
            "prune health checks, none due",
            integ::PRUNE_HEALTH_CHECKS_SQL,
        ),
        (
            "prune errors, none due",
            integ::PRUNE_INTEGRATION_ERRORS_SQL,
        ),
        (
            "prune webhook events, none due",
            integ::PRUNE_WEBHOOK_EVENTS_SQL,
        ),
        (
            "prune notifications, none due",
            integ::PRUNE_NOTIFICATIONS_SQL,
        ),
        (
            "prune webhook dedup keys, none due",
            integ::PRUNE_WEBHOOK_DEDUP_SQL,
        ),
    ] {
        h.check(name, sql, args!(1_000.0 * DAY, HISTORY_BATCH), SMALL, true)
            .await;
    }
    let m = h
        .check(
            "prune connect states",
            integ::PRUNE_OAUTH_STATES_SQL,
            args!(HISTORY_BATCH),
            6 * HISTORY_BATCH + SMALL,
            true,
        )
        .await;
    assert_eq!(m.rows, HISTORY_BATCH as u64, "connect states: a full batch");
}

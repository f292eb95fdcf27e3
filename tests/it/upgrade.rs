//! Upgrades of a database that already holds data: the migrations applied up to a release, rows
//! seeded as that release wrote them, then the rest applied as a daemon's start would.

use mcp_daemon::config::Config;
use mcp_daemon::db::MIGRATOR;

use crate::common::TestDb;

/// A database migrated up to `version`, with the catalogue an older daemon would have written.
async fn at_version(version: i64) -> TestDb {
    let db = TestDb::empty().await;
    MIGRATOR
        .run_to(version, db.pool.pool())
        .await
        .expect("migrate to the older release");
    mcp_handlers::builtin_catalog()
        .sync_to_db(&db.pool)
        .await
        .expect("catalogue");
    db
}

#[tokio::test]
async fn monday_board_webhooks_made_before_url_secrets_are_made_again_after_the_upgrade() {
    let db = at_version(14).await;
    // Two Monday integrations with board webhooks the daemon made: one in service, one revoked;
    // and a Slack one, whose app-level route is not a board webhook.
    db.exec(
        "INSERT INTO core.workspaces (id, name) VALUES ('00000000-0000-0000-0000-0000000000a1', 'a'); \
         INSERT INTO core.integrations (id, workspace_id, platform) VALUES \
           ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000a1', 'monday'), \
           ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-0000000000a1', 'monday'), \
           ('00000000-0000-0000-0000-00000000000c', '00000000-0000-0000-0000-0000000000a1', 'slack'); \
         SELECT mcp.transition_integration_state(id, s) FROM core.integrations, \
           unnest(ARRAY['CONNECTED', 'ACTIVE']) s ORDER BY id, s = 'ACTIVE'; \
         SELECT mcp.transition_integration_state('00000000-0000-0000-0000-00000000000b', 'REVOKED'); \
         INSERT INTO mcp.webhooks (integration_id, workspace_id, platform, created_by, external_id) \
         SELECT id, workspace_id, platform, 'daemon', 'hook-' || platform FROM core.integrations;",
    )
    .await;
    MIGRATOR.run(db.pool.pool()).await.expect("upgrade");
    let queued: Vec<(String, Option<uuid::Uuid>)> = sqlx::query_as(
        "SELECT payload->>'integration_id', integration_id FROM mcp.sync_jobs \
         WHERE kind = 'webhook_subscribe' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("jobs");
    let a: uuid::Uuid = "00000000-0000-0000-0000-00000000000a"
        .parse()
        .expect("uuid");
    assert_eq!(
        queued,
        vec![(a.to_string(), Some(a))],
        "only the Monday integration in service is subscribed again"
    );
    db.drop_db().await;
}

/// Items stored by release 16 (the listing's kinds, no model), an integration deleted back then
/// with its items: after the upgrade the backfill, enqueued once, models every row from its
/// `raw` (its content state as its connector says), erases the deleted integration's items, and
/// announces each change in the feed. A pass stopped in the middle resumes where its last batch
/// stopped; `{"all": true}` models every row again.
#[tokio::test]
async fn items_stored_before_the_model_get_it_from_the_backfill() {
    use mcp_daemon::items::backfill;
    use mcp_platforms::connectors::Platform;
    use mcp_platforms::items::MODEL_VERSION;

    let db = at_version(16).await;
    db.exec(
        "INSERT INTO core.workspaces (id, name) VALUES ('00000000-0000-0000-0000-0000000000a1', 'a'); \
         INSERT INTO core.integrations (id, workspace_id, platform, external_account_id) VALUES \
           ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000a1', 'slack', 'T1'), \
           ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-0000000000a1', 'notion', NULL), \
           ('00000000-0000-0000-0000-00000000000c', '00000000-0000-0000-0000-0000000000a1', 'monday', NULL), \
           ('00000000-0000-0000-0000-00000000000d', '00000000-0000-0000-0000-0000000000a1', 'gmail', 'ann@example.com'), \
           ('00000000-0000-0000-0000-00000000000e', '00000000-0000-0000-0000-0000000000a1', 'zoom', NULL); \
         SELECT mcp.transition_integration_state(id, s) FROM core.integrations, \
           unnest(ARRAY['CONNECTED', 'ACTIVE']) s ORDER BY id, s = 'ACTIVE'; \
         SELECT mcp.transition_integration_state('00000000-0000-0000-0000-00000000000e', 'DELETED'); \
         INSERT INTO mcp.synced_items (integration_id, external_id, workspace_id, platform, kind, occurred_at, raw) \
         SELECT i.id, 'C1:' || g || '.000100', i.workspace_id, 'slack', 'message', to_timestamp(1700000000 + g), \
                jsonb_build_object('type', 'message', 'user', 'U1', 'text', 'hello number ' || g, \
                                   'ts', (1700000000 + g) || '.000100') \
         FROM core.integrations i, generate_series(1, 7) g WHERE i.platform = 'slack'; \
         INSERT INTO mcp.synced_items (integration_id, external_id, workspace_id, platform, kind, occurred_at, raw) \
         SELECT i.id, 'page-' || g, i.workspace_id, 'notion', 'page', now(), \
                jsonb_build_object('object', 'page', 'id', 'page-' || g, 'last_edited_time', '2024-01-01T00:00:00.000Z', \
                  'properties', jsonb_build_object('Name', jsonb_build_object('type', 'title', \
                    'title', jsonb_build_array(jsonb_build_object('plain_text', 'Roadmap ' || g))))) \
         FROM core.integrations i, generate_series(1, 4) g WHERE i.platform = 'notion'; \
         INSERT INTO mcp.synced_items (integration_id, external_id, workspace_id, platform, kind, raw) \
         SELECT i.id, (5000 + g)::text, i.workspace_id, 'monday', 'item', \
                jsonb_build_object('id', (5000 + g)::text, 'name', 'Ship it ' || g) \
         FROM core.integrations i, generate_series(1, 3) g WHERE i.platform = 'monday'; \
         INSERT INTO mcp.synced_items (integration_id, external_id, workspace_id, platform, kind, raw) \
         SELECT i.id, 'm' || g, i.workspace_id, 'gmail', 'message', \
                jsonb_build_object('id', 'm' || g, 'threadId', 't1') \
         FROM core.integrations i, generate_series(1, 3) g WHERE i.platform = 'gmail'; \
         INSERT INTO mcp.synced_items (integration_id, external_id, workspace_id, platform, kind, raw) \
         SELECT i.id, 'rec-' || g, i.workspace_id, 'zoom', 'recording', jsonb_build_object('uuid', 'rec-' || g) \
         FROM core.integrations i, generate_series(1, 2) g WHERE i.platform = 'zoom';",
    )
    .await;
    // The upgrade, as a daemon's start makes it.
    mcp_daemon::db::migrate(&db.pool, mcp_handlers::builtin_catalog())
        .await
        .expect("upgrade");
    let unmodelled = db
        .scalar_i64("SELECT count(*) FROM mcp.synced_items WHERE model_version = 0")
        .await;
    assert_eq!(unmodelled, 19, "the migration itself writes no row");
    let job = backfill::enqueue_if_needed(&db.pool)
        .await
        .expect("enqueue")
        .expect("a pass is due");
    assert_eq!(
        backfill::enqueue_if_needed(&db.pool).await.expect("again"),
        Some(job),
        "one live job"
    );

    // A pass stopped after its first batch of 3 (the first Slack rows, first in key order).
    let connectors = Config::default().connectors().expect("connectors");
    let m = mcp_daemon::items::Modeller::new(
        std::sync::Arc::new(connectors.clone()),
        Default::default(),
    );
    backfill::start(&db.pool, false, 0).await.expect("start");
    let rows = backfill::batch(&db.pool, None, 3).await.expect("batch");
    let plans = backfill::plan(&m, &rows, false);
    let last = rows
        .last()
        .map(|r| (r.integration_id, r.external_id.clone()));
    backfill::write(&db.pool, &rows, &plans, last.as_ref(), false)
        .await
        .expect("first batch");
    // Made old again: a resumed pass does not go back to them.
    sqlx::query(
        "UPDATE mcp.synced_items SET model_version = 0, title = 'before the kill' \
         WHERE external_id = ANY($1)",
    )
    .bind(
        rows.iter()
            .map(|r| r.external_id.clone())
            .collect::<Vec<_>>(),
    )
    .execute(&db.pool)
    .await
    .expect("made old");

    let mut cfg = crate::common::test_config(&db.url);
    cfg.items.backfill_batch = 3;
    let worker = crate::common::start_configured_worker(&db, cfg).await;
    db.wait_until(
        &format!("SELECT state = 'completed' FROM mcp.sync_jobs WHERE id = {job}"),
        std::time::Duration::from_secs(30),
    )
    .await;
    let left: Vec<(String, i64)> = sqlx::query_as(
        "SELECT coalesce(title, ''), count(*) FROM mcp.synced_items WHERE model_version = 0 \
         GROUP BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .expect("left");
    assert_eq!(
        left,
        vec![("before the kill".to_string(), 3)],
        "resumed after its last batch"
    );
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.synced_items WHERE platform = 'zoom'")
            .await,
        0,
        "the deleted integration's items are erased"
    );

    // Every row again.
    let all = db
        .scalar_i64(
            "SELECT mcp.enqueue_job('items_backfill', '{\"all\": true}', unique_key => 'items_backfill')",
        )
        .await;
    db.wait_until(
        &format!("SELECT state = 'completed' FROM mcp.sync_jobs WHERE id = {all}"),
        std::time::Duration::from_secs(30),
    )
    .await;
    worker.shutdown().await;
    type Row = (
        String,
        String,
        serde_json::Value,
        String,
        i16,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT platform, kind, raw, content_state, model_version, title, text \
         FROM mcp.synced_items ORDER BY platform, external_id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("rows");
    assert_eq!(rows.len(), 17);
    for (platform, kind, raw, state, version, title, text) in rows {
        assert_eq!(version, MODEL_VERSION, "{platform} {raw}");
        let p = Platform::parse(&platform).expect("platform");
        let expected = if connectors.get(p).needs_content(&raw) {
            "pending"
        } else {
            "listed"
        };
        assert_eq!(state, expected, "{platform} {raw}");
        match p {
            Platform::Slack => {
                assert_eq!(kind, "message");
                assert_eq!(text.as_deref(), raw.get("text").and_then(|t| t.as_str()));
            }
            Platform::Notion => {
                assert_eq!(kind, "document");
                assert!(title.is_some_and(|t| t.starts_with("Roadmap ")));
            }
            Platform::Monday => {
                assert_eq!(kind, "task");
                assert!(title.is_some_and(|t| t.starts_with("Ship it ")));
            }
            Platform::Gmail => {
                assert_eq!(kind, "email");
                assert_eq!(title, None, "a listing of ids names no subject");
            }
            other => panic!("unexpected {other}"),
        }
    }
    // Each modelled row is a change of the feed.
    let updated = db
        .scalar_i64(
            "SELECT count(*) FROM mcp.item_changes c, unnest(c.external_ids) \
             WHERE c.op = 'U'",
        )
        .await;
    assert!(updated >= 17, "{updated}");
    assert_eq!(
        backfill::enqueue_if_needed(&db.pool).await.expect("done"),
        None,
        "nothing left to do"
    );
    db.drop_db().await;
}

/// The engine's migrations and the daemon's are one history: every number once, none missing,
/// each file where its owner keeps it (the engine's table and functions in `mcp-queue`).
#[test]
fn the_engines_and_the_daemons_migrations_are_one_numbering() {
    let engine: Vec<i64> = mcp_queue::migrations::ENGINE
        .iter()
        .map(|m| m.version)
        .collect();
    let all: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    let expected: Vec<i64> = (1..=all.len() as i64).collect();
    assert_eq!(all, expected, "one version each, in order");
    assert_eq!(engine, [1, 6, 7, 25]);
    for m in mcp_queue::migrations::ENGINE.iter() {
        assert!(
            m.sql.as_str().contains("mcp.sync_jobs") || m.sql.as_str().contains("mcp.job_kinds"),
            "{}",
            m.description
        );
    }
}

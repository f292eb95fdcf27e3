//! Upgrades of a database that already holds data: the migrations applied up to a release, rows
//! seeded as that release wrote them, then the rest applied as a daemon's start would.

use mcp_daemon::db::MIGRATOR;
use mcp_queue::catalog::Catalog;

use crate::common::TestDb;

/// A database migrated up to `version`, with the catalogue an older daemon would have written.
async fn at_version(version: i64) -> TestDb {
    let db = TestDb::empty().await;
    MIGRATOR
        .run_to(version, &db.pool)
        .await
        .expect("migrate to the older release");
    Catalog::builtin()
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
    MIGRATOR.run(&db.pool).await.expect("upgrade");
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

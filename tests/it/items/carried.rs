//! Items an event carries whole: a Slack `message` event stores its message as the history
//! listing gives it (an ADDED change) in the transaction that marks the event processed, and
//! asks for no sync (Slack allows commercially distributed apps outside its Marketplace one
//! `conversations.history` request a minute: events bring new messages, history backfills);
//! an event that carries no whole message (an edit) still asks for the sync.

use std::time::Duration;

use mcp_platforms::connectors::Platform;
use mcp_testkit::webhooks::{content_type, env, now, secret_of, sign};
use serde_json::json;

use super::*;
use crate::common::{start_configured_worker, test_config};

#[tokio::test]
async fn a_slack_message_event_stores_its_message_and_asks_for_no_sync() {
    let env = env().await;
    let worker = start_configured_worker(&env.db, test_config(&env.db.url)).await;
    let path = env.hook(Platform::Slack).await;
    let integration = env.activate(&path).await;
    let post = |event: serde_json::Value, id: &str| {
        let body = json!({"type": "event_callback", "team_id": "T1", "api_app_id": "A1",
            "event_id": id, "event_time": 1_700_000_050_u64, "event": event})
        .to_string()
        .into_bytes();
        let headers = sign(
            Platform::Slack,
            &secret_of(Platform::Slack),
            &body,
            now(),
            &path,
        );
        let env = &env;
        let path = path.clone();
        async move {
            let r = env
                .post(&path, content_type(Platform::Slack), &headers, &body)
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
    };
    let processed = || async {
        env.db
            .wait_until(
                "SELECT count(*) = 0 FROM mcp.webhook_events WHERE processed_at IS NULL",
                Duration::from_secs(30),
            )
            .await
    };
    let syncs = || async {
        env.db
            .scalar_i64(&format!(
                "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'sync' \
                 AND integration_id = '{integration}'"
            ))
            .await
    };
    // https://docs.slack.dev/reference/events/message (the event as its example shows it).
    post(
        json!({"type": "message", "channel": "C1", "user": "U1", "text": "Hello world",
            "ts": "1700000050.000100", "event_ts": "1700000050.000100",
            "channel_type": "channel"}),
        "EvMsg1",
    )
    .await;
    processed().await;
    let (kind, raw, deleted): (String, serde_json::Value, bool) = sqlx::query_as(
        "SELECT kind, raw, deleted_at IS NOT NULL FROM mcp.synced_items \
         WHERE integration_id = $1 AND external_id = 'C1:1700000050.000100'",
    )
    .bind(integration)
    .fetch_one(&env.db.pool)
    .await
    .expect("the message is stored");
    assert_eq!((kind.as_str(), deleted), ("message", false));
    assert_eq!(
        raw,
        json!({"type": "message", "user": "U1", "text": "Hello world", "ts": "1700000050.000100"})
    );
    assert_eq!(syncs().await, 0, "no sync for a message the event carried");
    // The feed shows a change once every older transaction has ended (its watermark).
    env.db
        .wait_until(
            &format!(
                "SELECT count(*) > 0 FROM mcp.changes('{}'::uuid, NULL, 100)",
                env.ws
            ),
            Duration::from_secs(30),
        )
        .await;
    let (changes, _) = read_all(&env.db.pool, env.ws, None, 100).await;
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.op.as_str(), c.external_id.as_str()))
            .collect::<Vec<_>>(),
        [("ADDED", "C1:1700000050.000100")]
    );
    // An edit carries no whole message: the sync reads it.
    post(
        json!({"type": "message", "subtype": "message_changed", "channel": "C1",
            "hidden": true, "ts": "1700000060.000200",
            "message": {"type": "message", "user": "U1", "text": "Hello, world",
                "ts": "1700000050.000100"}}),
        "EvMsg2",
    )
    .await;
    processed().await;
    assert_eq!(syncs().await, 1);
    worker.shutdown().await;
    env.db.drop_db().await;
}

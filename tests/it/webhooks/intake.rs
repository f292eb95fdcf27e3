//! The intake's limits and failure modes: size, content type, the database down, metrics; and
//! a stored event processed by a worker.

use mcp_platforms::connectors::Platform;

use super::{
    assert_stored, deliver, env, event_body, finish_with, hooked, hooked_active, now, secret_of,
    settle, sign, MAX_BODY,
};
use crate::common::{assert_counts, parse_metrics, start_builtin_worker};

/// True once one `webhook_process` job has completed.
const ONE_PROCESSED: &str =
    "SELECT count(*) = 1 FROM mcp.sync_jobs WHERE kind = 'webhook_process' AND state = 'completed'";

/// How many stored events are not processed yet.
const UNPROCESSED: &str = "SELECT count(*) FROM mcp.webhook_events WHERE processed_at IS NULL";

/// A query for how many syncs the integration has.
fn syncs_of(integration: uuid::Uuid) -> String {
    format!("SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'sync' AND integration_id = '{integration}'")
}

#[tokio::test]
async fn too_large_and_wrong_content_type_are_refused() {
    let (env, path, s) = hooked(Platform::Slack).await;
    let big = format!(
        r#"{{"type":"event_callback","event_id":"Ev1","pad":"{}"}}"#,
        "x".repeat(MAX_BODY)
    );
    let headers = sign(Platform::Slack, &s, big.as_bytes(), now(), &path);
    let r = env
        .post(&path, "application/json", &headers, big.as_bytes())
        .await;
    assert_eq!(r.status, 413, "{}", r.body);
    let body = event_body(Platform::Slack, 1, "");
    let headers = sign(Platform::Slack, &s, &body, now(), &path);
    let r = env.post(&path, "text/plain", &headers, &body).await;
    assert_eq!(r.status, 415, "{}", r.body);
    let r = env
        .post(&path, "application/x-www-form-urlencoded", &headers, &body)
        .await;
    assert_eq!(r.status, 415, "{}", r.body);
    assert_eq!(env.counts().await, (0, 0));
    // The same body with the right type is accepted (the refusals were for the stated reasons).
    let r = env
        .post(&path, "application/json; charset=utf-8", &headers, &body)
        .await;
    assert_stored(&env, &r, 200, (1, 1), "the right type").await;
    env.finish().await;
}

#[tokio::test]
async fn database_down_answers_503_and_stores_nothing() {
    let (env, path, s) = hooked(Platform::Notion).await;
    let body = event_body(Platform::Notion, 7, "");
    env.router_pool.close().await;
    let r = deliver(&env, Platform::Notion, &s, &path, &body).await;
    assert_stored(&env, &r, 503, (0, 0), "the database down").await;
    env.finish().await;
}

#[tokio::test]
async fn refusals_and_acceptances_are_counted() {
    let (env, path, s) = hooked(Platform::Fireflies).await;
    let series = |outcome: &str| {
        format!(r#"mcp_webhook_events_total{{platform="fireflies",outcome="{outcome}"}}"#)
    };
    let read = || async {
        let (code, text) = crate::common::http_get(
            env.base
                .trim_start_matches("http://")
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port"),
            "/metrics",
        )
        .await
        .expect("metrics");
        assert_eq!(code, 200);
        parse_metrics(&text)
    };
    let before = read().await;
    let body = event_body(Platform::Fireflies, 3, "");
    let r = deliver(&env, Platform::Fireflies, &s, &path, &body).await;
    assert_eq!(r.status, 200);
    let r = deliver(&env, Platform::Fireflies, "wrong", &path, &body).await;
    assert_eq!(r.status, 401);
    let after = read().await;
    for outcome in ["accepted", "bad_signature"] {
        let b = before
            .get(&series(outcome))
            .copied()
            .expect("registered at zero");
        let a = after.get(&series(outcome)).copied().unwrap_or(0.0);
        assert!(a >= b + 1.0, "{outcome}: {b} -> {a}");
    }
    assert!(
        after.contains_key(&series("too_large")),
        "every outcome is registered"
    );
    env.finish().await;
}

#[tokio::test]
async fn a_stored_event_is_processed_by_a_worker() {
    let (env, path, s) = hooked(Platform::Slack).await;
    let body = event_body(Platform::Slack, 42, "");
    let r = deliver(&env, Platform::Slack, &s, &path, &body).await;
    assert_eq!(r.status, 200);
    let worker = start_builtin_worker(&env.db).await;
    settle(&env, ONE_PROCESSED).await;
    let processed = "SELECT count(*) FROM mcp.webhook_events WHERE processed_at IS NOT NULL";
    assert_counts(&env.db, &[(processed, 1, "the event is processed")]).await;
    let payload_id: i64 = env
        .db
        .scalar_i64("SELECT (payload->'event_ids'->>0)::bigint FROM mcp.sync_jobs WHERE kind = 'webhook_process'")
        .await;
    let event_id = env.db.scalar_i64("SELECT id FROM mcp.webhook_events").await;
    assert_eq!(payload_id, event_id);
    finish_with(env, worker).await;
}

#[tokio::test]
async fn a_revocation_event_revokes_the_integration_and_cancels_its_jobs() {
    let (env, path, s, integration) = hooked_active(Platform::Slack).await;
    let pending: i64 = sqlx::query_scalar(
        "SELECT mcp.enqueue_job('health_check', jsonb_build_object('integration_id', $1::uuid), \
                                run_at => now() + interval '1 hour', integration_id => $1)",
    )
    .bind(integration)
    .fetch_one(&env.db.pool)
    .await
    .expect("a pending job");
    let body = serde_json::to_vec(&serde_json::json!({
        "type": "event_callback", "event_id": "Ev-revoke-1",
        "event": {"type": "tokens_revoked", "tokens": {"oauth": ["U1"]}}
    }))
    .expect("json");
    let r = deliver(&env, Platform::Slack, &s, &path, &body).await;
    assert_eq!(r.status, 200);
    let worker = start_builtin_worker(&env.db).await;
    let revoked =
        format!("SELECT state = 'REVOKED' FROM core.integrations WHERE id = '{integration}'");
    settle(&env, &revoked).await;
    let cancelled =
        format!("SELECT count(*) FROM mcp.sync_jobs WHERE id = {pending} AND state = 'cancelled'");
    assert_counts(
        &env.db,
        &[(cancelled.as_str(), 1, "its pending job is cancelled")],
    )
    .await;
    finish_with(env, worker).await;
}

#[tokio::test]
async fn a_burst_of_events_asks_for_one_incremental_sync() {
    let (env, path, s, integration) = hooked_active(Platform::Notion).await;
    for n in 0..5 {
        let body = event_body(Platform::Notion, 100 + n, "");
        let r = deliver(&env, Platform::Notion, &s, &path, &body).await;
        assert_eq!(r.status, 200);
    }
    // The sync asked for waits a short debounce, so all five events land on the one queued.
    let worker = start_builtin_worker(&env.db).await;
    settle(
        &env,
        "SELECT count(*) = 5 FROM mcp.sync_jobs WHERE kind = 'webhook_process' AND state = 'completed'",
    )
    .await;
    let syncs = syncs_of(integration);
    assert_counts(&env.db, &[(syncs.as_str(), 1, "five events, one sync")]).await;
    finish_with(env, worker).await;
}

/// Events of two integrations delivered together and worked at once, one of them a revocation,
/// plus a job naming an event that does not exist: every event is processed exactly once, the
/// revoked integration is REVOKED, the other gets one sync, and only the bad job is discarded.
#[tokio::test]
async fn events_worked_together_are_each_processed_once() {
    let env = env().await;
    let slack = env.hook(Platform::Slack).await;
    let notion = env.hook(Platform::Notion).await;
    let ids = [env.activate(&slack).await, env.activate(&notion).await];
    let (s_slack, s_notion) = (secret_of(Platform::Slack), secret_of(Platform::Notion));
    let mut posts = Vec::new();
    for n in 0..40u64 {
        let (p, path, s) = if n % 2 == 0 {
            (Platform::Slack, &slack, &s_slack)
        } else {
            (Platform::Notion, &notion, &s_notion)
        };
        let body = if n == 20 {
            serde_json::to_vec(&serde_json::json!({
                "type": "event_callback", "event_id": "Ev-revoke-group",
                "event": {"type": "app_uninstalled"}
            }))
            .expect("json")
        } else {
            event_body(p, 1_000 + n, "")
        };
        let headers = sign(p, s, &body, now(), path);
        posts.push((path.clone(), headers, body));
    }
    for (path, headers, body) in &posts {
        let r = env.post(path, "application/json", headers, body).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let bad = env
        .db
        .scalar_i64("SELECT mcp.enqueue_job('webhook_process', '{\"event_id\": 987654321}')")
        .await;
    let worker = start_builtin_worker(&env.db).await;
    settle(
        &env,
        "SELECT count(*) = 0 FROM mcp.sync_jobs WHERE kind = 'webhook_process' \
         AND state IN ('available', 'running', 'retryable', 'scheduled')",
    )
    .await;
    let discarded = format!(
        "SELECT count(*) FROM mcp.sync_jobs WHERE id = {bad} AND state = 'discarded' \
         AND errors::text LIKE '%does not exist%'"
    );
    let revoked = format!(
        "SELECT count(*) FROM core.integrations WHERE id = '{}' AND state = 'REVOKED'",
        ids[0]
    );
    assert_counts(
        &env.db,
        &[
            (UNPROCESSED, 0, "every stored event processed"),
            (
                discarded.as_str(),
                1,
                "the job naming no event is discarded with its reason",
            ),
            // Jobs of the revoked integration still pending at revocation time are cancelled
            // (their events are processed regardless); all others completed.
            (
                "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'webhook_process' \
                 AND state NOT IN ('completed', 'cancelled')",
                1,
                "one job neither completed nor cancelled",
            ),
            (revoked.as_str(), 1, "the revoked integration"),
            (
                syncs_of(ids[1]).as_str(),
                1,
                "twenty Notion events, one sync",
            ),
        ],
    )
    .await;
    finish_with(env, worker).await;
}

/// Deliveries written by one group commit share one `webhook_process` job per integration
/// (`event_ids`); a job naming events of which some are gone processes the others and completes.
#[tokio::test]
async fn concurrent_deliveries_share_jobs_and_every_event_is_processed() {
    let (env, path, s) = hooked(Platform::Notion).await;
    deliveries_share_jobs_and_are_processed(env, &path, &s).await;
}

/// Sixty Notion deliveries at once to `env`'s intake: each stored once, named by one job, and
/// processed.
pub(crate) async fn deliveries_share_jobs_and_are_processed(
    env: mcp_testkit::webhooks::Env,
    path: &str,
    s: &str,
) {
    let posts: Vec<_> = (0..60u64)
        .map(|n| {
            let body = event_body(Platform::Notion, 5_000 + n, "");
            let headers = sign(Platform::Notion, s, &body, now(), path);
            (headers, body)
        })
        .collect();
    let replies = futures::future::join_all(
        posts
            .iter()
            .map(|(h, b)| env.post(path, "application/json", h, b)),
    )
    .await;
    assert!(replies.iter().all(|r| r.status == 200));
    assert_eq!(env.counts().await.0, 60);
    let named =
        "SELECT count(*) FROM mcp.sync_jobs j, jsonb_array_elements(j.payload->'event_ids') e \
                 WHERE j.kind = 'webhook_process'";
    assert_counts(
        &env.db,
        &[(named, 60, "every event named by exactly one job")],
    )
    .await;
    let gone = env
        .db
        .scalar_i64(
            "SELECT mcp.enqueue_job('webhook_process', jsonb_build_object('event_ids', \
             jsonb_build_array((SELECT min(id) FROM mcp.webhook_events), 987654321)))",
        )
        .await;
    let worker = start_builtin_worker(&env.db).await;
    settle(
        &env,
        "SELECT count(*) = 0 FROM mcp.webhook_events WHERE processed_at IS NULL",
    )
    .await;
    settle(
        &env,
        &format!("SELECT state = 'completed' FROM mcp.sync_jobs WHERE id = {gone}"),
    )
    .await;
    let open = "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'webhook_process' \
                AND state <> 'completed'";
    assert_counts(&env.db, &[(open, 0, "every processing job completed")]).await;
    finish_with(env, worker).await;
}

/// Graph's `subscriptionRemoved` (a lifecycle notification, read from the stored payload) is no
/// revocation: the integration stays as it was, the subscription the event came by is disabled,
/// and a new one and a sync are asked for
/// (https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events).
#[tokio::test]
async fn a_removed_graph_subscription_is_made_again() {
    let (env, _, _, integration) = hooked_active(Platform::Outlook).await;
    // The webhook is a subscription the daemon made.
    sqlx::query(
        "UPDATE mcp.webhooks SET created_by = 'daemon', external_id = 'graph-sub-1' \
         WHERE integration_id = $1",
    )
    .bind(integration)
    .execute(&env.db.pool)
    .await
    .expect("daemon-made");
    // The lifecycle notification as Graph documents it
    // (https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events, "Subscription
    // removed notifications"), with this subscription's id.
    let notification = serde_json::json!({"value": [{
        "subscriptionId": "graph-sub-1",
        "subscriptionExpirationDateTime": "2019-03-20T11:00:00.0000000Z",
        "tenantId": "<tenant_guid>",
        "clientState": "<secretClientState>",
        "lifecycleEvent": "subscriptionRemoved"
    }]});
    sqlx::query(
        "WITH e AS (INSERT INTO mcp.webhook_events \
                      (webhook_id, integration_id, workspace_id, platform, dedup_key, payload) \
                    SELECT w.id, w.integration_id, w.workspace_id, 'outlook', 'lifecycle-1', $2 \
                    FROM mcp.webhooks w WHERE w.integration_id = $1 RETURNING id) \
         SELECT mcp.enqueue_job('webhook_process', jsonb_build_object('event_ids', jsonb_build_array(e.id))) FROM e",
    )
    .bind(integration)
    .bind(&notification)
    .execute(&env.db.pool)
    .await
    .expect("event and job");
    let mut cfg = crate::common::test_config(&env.db.url);
    // Only the processing runs here: the jobs it asks for are read, not run.
    for kind in ["webhook_subscribe", "sync"] {
        cfg.kinds.insert(
            kind.into(),
            mcp_daemon::config::KindOverride {
                concurrency: Some(0),
                ..Default::default()
            },
        );
    }
    let worker = crate::common::start_configured_worker(&env.db, cfg).await;
    settle(&env, ONE_PROCESSED).await;
    worker.shutdown().await;
    let state: String = sqlx::query_scalar("SELECT state FROM core.integrations WHERE id = $1")
        .bind(integration)
        .fetch_one(&env.db.pool)
        .await
        .expect("state");
    assert_eq!(state, "ACTIVE", "not a revocation");
    let (status, has_secret): (String, bool) = sqlx::query_as(
        "SELECT status, secret_ct IS NOT NULL FROM mcp.webhooks WHERE external_id = 'graph-sub-1'",
    )
    .fetch_one(&env.db.pool)
    .await
    .expect("webhook");
    assert_eq!((status.as_str(), has_secret), ("disabled", false));
    let asked: Vec<String> = sqlx::query_scalar(
        "SELECT kind FROM mcp.sync_jobs WHERE integration_id = $1 \
         AND kind IN ('webhook_subscribe', 'sync') ORDER BY kind",
    )
    .bind(integration)
    .fetch_all(&env.db.pool)
    .await
    .expect("jobs");
    assert_eq!(asked, vec!["sync", "webhook_subscribe"]);
    env.finish().await;
}

/// A revoked integration's own webhook URL stores nothing any more, whether the intake had the
/// webhook cached or not: a delivery to a webhook looked up a moment before the revocation is
/// answered 200 and dropped by the statement that stores; one looked up afresh is refused 404,
/// as for a disabled webhook, so that the platform stops sending. Its earlier events stay.
#[tokio::test]
async fn a_revoked_integrations_own_url_stores_nothing() {
    let (env, path, s, integration) = hooked_active(Platform::Fireflies).await;
    // A second webhook of the same integration, which the intake has not looked up yet.
    let other = mcp_daemon::webhooks::register(
        &env.db.pool,
        &env.vault,
        integration,
        Platform::Fireflies,
        Some(&mcp_platforms::secret::Secret::new(s.clone())),
        None,
    )
    .await
    .expect("second webhook");
    let other = format!("/webhooks/fireflies/{other}");
    let post = |path: &str, n: u64| {
        let body = event_body(Platform::Fireflies, n, "");
        let (env, s, path) = (&env, &s, path.to_string());
        async move { deliver(env, Platform::Fireflies, s, &path, &body).await }
    };
    let r = post(&path, 1).await;
    assert_stored(&env, &r, 200, (1, 1), "before the revocation").await;
    sqlx::query("SELECT mcp.transition_integration_state($1, 'REVOKED', 'by the test')")
        .bind(integration)
        .execute(&env.db.pool)
        .await
        .expect("revoke");
    let r = post(&path, 2).await;
    assert_stored(&env, &r, 200, (1, 1), "nothing stored after the revocation").await;
    let r = post(&other, 3).await;
    assert_stored(&env, &r, 404, (1, 1), "a webhook looked up afresh").await;
    env.finish().await;
}

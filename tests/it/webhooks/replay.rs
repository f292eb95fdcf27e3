//! Replays on the platforms whose deliveries carry no signed time (Notion, Fireflies, …): the
//! signature verifies forever, so a delivery replayed after `prune` deleted its event must
//! still be a duplicate (`mcp.webhook_dedup`, kept `retention.webhook_dedup`).

use mcp_daemon::config::RetentionConfig;
use mcp_platforms::connectors::Platform;

use super::{content_type, env, event_body, now, secret_of, sign, Env};

/// Marks every event processed and received `days` ago.
async fn age(env: &Env, days: i64) {
    sqlx::query(
        "UPDATE mcp.webhook_events SET processed_at = now(), \
                received_at = now() - $1 * interval '1 day'",
    )
    .bind(days)
    .execute(&env.db.pool)
    .await
    .expect("age events");
}

/// Makes every seen key first seen `days` ago.
async fn age_keys(env: &Env, days: i64) {
    sqlx::query("UPDATE mcp.webhook_dedup SET first_seen = now() - $1 * interval '1 day'")
        .bind(days)
        .execute(&env.db.pool)
        .await
        .expect("age keys");
}

async fn prune(env: &Env) {
    let ages = RetentionConfig::default().history();
    mcp_daemon::integrations::prune_history(&env.db.pool, &ages, 100)
        .await
        .expect("prune");
}

#[tokio::test]
async fn a_delivery_replayed_after_its_event_was_pruned_is_a_duplicate() {
    let env = env().await;
    for (n, p) in [Platform::Notion, Platform::Fireflies]
        .into_iter()
        .enumerate()
    {
        let path = env.hook(p).await;
        let secret = secret_of(p);
        let body = event_body(p, 7000 + n as u64, &secret);
        let headers = sign(p, &secret, &body, now(), &path);
        let r = env.post(&path, content_type(p), &headers, &body).await;
        assert!(r.body.contains("event_id"), "{p}: {}", r.body);
        // Older than retention.webhook_events (30 days): pruned (with every earlier one).
        age(&env, 31).await;
        prune(&env).await;
        assert_eq!(env.counts().await.0, 0, "{p}: the event was pruned");
        // The captured delivery, replayed: its signature still verifies, but it is no news.
        let r = env.post(&path, content_type(p), &headers, &body).await;
        assert_eq!(r.status, 200, "{p}: {}", r.body);
        assert!(r.body.contains("duplicate"), "{p} replay: {}", r.body);
        assert_eq!(env.counts().await.0, 0, "{p}: nothing stored");
        // Another event of the same webhook is still new.
        let other = event_body(p, 8000 + n as u64, &secret);
        let headers = sign(p, &secret, &other, now(), &path);
        let r = env.post(&path, content_type(p), &headers, &other).await;
        assert!(r.body.contains("event_id"), "{p}: {}", r.body);
    }
    // A platform that signs a time is bounded by it: its keys are not kept.
    let path = env.hook(Platform::Slack).await;
    let secret = secret_of(Platform::Slack);
    let body = event_body(Platform::Slack, 9000, &secret);
    let headers = sign(Platform::Slack, &secret, &body, now(), &path);
    let r = env
        .post(&path, content_type(Platform::Slack), &headers, &body)
        .await;
    assert!(r.body.contains("event_id"), "{}", r.body);
    let kept = |platform: &'static str| {
        let pool = env.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM mcp.webhook_dedup WHERE platform = $1",
            )
            .bind(platform)
            .fetch_one(&pool)
            .await
            .expect("keys")
        }
    };
    assert_eq!(
        (
            kept("notion").await,
            kept("fireflies").await,
            kept("slack").await
        ),
        (2, 2, 0)
    );
    // The keys go after retention.webhook_dedup (400 days).
    age_keys(&env, 401).await;
    prune(&env).await;
    assert_eq!(
        env.db
            .scalar_i64("SELECT count(*) FROM mcp.webhook_dedup")
            .await,
        0
    );
    env.finish().await;
}

//! Deliveries shaped as the platforms document them (bodies from `mcp_sandbox::events`, each
//! builder naming its documentation), through the real intake: a Slack Connect event goes to
//! the installation it is delivered for; Discord's Webhook Events PING is answered 204 with an
//! empty body and its events are stored by type, while an interactions PING still gets its
//! PONG; Fireflies' Webhooks V2 events keep their type and key.

use mcp_platforms::connectors::Platform;
use mcp_sandbox::events;
use serde_json::Value;

use super::{app_secret_of, env, now, secret_of, sign, slack_event_in, Env};

/// Posts `body` signed with the app's secret to `/webhooks/{p}`.
async fn post_app(env: &Env, p: Platform, body: &Value) -> super::Reply {
    let path = format!("/webhooks/{}", p.as_str());
    let body = body.to_string().into_bytes();
    let headers = sign(p, &app_secret_of(p), &body, now(), &path);
    env.post(&path, "application/json", &headers, &body).await
}

/// (integration, event_type, dedup_key) of every stored event.
async fn stored(env: &Env) -> Vec<(uuid::Uuid, Option<String>, String)> {
    sqlx::query_as(
        "SELECT integration_id, event_type, dedup_key FROM mcp.webhook_events ORDER BY id",
    )
    .fetch_all(&env.db.pool)
    .await
    .expect("events")
}

#[tokio::test]
async fn slack_connect_event_goes_to_the_installation_it_is_for() {
    let env = env().await;
    let other_ws = mcp_daemon::integrations::create_workspace(&env.db.pool, "other")
        .await
        .expect("ws");
    let a = env.connected(env.ws, Platform::Slack, "T0AAAAAAA").await;
    let b = env.connected(other_ws, Platform::Slack, "T0BBBBBBB").await;
    // A channel shared by both companies: the message was posted in B's workspace (outer
    // `team_id`), and this delivery is for A's installation (`authorizations[0]`).
    let r = post_app(
        &env,
        Platform::Slack,
        &slack_event_in(1, "T0BBBBBBB", "T0AAAAAAA"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("event_id"), "{}", r.body);
    assert_eq!(env.events_by_integration().await, vec![(a, 1)]);
    // Slack delivers the same message again for B's installation: B's copy.
    let r = post_app(
        &env,
        Platform::Slack,
        &slack_event_in(2, "T0BBBBBBB", "T0BBBBBBB"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut want = vec![(a, 1), (b, 1)];
    want.sort();
    assert_eq!(env.events_by_integration().await, want);
    env.finish().await;
}

#[tokio::test]
async fn discord_webhook_events_ping_is_204_and_stores_nothing() {
    let env = env().await;
    env.connected(env.ws, Platform::Discord, "197038439483310086")
        .await;
    let r = post_app(&env, Platform::Discord, &events::discord_webhook_ping()).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(r.body, "");
    assert_eq!(env.counts().await, (0, 0));
    // Signed with another key: refused (Discord checks that invalid signatures are refused).
    let path = "/webhooks/discord";
    let body = events::discord_webhook_ping().to_string().into_bytes();
    let headers = sign(Platform::Discord, "not-the-app-key", &body, now(), path);
    let r = env.post(path, "application/json", &headers, &body).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(env.counts().await, (0, 0));
    env.finish().await;
}

#[tokio::test]
async fn discord_webhook_event_for_a_connected_guild_is_stored() {
    let env = env().await;
    let guild = "197038439483310086";
    let i = env.connected(env.ws, Platform::Discord, guild).await;
    let event = events::discord_application_authorized(guild, "2024-10-18T14:42:53.064834");
    // Acknowledged as Discord asks: 204, no body.
    let r = post_app(&env, Platform::Discord, &event).await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    let rows = stored(&env).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, i);
    assert_eq!(rows[0].1.as_deref(), Some("APPLICATION_AUTHORIZED"));
    // Discord's retry of the same event is a duplicate.
    let r = post_app(&env, Platform::Discord, &event).await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    assert_eq!(env.counts().await, (1, 1));
    // Another guild's event is not routed.
    let r = post_app(
        &env,
        Platform::Discord,
        &events::discord_application_authorized("1", "2024-10-18T14:42:54.000000"),
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    assert_eq!(env.counts().await, (1, 1));
    env.finish().await;
}

#[tokio::test]
async fn discord_interactions_ping_still_gets_its_pong() {
    let env = env().await;
    let r = post_app(
        &env,
        Platform::Discord,
        &events::discord_interaction("867794291820986368", 1, None),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.content_type.starts_with("application/json"));
    assert_eq!(r.body, r#"{"type":1}"#);
    // On a registered webhook too.
    let path = env.hook(Platform::Discord).await;
    let body = events::discord_interaction("867794291820986369", 1, None)
        .to_string()
        .into_bytes();
    let headers = sign(
        Platform::Discord,
        &secret_of(Platform::Discord),
        &body,
        now(),
        &path,
    );
    let r = env.post(&path, "application/json", &headers, &body).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"type":1}"#));
    assert_eq!(env.counts().await, (0, 0));
    env.finish().await;
}

#[tokio::test]
async fn fireflies_v1_and_v2_deliveries_keep_their_type_and_key() {
    let env = env().await;
    let path = env.hook(Platform::Fireflies).await;
    let secret = secret_of(Platform::Fireflies);
    let deliveries = [
        (
            events::fireflies_v2("meeting.transcribed", "ASxwZxCstx", 1_710_876_543_210),
            mcp_sandbox::FirefliesSignature::Prefixed,
        ),
        (
            events::fireflies_v2("meeting.summarized", "ASxwZxCstx", 1_710_876_789_456),
            mcp_sandbox::FirefliesSignature::Prefixed,
        ),
        (
            events::fireflies_v1("ASxwZxCstx"),
            mcp_sandbox::FirefliesSignature::Hex,
        ),
    ];
    for (body, form) in &deliveries {
        let body = body.to_string().into_bytes();
        let headers = vec![mcp_sandbox::fireflies_signature(
            secret.as_bytes(),
            &body,
            *form,
        )];
        let r = env.post(&path, "application/json", &headers, &body).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let rows: Vec<(Option<String>, String)> = stored(&env)
        .await
        .into_iter()
        .map(|(_, t, k)| (t, k))
        .collect();
    let t = |s: &str| Some(s.to_string());
    assert_eq!(
        rows,
        vec![
            (
                t("meeting.transcribed"),
                "ASxwZxCstx:meeting.transcribed".into()
            ),
            (
                t("meeting.summarized"),
                "ASxwZxCstx:meeting.summarized".into()
            ),
            (
                t("Transcription completed"),
                "ASxwZxCstx:Transcription completed".into()
            ),
        ]
    );
    // A V2 event delivered again is a duplicate.
    let body = deliveries[0].0.to_string().into_bytes();
    let headers = sign(Platform::Fireflies, &secret, &body, now(), &path);
    let r = env.post(&path, "application/json", &headers, &body).await;
    assert!(r.body.contains("duplicate"), "{}", r.body);
    env.finish().await;
}

//! Monday signs every customer's board webhooks with one app-wide signing secret: the daemon's
//! board webhooks carry a secret of their own in their URL, and a delivery without it is
//! refused, however well signed. An `uninstall` signed with the app's secret does not revoke:
//! it asks for a check of the integration's token, which only a genuinely withdrawn grant
//! fails.

use std::time::Duration;

use mcp_platforms::connectors::{Credentials, Platform};
use mcp_platforms::secret::Secret;
use mcp_sandbox as sandbox;
use serde_json::json;
use uuid::Uuid;

use super::{app_secret_of, env, now, sign, Env};
use crate::common::{start_configured_worker, test_config};

const URL_SECRET: &str = "5f0c1b7e9d3a4c2e8b6f1a0d7c9e3b5a4f2d8c6e1b0a9f7e3d5c2b4a6e8f0d1c";

/// A board webhook of integration `integration` as the daemon makes it (its secret in its
/// URL); returns its path without the secret.
async fn board_webhook(env: &Env, integration: Uuid) -> String {
    let id = mcp_daemon::webhooks::register_secret_in_url(
        &env.db.pool,
        &env.vault,
        integration,
        Platform::Monday,
        &Secret::new(URL_SECRET.to_string()),
    )
    .await
    .expect("register");
    format!("/webhooks/monday/{id}")
}

/// Posts `body` to `path`, signed as Monday signs it with `app_secret` (a JWT whose `aud` is the
/// URL it is sent to).
async fn post(env: &Env, path: &str, app_secret: &str, body: &serde_json::Value) -> (u16, String) {
    let body = body.to_string().into_bytes();
    let headers = sign(Platform::Monday, app_secret, &body, now(), path);
    let r = env.post(path, "application/json", &headers, &body).await;
    (r.status, r.body)
}

#[tokio::test]
async fn a_board_event_without_the_url_secret_is_refused() {
    let env = env().await;
    let integration =
        mcp_testkit::integrations::bare_active(&env.db.pool, env.ws, Platform::Monday).await;
    let path = board_webhook(&env, integration).await;
    let app = app_secret_of(Platform::Monday);
    let event = |n: u32| {
        json!({"event": {"type": "item_deleted", "triggerUuid": format!("t{n}"),
                          "boardId": 77, "pulseId": 1234567}})
    };
    // Signed with the app's secret, as a leaked secret would sign it: refused without the
    // URL's secret, or with a wrong one.
    let wrong = format!("{path}/{}", URL_SECRET.replace('5', "6"));
    for (target, what) in [(path.clone(), "no URL secret"), (wrong, "wrong URL secret")] {
        let (status, body) = post(&env, &target, &app, &event(1)).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(env.counts().await, (0, 0), "{what}: nothing stored");
    }
    // The right URL secret, but not the app's signature.
    let full = format!("{path}/{URL_SECRET}");
    let (status, body) = post(&env, &full, "not-the-app-secret", &event(2)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(env.counts().await, (0, 0));
    // Both: stored.
    let (status, body) = post(&env, &full, &app, &event(3)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("event_id"), "{body}");
    assert_eq!(env.counts().await, (1, 1));
    // Monday's challenge at create_webhook comes to the full URL, signed: answered.
    let (status, body) = post(&env, &full, &app, &json!({"challenge": "3eZbrw1aBm2rZgRN"})).await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"challenge":"3eZbrw1aBm2rZgRN"}"#)
    );

    // A board webhook made before URL secrets (a row with no secret of its own): the app's
    // secret alone no longer opens it.
    let old: Uuid = sqlx::query_scalar(
        "INSERT INTO mcp.webhooks (integration_id, workspace_id, platform, created_by, external_id) \
         VALUES ($1, $2, 'monday', 'daemon', '42') RETURNING id",
    )
    .bind(integration)
    .bind(env.ws)
    .fetch_one(&env.db.pool)
    .await
    .expect("old row");
    let (status, body) = post(&env, &format!("/webhooks/monday/{old}"), &app, &event(4)).await;
    assert_eq!(status, 401, "{body}");
    // A URL secret segment on a webhook that has none there is no webhook's URL.
    let (status, _) = post(
        &env,
        &format!("/webhooks/monday/{old}/{URL_SECRET}"),
        &app,
        &event(5),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(env.counts().await, (1, 1), "nothing more stored");
    env.finish().await;
}

/// An ACTIVE Monday integration with sandbox credentials; its access token.
async fn monday_integration(env: &Env, sb: &sandbox::Sandbox, login: &str) -> (Uuid, String) {
    let (creds, _) = sb.mint_credentials(Platform::Monday, login);
    let token = match &creds {
        Credentials::Bearer(t) => t.expose().to_string(),
        _ => panic!("Monday is OAuth"),
    };
    let id = mcp_daemon::integrations::create_active(
        &env.db.pool,
        &mcp_testkit::worker::test_vault(),
        env.ws,
        Platform::Monday,
        &creds,
    )
    .await
    .expect("integration");
    (id, token)
}

#[tokio::test]
async fn an_uninstall_signed_with_the_app_secret_only_asks_for_a_token_check() {
    let env = env().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let mut cfg = test_config(&env.db.url);
    cfg.platforms = sb.config_overrides();
    let (working, _) = monday_integration(&env, &sb, "still-installed").await;
    let (gone, token) = monday_integration(&env, &sb, "uninstalled").await;
    // The app was uninstalled from the second account: Monday refuses its token now.
    assert!(sb.revoke_token(&token));
    let worker = start_configured_worker(&env.db, cfg).await;
    let app = app_secret_of(Platform::Monday);
    for (n, id) in [working, gone].into_iter().enumerate() {
        let path = format!("{}/{URL_SECRET}", board_webhook(&env, id).await);
        // Monday's documented lifecycle payload
        // (https://developer.monday.com/apps/changelog/new-information-in-the-install-and-uninstall-webhooks).
        let uninstall = json!({"type": "uninstall", "data": {"app_id": 1000000000,
            "user_id": 3, "user_email": "ann@example.com", "account_id": n + 1,
            "timestamp": "2022-06-28T06:48:06.643+00:00"}});
        let (status, body) = post(&env, &path, &app, &uninstall).await;
        assert_eq!(status, 200, "{body}");
    }
    env.db
        .wait_until(
            "SELECT count(*) = 2 FROM mcp.sync_jobs WHERE kind = 'health_check' \
             AND state = 'completed'",
            Duration::from_secs(30),
        )
        .await;
    let state = |id: Uuid| {
        let pool = env.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT state FROM core.integrations WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("state")
        }
    };
    // The token still works: the event's word alone changed nothing.
    assert_eq!(state(working).await, "ACTIVE");
    // The token is refused: the health check's normal path takes the integration out.
    let s = state(gone).await;
    assert!(matches!(s.as_str(), "EXPIRED" | "REVOKED"), "{s}");
    let processed: i64 = env
        .db
        .scalar_i64("SELECT count(*) FROM mcp.webhook_events WHERE processed_at IS NOT NULL")
        .await;
    assert_eq!(processed, 2);
    worker.shutdown().await;
    env.finish().await;
}

#[tokio::test]
async fn board_webhooks_made_without_a_url_secret_are_replaced() {
    let env = env().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let mut cfg = test_config(&env.db.url);
    cfg.platforms = sb.config_overrides();
    cfg.webhooks.public_base = super::PUBLIC_BASE.into();
    let connectors = cfg.connectors().expect("connectors");
    let (id, _) = monday_integration(&env, &sb, "boards").await;
    mcp_testkit::integrations::set_settings(&env.db, id, json!({"boards": ["101"]})).await;
    // A board webhook made before URL secrets: no secret of its own.
    let old: Uuid = sqlx::query_scalar(
        "INSERT INTO mcp.webhooks (integration_id, workspace_id, platform, created_by, external_id, \
                                   settings) \
         VALUES ($1, $2, 'monday', 'daemon', '42', '{\"board_id\": \"101\", \"event\": \"create_item\"}') \
         RETURNING id",
    )
    .bind(id)
    .bind(env.ws)
    .fetch_one(&env.db.pool)
    .await
    .expect("old row");
    let maker = mcp_daemon::webhooks::subscriptions::Maker {
        pool: &env.db.pool,
        vault: &env.vault,
        connectors: &connectors,
        cfg: &cfg.webhooks,
    };
    let subscribe = || mcp_daemon::webhooks::subscriptions::subscribe(&maker, id);
    let done = subscribe().await.expect("subscribe");
    assert_eq!((done.created, done.existing), (3, 0));
    let rows: Vec<(Uuid, String, bool)> = sqlx::query_as(
        "SELECT id, status, secret_in_url FROM mcp.webhooks WHERE integration_id = $1 ORDER BY created_at",
    )
    .bind(id)
    .fetch_all(&env.db.pool)
    .await
    .expect("rows");
    assert_eq!(rows.len(), 4);
    for (row, status, in_url) in rows {
        if row == old {
            assert_eq!((status.as_str(), in_url), ("disabled", false));
        } else {
            assert_eq!((status.as_str(), in_url), ("active", true));
        }
    }
    // Run again: nothing to make, nothing to replace.
    let done = subscribe().await.expect("again");
    assert_eq!((done.created, done.existing), (0, 3));
    env.finish().await;
}

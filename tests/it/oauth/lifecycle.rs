//! The bearer gate, disconnects (revocation, cancelled jobs, reconnect) and API-key connects.

use mcp_platforms::connectors::{Credentials, Platform};
use mcp_platforms::secret::Secret;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{connected, env, env_with, TOKEN};

#[tokio::test]
async fn requests_without_the_right_bearer_get_401_and_write_nothing() {
    let (e, ws, id) = connected(Platform::Notion).await;
    let before = e.digest().await;
    let body = json!({"workspace_id": ws, "api_key": "k"});
    let calls = [
        (
            "GET",
            format!("/integrations/connect/gmail?workspace_id={ws}"),
            None,
        ),
        (
            "GET",
            "/integrations/callback/gmail?code=c&state=s".to_string(),
            None,
        ),
        ("GET", format!("/integrations/{id}"), None),
        ("POST", format!("/integrations/{id}/disconnect"), None),
        ("POST", "/integrations/fireflies".to_string(), Some(body)),
    ];
    let wrong = format!("Bearer {TOKEN}x");
    let basic = format!("Basic {TOKEN}");
    for auth in [
        None,
        Some("Bearer"),
        Some(wrong.as_str()),
        Some(basic.as_str()),
        Some("Bearer "),
    ] {
        for (method, path, body) in &calls {
            let (status, _, text) = e.call_as(auth, method, path, body.clone()).await;
            assert_eq!(status, 401, "{auth:?} {method} {path}: {text}");
            assert!(!text.contains(TOKEN));
        }
    }
    assert_eq!(e.digest().await, before);
    for open in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(e.get_public(open).await.0, 200, "{open}");
    }
    e.finish().await;
    // Without an api_token no gateway token is accepted (only workspace tokens).
    let e = env_with(|c| c.http.api_token = Secret::default()).await;
    for auth in [
        None,
        Some(format!("Bearer {TOKEN}")),
        Some("Bearer ".into()),
    ] {
        let (status, _, _) = e
            .call_as(
                auth.as_deref(),
                "GET",
                "/integrations/connect/gmail?workspace_id=x",
                None,
            )
            .await;
        assert_eq!(status, 401, "{auth:?}");
    }
    e.finish().await;
}

#[tokio::test]
async fn disconnect_revokes_at_the_platform_cancels_pending_jobs_and_allows_a_reconnect() {
    let (e, ws, id) = connected(Platform::Slack).await;
    let (access, _) = e.tokens(id).await;
    e.db.exec(&format!(
        "INSERT INTO mcp.sync_jobs (kind, integration_id, run_at) VALUES ('noop', '{id}', now() + interval '1 hour'); \
         INSERT INTO mcp.sync_jobs (kind, integration_id, state, finished_at) VALUES ('noop', '{id}', 'completed', now())"
    ))
    .await;
    let v = e.disconnect(id).await;
    // The connect's first health check and first sync, and the scheduled noop.
    assert_eq!(
        v,
        json!({"integration_id": id, "state": "REVOKED", "revoked_at_platform": true, "cancelled_jobs": 3, "subscriptions_removed": 0})
    );
    assert_eq!(
        e.state_of(id).await,
        ("REVOKED".into(), Some("disconnected".into()))
    );
    assert_eq!(
        e.db.scalar_i64("SELECT count(*) FROM mcp.oauth_tokens")
            .await,
        0
    );
    let states: Vec<String> =
        sqlx::query_scalar("SELECT state FROM mcp.sync_jobs WHERE integration_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&e.db.pool)
            .await
            .expect("jobs");
    assert_eq!(states, ["cancelled", "cancelled", "cancelled", "completed"]);
    // The old token is dead at the platform.
    let connectors = e.config.connectors().expect("connectors");
    let err = connectors
        .get(Platform::Slack)
        .health_check(&Credentials::Bearer(Secret::new(access)))
        .await
        .expect_err("revoked token must fail");
    assert!(err.error_type.as_str().starts_with("auth_"), "{err}");
    // The same integration connects again.
    let (_, callback) = e.start_connect(Platform::Slack, ws, Some(id)).await;
    let (status, _, body) = e.call("GET", &callback, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&id.to_string()));
    e.finish().await;
}

#[tokio::test]
async fn a_failed_revocation_is_recorded_and_does_not_block_the_disconnect() {
    let e = env_with(|c| {
        if let Some(o) = c.platforms.get_mut("gmail") {
            o.revoke_url = Some("http://127.0.0.1:1/revoke".into());
        }
    })
    .await;
    let ws = e.workspace().await;
    let (id, _) = e.connect(Platform::Gmail, ws).await;
    let v = e.disconnect(id).await;
    assert_eq!(
        (v["state"].as_str(), v["revoked_at_platform"].as_bool()),
        (Some("REVOKED"), Some(false))
    );
    let errors: Vec<(String, String)> = sqlx::query_as(
        "SELECT error_type, context FROM mcp.integration_errors WHERE integration_id = $1",
    )
    .bind(id)
    .fetch_all(&e.db.pool)
    .await
    .expect("errors");
    assert_eq!(errors, [("network".to_string(), "disconnect".to_string())]);
    e.finish().await;
}

#[tokio::test]
async fn api_key_platforms_connect_with_a_post_and_a_refused_key_expires() {
    let e = env().await;
    let ws = e.workspace().await;
    let (key, _) = e.sb.mint_token(Platform::Fireflies, "acme");
    let (status, _, body) = e
        .call(
            "POST",
            "/integrations/fireflies",
            Some(json!({"workspace_id": ws, "api_key": key})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["state"], "ACTIVE");
    assert!(!body.contains(&key));
    let (sid, auth) = e.sb.mint_token(Platform::ZeroVoice, "acme");
    let (status, _, body) = e
        .call(
            "POST",
            "/integrations/zerovoice",
            Some(json!({"workspace_id": ws, "account_sid": sid, "auth_token": auth})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(!body.contains(&auth));
    let (status, _, body) = e
        .call(
            "POST",
            "/integrations/loom",
            Some(json!({"workspace_id": ws, "api_key": "not-a-loom-key"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (v["state"].as_str(), v["error_type"].as_str()),
        (Some("EXPIRED"), Some("auth_invalid"))
    );
    assert!(!body.contains("not-a-loom-key"));
    let id: Uuid = v["integration_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let (_, _, status_body) = e.call("GET", &format!("/integrations/{id}"), None).await;
    assert!(!status_body.contains("not-a-loom-key") && status_body.contains("EXPIRED"));

    // Refusals that write nothing.
    let before = e.digest().await;
    let refusals: [(&str, Option<Value>, &str, u16); 7] = [
        ("/integrations/otter", None, "body", 400),
        ("/integrations/otter", Some(json!([1])), "body", 400),
        (
            "/integrations/otter",
            Some(json!({"workspace_id": ws})),
            "api_key",
            400,
        ),
        (
            "/integrations/otter",
            Some(json!({"api_key": "k"})),
            "workspace_id",
            400,
        ),
        (
            "/integrations/zerovoice",
            Some(json!({"workspace_id": ws, "account_sid": "AC1"})),
            "auth_token",
            400,
        ),
        (
            "/integrations/gmail",
            Some(json!({"workspace_id": ws, "api_key": "k"})),
            "",
            400,
        ),
        (
            "/integrations/otter",
            Some(json!({"workspace_id": Uuid::new_v4(), "api_key": "k"})),
            "",
            404,
        ),
    ];
    for (path, body, field, want) in refusals {
        let (status, _, text) = e.call("POST", path, body.clone()).await;
        assert_eq!(status, want, "{path} {body:?}: {text}");
        let v: Value = serde_json::from_str(&text).expect("json error");
        if !field.is_empty() {
            assert_eq!(v["field"], field, "{text}");
        }
    }
    for (path, want) in [
        (
            format!("/integrations/connect/fireflies?workspace_id={ws}"),
            400,
        ),
        (
            format!("/integrations/connect/myspace?workspace_id={ws}"),
            404,
        ),
        (
            format!(
                "/integrations/connect/gmail?workspace_id={}",
                Uuid::new_v4()
            ),
            404,
        ),
        ("/integrations/connect/gmail".to_string(), 400),
    ] {
        let (status, _, text) = e.call("GET", &path, None).await;
        assert_eq!(status, want, "{path}: {text}");
        assert!(serde_json::from_str::<Value>(&text).is_ok(), "{text}");
    }
    assert_eq!(e.digest().await, before);
    e.finish().await;
}

/// monday's OAuth 2.0 flow (the `/oauth2/token` code grant without PKCE) issues a token that
/// does not expire and no refresh token (https://developer.monday.com/apps/docs/oauth-2-0):
/// it is stored without either, the refresh sweep never picks it, a refresh has nothing to
/// do, and the token keeps working.
#[tokio::test]
async fn monday_tokens_without_expiry_or_refresh_token_are_kept_and_never_refreshed() {
    let (e, _, id) = connected(Platform::Monday).await;
    let (no_refresh, no_expiry): (bool, bool) = sqlx::query_as(
        "SELECT refresh_token_ct IS NULL, expires_at IS NULL FROM mcp.oauth_tokens \
         WHERE integration_id = $1",
    )
    .bind(id)
    .fetch_one(&e.db.pool)
    .await
    .expect("token row");
    assert!(no_refresh && no_expiry, "{no_refresh} {no_expiry}");
    let swept = mcp_daemon::credentials::enqueue_refresh_sweep(
        &e.db.pool,
        std::time::Duration::from_secs(400 * 86_400),
    )
    .await
    .expect("sweep");
    assert_eq!(swept, 0);
    let connectors = e.config.connectors().expect("connectors");
    let out = mcp_daemon::credentials::refresh_token(
        &e.db.pool,
        &crate::common::test_vault(),
        &connectors,
        id,
        std::time::Duration::from_secs(5),
    )
    .await
    .expect("refresh");
    assert!(
        matches!(out, mcp_daemon::credentials::RefreshOutcome::Skipped(_)),
        "{out:?}"
    );
    let creds = mcp_daemon::integrations::credentials(&e.db.pool, &crate::common::test_vault(), id)
        .await
        .expect("credentials");
    connectors
        .get(Platform::Monday)
        .health_check(&creds)
        .await
        .expect("the token still works");
    e.finish().await;
}

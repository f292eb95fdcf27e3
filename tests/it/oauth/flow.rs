//! The OAuth connect flow: redirect, callback, PKCE checked by the platform, and the states
//! that must be refused without a write.

use mcp_daemon::connections;
use mcp_daemon::vault::Binding;
use mcp_platforms::connectors::{Credentials, Platform};
use mcp_platforms::secret::Secret;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{env, REDIRECT_BASE};
use crate::common::test_vault;

fn query_param(path: &str, key: &str) -> String {
    let url = url::Url::parse(&format!("http://x{path}")).expect("url");
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {key} in {path}"))
}

#[tokio::test]
async fn connect_follows_the_platform_and_the_callback_makes_it_active() {
    let e = env().await;
    let ws = e.workspace().await;
    let (authorize, callback) = e.start_connect(Platform::Gmail, ws, None).await;
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    assert!(
        authorize.contains(&format!(
            "redirect_uri={}",
            url::form_urlencoded::byte_serialize(
                format!("{REDIRECT_BASE}/integrations/callback/gmail").as_bytes()
            )
            .collect::<String>()
        )),
        "{authorize}"
    );
    // Only the state's hash is stored, with an encrypted verifier and its expiry.
    let state = query_param(&callback, "state");
    let (rows, has_verifier, ttl_s): (i64, bool, f64) = sqlx::query_as(
        "SELECT count(*), bool_and(pkce_verifier_ct IS NOT NULL), \
                max(EXTRACT(EPOCH FROM expires_at - created_at))::float8 \
         FROM mcp.oauth_states WHERE state_hash = sha256(convert_to($1, 'UTF8'))",
    )
    .bind(&state)
    .fetch_one(&e.db.pool)
    .await
    .expect("state row");
    assert_eq!((rows, has_verifier), (1, true));
    assert!((599.0..=601.0).contains(&ttl_s), "{ttl_s}");
    let (status, _, body) = e.call("GET", &callback, None).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    let id: Uuid = v["integration_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    assert_eq!(v, json!({"integration_id": id, "state": "ACTIVE"}));
    let moves: Vec<String> = sqlx::query_scalar(
        "SELECT payload->>'to' FROM ops.events WHERE integration_id = $1 \
         AND event_type = 'integration.state_changed' ORDER BY id",
    )
    .bind(id)
    .fetch_all(&e.db.pool)
    .await
    .expect("events");
    assert_eq!(moves, ["AUTHORIZING", "CONNECTED", "ACTIVE"]);
    let (expires_in_s, used): (f64, bool) = sqlx::query_as(
        "SELECT EXTRACT(EPOCH FROM t.expires_at - now())::float8, s.used_at IS NOT NULL \
         FROM mcp.oauth_tokens t JOIN mcp.oauth_states s USING (integration_id) \
         WHERE t.integration_id = $1",
    )
    .bind(id)
    .fetch_one(&e.db.pool)
    .await
    .expect("token expiry");
    assert!((3500.0..=3601.0).contains(&expires_in_s), "{expires_in_s}");
    assert!(used);
    let job: (String, Value) = sqlx::query_as(
        "SELECT unique_key, payload FROM mcp.sync_jobs WHERE kind = 'health_check' AND integration_id = $1",
    )
    .bind(id)
    .fetch_one(&e.db.pool)
    .await
    .expect("first health check");
    assert_eq!(
        job,
        (format!("health_check:{id}"), json!({"integration_id": id}))
    );
    let first_sync: String = sqlx::query_scalar(
        "SELECT unique_key FROM mcp.sync_jobs WHERE kind = 'sync' AND integration_id = $1",
    )
    .bind(id)
    .fetch_one(&e.db.pool)
    .await
    .expect("first sync, in the callback's transaction");
    assert_eq!(first_sync, format!("sync:{id}"));
    // The stored token works at the platform.
    let (access, refresh) = e.tokens(id).await;
    let connectors = e.config.connectors().expect("connectors");
    connectors
        .get(Platform::Gmail)
        .health_check(&Credentials::Bearer(Secret::new(access.clone())))
        .await
        .expect("stored token is accepted");
    // Status: the documented fields, and no secret anywhere.
    let (status, _, status_body) = e.call("GET", &format!("/integrations/{id}"), None).await;
    assert_eq!(status, 200, "{status_body}");
    let s: Value = serde_json::from_str(&status_body).expect("json");
    assert_eq!(s["platform"], "gmail");
    assert_eq!(s["state"], "ACTIVE");
    assert_eq!(s["workspace_id"], json!(ws));
    assert!(s["token_expires_at"].is_string(), "{status_body}");
    for k in [
        "state_reason",
        "health_status",
        "last_health_check",
        "consecutive_failures",
        "circuit_breaker_state",
        "scopes",
    ] {
        assert!(s.get(k).is_some(), "status lacks {k}: {status_body}");
    }
    let refresh = refresh.expect("a refresh token is stored");
    for b in [&body, &status_body] {
        assert!(
            !b.contains(&access) && !b.contains(&refresh) && !b.contains(&state),
            "{b}"
        );
    }
    e.finish().await;
}

#[tokio::test]
async fn a_wrong_pkce_verifier_fails_the_exchange_and_the_integration_errors() {
    let e = env().await;
    let ws = e.workspace().await;
    let (_, callback) = e.start_connect(Platform::Zoom, ws, None).await;
    let (id, hash): (Uuid, Vec<u8>) =
        sqlx::query_as("SELECT integration_id, state_hash FROM mcp.oauth_states")
            .fetch_one(&e.db.pool)
            .await
            .expect("state");
    let record = hex::encode(&hash);
    let binding = Binding {
        record: &record,
        field: connections::PKCE_FIELD,
    };
    let (key, ct) = test_vault()
        .seal("a-verifier-that-does-not-match-the-challenge-0000", binding)
        .expect("seal");
    sqlx::query("UPDATE mcp.oauth_states SET pkce_verifier_ct = $1, key_id = $2")
        .bind(ct)
        .bind(key)
        .execute(&e.db.pool)
        .await
        .expect("swap verifier");
    let (status, _, body) = e.call("GET", &callback, None).await;
    assert_eq!(status, 502, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["error"], "exchange_failed");
    assert_eq!(v["error_type"], "auth_invalid");
    let (state, reason) = e.state_of(id).await;
    assert_eq!(state, "ERROR");
    assert!(reason.unwrap_or_default().contains("invalid_grant"));
    assert_eq!(
        e.db.scalar_i64("SELECT count(*) FROM mcp.oauth_tokens")
            .await,
        0
    );
    assert_eq!(
        e.db.scalar_i64("SELECT count(*) FROM mcp.integration_errors WHERE context = 'connect'")
            .await,
        1
    );
    // The state was spent: the same callback is now refused.
    let (status, _, _) = e.call("GET", &callback, None).await;
    assert_eq!(status, 400);
    e.finish().await;
}

#[tokio::test]
async fn reused_expired_forged_and_other_platform_states_are_refused_with_nothing_written() {
    let e = env().await;
    let ws = e.workspace().await;
    // Reuse of a state that connected.
    let (_, used) = e.start_connect(Platform::Gmail, ws, None).await;
    let (status, _, _) = e.call("GET", &used, None).await;
    assert_eq!(status, 200);
    // An open connect, to be forwarded to the wrong platform, forged, then expired.
    let (_, open) = e.start_connect(Platform::Gmail, ws, None).await;
    let before = e.digest().await;
    let code = query_param(&open, "code");
    let state = query_param(&open, "state");
    let forged = format!(
        "/integrations/callback/gmail?code={code}&state=forged-{}",
        Uuid::new_v4()
    );
    let other = format!("/integrations/callback/slack?code={code}&state={state}");
    for path in [used.as_str(), forged.as_str(), other.as_str()] {
        let (status, _, body) = e.call("GET", path, None).await;
        assert_eq!(status, 400, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["error"], "invalid_state", "{body}");
        assert_eq!(e.digest().await, before, "{path} wrote something");
    }
    e.db.exec("UPDATE mcp.oauth_states SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
        .await;
    let before = e.digest().await;
    let (status, _, body) = e.call("GET", &open, None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(e.digest().await, before, "an expired state wrote something");
    // Refused callbacks are counted.
    let (_, _, metrics) = e.get_public("/metrics").await;
    assert!(
        metrics.lines().any(|l| l
            .starts_with("mcp_oauth_connects_total{platform=\"gmail\",outcome=\"invalid_state\"}")),
        "no invalid_state series"
    );
    e.finish().await;
}

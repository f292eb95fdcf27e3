//! The account captured at connect, the subscriptions made at connect and removed at
//! disconnect, and webhook registration for people — with the sandbox as every platform.

use std::time::Duration;

use mcp_platforms::connectors::{registry, Platform};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{env, env_with, Env};
use crate::common::start_configured_worker;

async fn account_of(e: &Env, id: Uuid) -> Option<String> {
    sqlx::query_scalar("SELECT external_account_id FROM core.integrations WHERE id = $1")
        .bind(id)
        .fetch_one(&e.db.pool)
        .await
        .expect("account")
}

#[tokio::test]
async fn every_platform_records_the_account_at_connect() {
    let e = env().await;
    let ws = e.workspace().await;
    for p in Platform::ALL {
        let login = format!("acct-{}", p.as_str());
        let (id, want) = if registry::uses_oauth(p) {
            let id = e.connect_as(p, ws, Some(&login)).await.0;
            (id, mcp_sandbox::account_of(p, &login))
        } else {
            let (key, secret) = e.sb.mint_token(p, &login);
            let (body, want) = match p {
                // The connect presents the account SID itself.
                Platform::ZeroVoice => (
                    json!({"workspace_id": ws, "account_sid": key, "auth_token": secret}),
                    key.clone(),
                ),
                _ => (
                    json!({"workspace_id": ws, "api_key": key}),
                    mcp_sandbox::account_of(p, &login),
                ),
            };
            let (status, _, body) = e
                .call("POST", &format!("/integrations/{}", p.as_str()), Some(body))
                .await;
            assert_eq!(status, 201, "{p}: {body}");
            let v: Value = serde_json::from_str(&body).expect("json");
            let id = v["integration_id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("id");
            (id, want)
        };
        assert_eq!(
            account_of(&e, id).await.as_deref(),
            Some(want.as_str()),
            "{p}"
        );
    }
    // The app-level platforms got their route from /webhooks/{platform}.
    let routes: Vec<String> = sqlx::query_scalar(
        "SELECT platform FROM mcp.webhooks WHERE delivery = 'app' ORDER BY platform",
    )
    .fetch_all(&e.db.pool)
    .await
    .expect("routes");
    assert_eq!(routes, ["discord", "gmail", "notion", "slack", "zoom"]);
    e.finish().await;
}

#[tokio::test]
async fn a_second_connect_of_an_account_takes_over_or_is_refused() {
    let e = env().await;
    let ws = e.workspace().await;
    let (first, _) = e.connect_as(Platform::Slack, ws, Some("acme")).await;
    // Another user of the same Slack team, same workspace: the new integration takes over.
    let (second, _) = e.connect_as(Platform::Slack, ws, Some("acme+bob")).await;
    let (state, reason) = e.state_of(first).await;
    assert_eq!(state, "REVOKED", "{reason:?}");
    assert!(reason.unwrap_or_default().contains(&second.to_string()));
    assert_eq!(
        account_of(&e, second).await,
        Some(mcp_sandbox::account_of(Platform::Slack, "acme"))
    );
    // Another workspace: refused, nothing of it kept.
    let other = e.workspace().await;
    let (_, callback) = e
        .start_connect_as(Platform::Slack, other, None, Some("acme+eve"))
        .await;
    let (status, _, body) = e.call("GET", &callback, None).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("account_taken"), "{body}");
    let (holders, tokens): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE external_account_id IS NOT NULL), \
                (SELECT count(*) FROM mcp.oauth_tokens t JOIN core.integrations j \
                   ON j.id = t.integration_id WHERE j.workspace_id = $1) \
         FROM core.integrations WHERE workspace_id = $1",
    )
    .bind(other)
    .fetch_one(&e.db.pool)
    .await
    .expect("other");
    assert_eq!((holders, tokens), (0, 0));
    assert_eq!(e.state_of(second).await.0, "ACTIVE");
    e.finish().await;
}

async fn sandbox_subscriptions(e: &Env) -> Vec<Value> {
    let v: Value = e
        .client
        .get(format!("{}/_sandbox/subscriptions", e.sb.base_url()))
        .send()
        .await
        .expect("subscriptions")
        .json()
        .await
        .expect("json");
    v.as_array().cloned().unwrap_or_default()
}

async fn wait_jobs_done(e: &Env, kind: &str, n: i64) {
    let sql = format!(
        "SELECT count(*) >= {n} FROM mcp.sync_jobs WHERE kind = '{kind}' AND state = 'completed'"
    );
    e.db.wait_until(&sql, Duration::from_secs(20)).await;
}

#[tokio::test]
async fn subscriptions_are_made_at_connect_and_removed_at_disconnect() {
    let e = env_with(|c| {
        c.webhooks.gmail_topic = "projects/acme/topics/mail".into();
        c.webhooks.public_base = "https://hooks.example.test/mcp".into();
    })
    .await;
    let ws = e.workspace().await;
    let (gmail, _) = e.connect_as(Platform::Gmail, ws, Some("ann")).await;
    let (outlook, _) = e.connect_as(Platform::Outlook, ws, Some("ann")).await;
    let (monday, _) = e.connect_as(Platform::Monday, ws, Some("ann")).await;
    sqlx::query(
        "UPDATE core.integrations SET settings = '{\"boards\": [\"101\", 202]}' WHERE id = $1",
    )
    .bind(monday)
    .execute(&e.db.pool)
    .await
    .expect("boards");
    let queued: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'webhook_subscribe' AND state = 'available'",
    )
    .fetch_one(&e.db.pool)
    .await
    .expect("queued");
    assert_eq!(queued, 3, "one webhook_subscribe per connect");
    let worker = start_configured_worker(&e.db, e.config.clone()).await;
    wait_jobs_done(&e, "webhook_subscribe", 3).await;

    let subs = sandbox_subscriptions(&e).await;
    let count = |p: &str| subs.iter().filter(|s| s["platform"] == p).count();
    assert_eq!(
        (count("gmail"), count("outlook"), count("monday")),
        (1, 1, 6),
        "{subs:#?}"
    );
    assert!(subs
        .iter()
        .any(|s| s["platform"] == "gmail" && s["target"] == "projects/acme/topics/mail"));
    let graph = subs
        .iter()
        .find(|s| s["platform"] == "outlook")
        .expect("graph");
    let rows: Vec<(Uuid, String, Option<String>, bool, bool)> = sqlx::query_as(
        "SELECT integration_id, platform, external_id, expires_at IS NOT NULL, secret_ct IS NOT NULL \
         FROM mcp.webhooks WHERE created_by = 'daemon' AND status = 'active' ORDER BY platform",
    )
    .fetch_all(&e.db.pool)
    .await
    .expect("rows");
    assert_eq!(rows.len(), 8, "{rows:?}");
    let outlook_row = rows.iter().find(|r| r.1 == "outlook").expect("outlook row");
    assert_eq!(outlook_row.2.as_deref(), graph["id"].as_str());
    assert!(
        outlook_row.3 && outlook_row.4,
        "expiry recorded and clientState sealed"
    );
    assert_eq!(
        graph["target"]
            .as_str()
            .map(|t| t.starts_with("https://hooks.example.test/mcp/webhooks/outlook/")),
        Some(true)
    );
    assert!(rows.iter().any(|r| r.1 == "gmail" && r.0 == gmail && r.3));
    // Each Monday board webhook's URL carries a secret of its own, sealed as its row's secret:
    // Monday signs them all with the app's one signing secret.
    let monday_rows: Vec<(Uuid, bool, bool)> = sqlx::query_as(
        "SELECT id, secret_in_url, secret_ct IS NOT NULL FROM mcp.webhooks \
         WHERE platform = 'monday' AND created_by = 'daemon'",
    )
    .fetch_all(&e.db.pool)
    .await
    .expect("monday rows");
    assert_eq!(monday_rows.len(), 6);
    let mut secrets = std::collections::HashSet::new();
    for (id, in_url, sealed) in &monday_rows {
        assert!(*in_url && *sealed, "{id}");
        let prefix = format!("https://hooks.example.test/mcp/webhooks/monday/{id}/");
        let target = subs
            .iter()
            .filter_map(|s| s["target"].as_str())
            .find(|t| t.starts_with(&prefix))
            .expect("the webhook's URL at Monday");
        let secret = &target[prefix.len()..];
        assert!(secret.len() >= 64 && !secret.contains('/'), "{target}");
        secrets.insert(secret.to_string());
    }
    assert_eq!(secrets.len(), 6, "a secret per webhook");

    // Disconnect removes them at the platform and disables the rows.
    for id in [gmail, outlook, monday] {
        let (status, _, body) = e
            .call("POST", &format!("/integrations/{id}/disconnect"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert!(
            v["subscriptions_removed"].as_u64().unwrap_or(0) >= 1,
            "{body}"
        );
    }
    assert!(sandbox_subscriptions(&e).await.is_empty());
    let active: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mcp.webhooks WHERE created_by = 'daemon' AND status <> 'disabled'",
    )
    .fetch_one(&e.db.pool)
    .await
    .expect("active");
    assert_eq!(active, 0);
    worker.shutdown().await;
    e.finish().await;
}

/// A takeover removes the old integration's Graph subscription and Monday board webhooks at the
/// platform with the old token, then deletes that token; the old Gmail watch is the mailbox's one
/// watch, which the new integration's watch replaces, so Gmail is not told to stop.
#[tokio::test]
async fn a_takeover_removes_the_old_integrations_subscriptions_at_the_platform() {
    let e = env_with(|c| {
        c.webhooks.gmail_topic = "projects/acme/topics/mail".into();
        c.webhooks.public_base = "https://hooks.example.test/mcp".into();
    })
    .await;
    let ws = e.workspace().await;
    let mut old = Vec::new();
    for p in [Platform::Outlook, Platform::Monday, Platform::Gmail] {
        old.push(e.connect_as(p, ws, Some("ann")).await.0);
    }
    sqlx::query("UPDATE core.integrations SET settings = '{\"boards\": [\"101\"]}' WHERE id = $1")
        .bind(old[1])
        .execute(&e.db.pool)
        .await
        .expect("boards");
    let worker = start_configured_worker(&e.db, e.config.clone()).await;
    wait_jobs_done(&e, "webhook_subscribe", 3).await;
    let count = |subs: &[Value], p: &str| subs.iter().filter(|s| s["platform"] == p).count();
    let before = sandbox_subscriptions(&e).await;
    assert_eq!(
        (
            count(&before, "outlook"),
            count(&before, "monday"),
            count(&before, "gmail")
        ),
        (1, 3, 1),
        "{before:#?}"
    );
    // The same mailbox and the same Monday account connected again in the same workspace.
    let mut new = Vec::new();
    for p in [Platform::Outlook, Platform::Monday, Platform::Gmail] {
        new.push(e.connect_as(p, ws, Some("ann")).await.0);
    }
    for id in &old {
        assert_eq!(e.state_of(*id).await.0, "REVOKED");
    }
    wait_jobs_done(&e, "webhook_unsubscribe", 2).await;
    wait_jobs_done(&e, "webhook_subscribe", 6).await;
    let after = sandbox_subscriptions(&e).await;
    assert_eq!(
        (
            count(&after, "outlook"),
            count(&after, "monday"),
            count(&after, "gmail")
        ),
        (1, 0, 1),
        "{after:#?}"
    );
    // The Graph subscription left is the new integration's.
    let new_hook: Uuid = sqlx::query_scalar(
        "SELECT id FROM mcp.webhooks WHERE integration_id = $1 AND created_by = 'daemon' \
           AND status = 'active'",
    )
    .bind(new[0])
    .fetch_one(&e.db.pool)
    .await
    .expect("new graph row");
    let target = after
        .iter()
        .find(|s| s["platform"] == "outlook")
        .and_then(|s| s["target"].as_str())
        .unwrap_or_default();
    assert!(target.ends_with(&new_hook.to_string()), "{target}");
    // The old tokens are gone, the old rows disabled, and nothing failed.
    let (tokens, live_rows, errors): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM mcp.oauth_tokens WHERE integration_id = ANY($1)), \
                (SELECT count(*) FROM mcp.webhooks WHERE integration_id = ANY($1) \
                   AND created_by = 'daemon' AND status <> 'disabled' AND platform <> 'gmail'), \
                (SELECT count(*) FROM mcp.integration_errors WHERE integration_id = ANY($1))",
    )
    .bind(&old)
    .fetch_one(&e.db.pool)
    .await
    .expect("old");
    assert_eq!((tokens, live_rows, errors), (0, 0, 0));
    worker.shutdown().await;
    e.finish().await;
}

#[tokio::test]
async fn people_register_list_and_remove_webhooks_over_http() {
    let e = env_with(|c| c.webhooks.public_base = "https://hooks.example.test/mcp".into()).await;
    let ws = e.workspace().await;
    let (id, _) = e.connect_as(Platform::Monday, ws, Some("reg")).await;
    let path = format!("/integrations/{id}/webhooks");
    // No secret: refused, nothing written.
    let (status, _, body) = e.call("POST", &path, Some(json!({}))).await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = e
        .call(
            "POST",
            &path,
            Some(json!({"secret": "monday-signing-secret-1"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(!body.contains("monday-signing-secret-1"), "{body}");
    let w: Value = serde_json::from_str(&body).expect("json");
    let hook = w["id"].as_str().expect("id").to_string();
    assert_eq!(
        w["url"],
        format!("https://hooks.example.test/mcp/webhooks/monday/{hook}")
    );
    assert_eq!(w["has_secret"], true);
    let (status, _, body) = e.call("GET", &path, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&hook), "{body}");
    // Without the bearer token: refused.
    let (status, _, _) = e.call_as(None, "GET", &path, None).await;
    assert_eq!(status, 401);
    // Slack's events come to its app-level URL: a webhook of its own only for its own app.
    let (slack, _) = e.connect_as(Platform::Slack, ws, Some("reg-slack")).await;
    let slack_path = format!("/integrations/{slack}/webhooks");
    let own = json!({"secret": "slack-own-app-secret"});
    let (status, _, body) = e.call("POST", &slack_path, Some(own.clone())).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("/webhooks/slack") && body.contains("own_app"),
        "{body}"
    );
    let mut own = own;
    own["own_app"] = json!(true);
    let (status, _, body) = e.call("POST", &slack_path, Some(own)).await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = e.call("DELETE", &format!("{path}/{hook}"), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = e.call("DELETE", &format!("{path}/{hook}"), None).await;
    assert_eq!(status, 404);
    let (st, has_secret): (String, bool) = sqlx::query_as(
        "SELECT status, secret_ct IS NOT NULL FROM mcp.webhooks WHERE id = $1::uuid",
    )
    .bind(&hook)
    .fetch_one(&e.db.pool)
    .await
    .expect("row");
    assert_eq!((st.as_str(), has_secret), ("disabled", false));
    e.finish().await;
}

#[tokio::test]
async fn a_reconnect_after_a_disconnect_routes_the_account_again() {
    let e = env().await;
    let ws = e.workspace().await;
    let (id, _) = e.connect_as(Platform::Slack, ws, Some("loop")).await;
    let route = |e: &Env| {
        let pool = e.db.pool.clone();
        async move {
            let (status, account): (String, Option<String>) = sqlx::query_as(
                "SELECT w.status, i.external_account_id FROM mcp.webhooks w \
                 JOIN core.integrations i ON i.id = w.integration_id \
                 WHERE w.integration_id = $1 AND w.delivery = 'app'",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("route");
            (status, account)
        }
    };
    assert_eq!(route(&e).await.0, "active");
    let (status, _, body) = e
        .call("POST", &format!("/integrations/{id}/disconnect"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(route(&e).await.0, "disabled");
    let (_, callback) = e
        .start_connect_as(Platform::Slack, ws, Some(id), Some("loop"))
        .await;
    let (status, _, body) = e.call("GET", &callback, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        route(&e).await,
        (
            "active".to_string(),
            Some(mcp_sandbox::account_of(Platform::Slack, "loop"))
        )
    );
    e.finish().await;
}

#[tokio::test]
async fn a_failed_subscription_is_retried_as_a_job() {
    let e = env_with(|c| {
        c.webhooks.public_base = "https://hooks.example.test/mcp".into();
        c.kinds.insert(
            "webhook_subscribe".into(),
            mcp_daemon::config::KindOverride {
                max_attempts: Some(5),
                backoff_base: Some(Duration::from_millis(50)),
                backoff_max: Some(Duration::from_millis(100)),
                timeout: None,
                concurrency: None,
            },
        );
    })
    .await;
    let ws = e.workspace().await;
    let (id, _) = e.connect_as(Platform::Outlook, ws, Some("flaky")).await;
    // Only the subscription calls Graph here: the connect's health check and sync are cancelled.
    sqlx::query(
        "SELECT mcp.cancel_job(id) FROM mcp.sync_jobs \
         WHERE integration_id = $1 AND kind IN ('health_check', 'sync')",
    )
    .bind(id)
    .execute(&e.db.pool)
    .await
    .expect("cancel");
    // Graph answers 503 twice, then creates the subscription.
    e.sb.fault(
        Platform::Outlook,
        mcp_sandbox::FaultKind::Unavailable,
        Some(2),
        None,
    );
    let worker = start_configured_worker(&e.db, e.config.clone()).await;
    wait_jobs_done(&e, "webhook_subscribe", 1).await;
    let attempt: i32 = sqlx::query_scalar(
        "SELECT attempt::int FROM mcp.sync_jobs WHERE kind = 'webhook_subscribe' AND integration_id = $1",
    )
    .bind(id)
    .fetch_one(&e.db.pool)
    .await
    .expect("job");
    assert!(attempt >= 2, "retried: attempt {attempt}");
    let subs = sandbox_subscriptions(&e).await;
    assert_eq!(subs.len(), 1, "{subs:#?}");
    // One row: the failed attempts left none behind.
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mcp.webhooks WHERE integration_id = $1 AND platform = 'outlook'",
    )
    .bind(id)
    .fetch_one(&e.db.pool)
    .await
    .expect("rows");
    assert_eq!(rows, 1);
    worker.shutdown().await;
    e.finish().await;
}

//! Workspace API tokens on the management API: a token of workspace A acts in A only. Another
//! workspace's integrations and endpoints are 404 to it (as if they did not exist), naming
//! another workspace in a query string or body is 403 `forbidden_workspace`, and none of that
//! writes anything; a revoked or unknown token is 401. The command line makes, lists and
//! revokes them, printing a token once.

use mcp_platforms::connectors::Platform;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{env, Env, TOKEN};

/// `Env::digest` and what else a management request may write.
async fn everything(e: &Env) -> String {
    let mut out = e.digest().await;
    for t in [
        "mcp.webhooks",
        "mcp.notification_endpoints",
        "mcp.notifications",
    ] {
        let d: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) || ':' || COALESCE(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {t} t"
        )))
        .fetch_one(&e.db.pool)
        .await
        .expect("digest");
        out.push_str(&format!("{t}={d} "));
    }
    out
}

async fn token_for(e: &Env, ws: Uuid) -> String {
    let (_, token) = mcp_daemon::api_tokens::create(&e.db.pool, ws, "tests")
        .await
        .expect("token");
    format!("Bearer {}", token.expose())
}

fn error_of(body: &str) -> String {
    serde_json::from_str::<Value>(body).expect("json")["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_workspace_token_cannot_touch_another_workspaces_integrations() {
    let e = env().await;
    let a = e.workspace().await;
    let b = e.workspace().await;
    let (theirs, _) = e.connect(Platform::Notion, b).await;
    let as_a = token_for(&e, a).await;
    let before = everything(&e).await;
    let hook = Uuid::new_v4();
    let not_found = [
        ("GET", format!("/integrations/{theirs}"), None),
        ("POST", format!("/integrations/{theirs}/disconnect"), None),
        ("GET", format!("/integrations/{theirs}/webhooks"), None),
        (
            "POST",
            format!("/integrations/{theirs}/webhooks"),
            Some(json!({"secret": "s3cret-s3cret"})),
        ),
        (
            "DELETE",
            format!("/integrations/{theirs}/webhooks/{hook}"),
            None,
        ),
        // Reconnecting their integration through a connect in A.
        (
            "GET",
            format!("/integrations/connect/notion?integration_id={theirs}"),
            None,
        ),
    ];
    for (method, path, body) in not_found {
        let (status, _, text) = e.call_as(Some(&as_a), method, &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {text}");
        assert_eq!(error_of(&text), "unknown_integration", "{text}");
        assert!(!text.contains(&b.to_string()), "{text}");
    }
    // Naming B in a query string or a body does not switch workspace.
    let forbidden = [
        (
            "GET",
            format!("/integrations/connect/gmail?workspace_id={b}"),
            None,
        ),
        (
            "POST",
            "/integrations/fireflies".to_string(),
            Some(json!({"workspace_id": b, "api_key": "k"})),
        ),
        (
            "POST",
            "/notifications/endpoints".to_string(),
            Some(json!({"url": "https://r.example.test/h", "workspace_id": b})),
        ),
    ];
    for (method, path, body) in forbidden {
        let (status, _, text) = e.call_as(Some(&as_a), method, &path, body).await;
        assert_eq!(status, 403, "{method} {path}: {text}");
        assert_eq!(error_of(&text), "forbidden_workspace", "{text}");
    }
    assert_eq!(everything(&e).await, before, "a refused request wrote");

    // B's integration is untouched, and the gateway still sees it.
    assert_eq!(e.state_of(theirs).await.0, "ACTIVE");
    let (status, _, _) = e
        .call("GET", &format!("/integrations/{theirs}"), None)
        .await;
    assert_eq!(status, 200);

    // In its own workspace it works, with or without naming it.
    let (status, to_platform, text) = e
        .call_as(Some(&as_a), "GET", "/integrations/connect/gmail", None)
        .await;
    assert_eq!(status, 302, "{text}");
    assert!(!to_platform.is_empty());
    let started: Uuid = sqlx::query_scalar(
        "SELECT id FROM core.integrations WHERE platform = 'gmail' AND state = 'AUTHORIZING'",
    )
    .fetch_one(&e.db.pool)
    .await
    .expect("started connect");
    let (status, _, text) = e
        .call_as(
            Some(&as_a),
            "GET",
            &format!("/integrations/{started}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["workspace_id"], json!(a));
    let (status, _, text) = e
        .call_as(
            Some(&as_a),
            "GET",
            &format!("/integrations/connect/gmail?workspace_id={a}&integration_id={started}"),
            None,
        )
        .await;
    assert_eq!(status, 302, "{text}");
    e.finish().await;
}

#[tokio::test]
async fn a_workspace_token_cannot_finish_another_workspaces_connect() {
    let e = env().await;
    let a = e.workspace().await;
    let b = e.workspace().await;
    let as_a = token_for(&e, a).await;
    // The gateway starts a connect in B; the callback forwarded with A's token is refused and
    // leaves the state unused …
    let (_, callback) = e.start_connect(Platform::Gmail, b, None).await;
    let before = everything(&e).await;
    let (status, _, text) = e.call_as(Some(&as_a), "GET", &callback, None).await;
    assert_eq!(status, 400, "{text}");
    assert_eq!(error_of(&text), "invalid_state", "{text}");
    assert_eq!(everything(&e).await, before, "a refused callback wrote");
    // … so the gateway can still finish it.
    let (status, _, text) = e.call("GET", &callback, None).await;
    assert_eq!(status, 200, "{text}");
    e.finish().await;
}

#[tokio::test]
async fn a_workspace_token_sees_only_its_own_notification_endpoints() {
    let e = env().await;
    let a = e.workspace().await;
    let b = e.workspace().await;
    let as_a = token_for(&e, a).await;
    let mut ids = Vec::new();
    for ws in [None, Some(b)] {
        let (status, _, text) = e
            .call(
                "POST",
                "/notifications/endpoints",
                Some(json!({"url": "https://r.example.test/h", "workspace_id": ws})),
            )
            .await;
        assert_eq!(status, 201, "{text}");
        let v: Value = serde_json::from_str(&text).expect("json");
        ids.push(v["id"].as_str().expect("id").to_string());
    }
    let (status, _, text) = e
        .call_as(Some(&as_a), "GET", "/notifications/endpoints", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json")["endpoints"],
        json!([])
    );
    let before = everything(&e).await;
    // Every workspace's endpoint and B's are not A's.
    for id in &ids {
        for (method, path) in [
            ("DELETE", format!("/notifications/endpoints/{id}")),
            (
                "POST",
                format!("/notifications/endpoints/{id}/rotate-secret"),
            ),
            ("POST", format!("/notifications/endpoints/{id}/test")),
        ] {
            let (status, _, text) = e.call_as(Some(&as_a), method, &path, None).await;
            assert_eq!(status, 404, "{method} {path}: {text}");
        }
    }
    // Notion's verification token is the app's: the gateway's only.
    let (status, _, text) = e
        .call_as(Some(&as_a), "GET", "/notion/verification-token", None)
        .await;
    assert_eq!(status, 403, "{text}");
    assert_eq!(everything(&e).await, before, "a refused request wrote");
    // Its own: added in A whatever it leaves out, then listed, tested, removed.
    let (status, _, text) = e
        .call_as(
            Some(&as_a),
            "POST",
            "/notifications/endpoints",
            Some(json!({"url": "https://a.example.test/h", "workspace_id": null})),
        )
        .await;
    assert_eq!(status, 201, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["workspace_id"], json!(a));
    let own = v["id"].as_str().expect("id").to_string();
    let (_, _, text) = e
        .call_as(Some(&as_a), "GET", "/notifications/endpoints", None)
        .await;
    assert!(
        text.contains(&own) && !ids.iter().any(|i| text.contains(i)),
        "{text}"
    );
    let (status, _, _) = e
        .call_as(
            Some(&as_a),
            "POST",
            &format!("/notifications/endpoints/{own}/test"),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let (status, _, _) = e
        .call_as(
            Some(&as_a),
            "DELETE",
            &format!("/notifications/endpoints/{own}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    e.finish().await;
}

#[tokio::test]
async fn revoked_and_unknown_workspace_tokens_are_401() {
    let e = env().await;
    let a = e.workspace().await;
    let (id, _) = e.connect(Platform::Notion, a).await;
    let path = format!("/integrations/{id}");
    let (row, token) = mcp_daemon::api_tokens::create(&e.db.pool, a, "ci")
        .await
        .expect("token");
    let bearer = format!("Bearer {}", token.expose());
    assert_eq!(e.call_as(Some(&bearer), "GET", &path, None).await.0, 200);
    // Only the hash is stored.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mcp.api_tokens WHERE position(convert_to($1, 'UTF8') in token_sha256) > 0",
    )
    .bind(token.expose())
    .fetch_one(&e.db.pool)
    .await
    .expect("count");
    assert_eq!(stored, 0);
    let unknown = format!("Bearer {}x", token.expose());
    let gateway_lookalike = format!("Bearer mcpw_{TOKEN}");
    for auth in [unknown.as_str(), gateway_lookalike.as_str()] {
        assert_eq!(e.call_as(Some(auth), "GET", &path, None).await.0, 401);
    }
    mcp_daemon::api_tokens::revoke(&e.db.pool, row.id)
        .await
        .expect("revoke");
    let (status, _, text) = e.call_as(Some(&bearer), "GET", &path, None).await;
    assert_eq!(status, 401, "{text}");
    assert!(!text.contains(token.expose()));
    e.finish().await;
}

#[tokio::test]
async fn tokens_are_made_listed_and_revoked_from_the_command_line() {
    let e = env().await;
    let a = e.workspace().await;
    let cli = |args: Vec<String>| {
        let url = e.db.url.clone();
        async move {
            let out = tokio::process::Command::new(crate::common::bin())
                .args(&args)
                .env_remove("MCP_WORKER_CONFIG")
                .env("DATABASE_URL", url)
                .output()
                .await
                .expect("run");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (code, out, err) = cli(vec![
        "tokens".into(),
        "create".into(),
        "--workspace".into(),
        a.to_string(),
        "--name".into(),
        "support desk".into(),
    ])
    .await;
    assert_eq!(code, Some(0), "{err}");
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("bearer token (shown once): "))
        .expect("the token is printed")
        .to_string();
    assert!(token.starts_with("mcpw_"), "{out}");
    let id = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<Uuid>().ok())
        .expect("id");
    let bearer = format!("Bearer {token}");
    let (status, _, _) = e
        .call_as(Some(&bearer), "GET", "/notifications/endpoints", None)
        .await;
    assert_eq!(status, 200);
    let (code, out, _) = cli(vec!["tokens".into(), "list".into()]).await;
    assert_eq!(code, Some(0));
    assert!(
        out.contains(&id.to_string()) && out.contains("support desk"),
        "{out}"
    );
    assert!(!out.contains(&token), "the list shows the token: {out}");
    let (code, _, err) = cli(vec!["tokens".into(), "revoke".into(), id.to_string()]).await;
    assert_eq!(code, Some(0), "{err}");
    let (status, _, _) = e
        .call_as(Some(&bearer), "GET", "/notifications/endpoints", None)
        .await;
    assert_eq!(status, 401);
    let (code, out, _) = cli(vec!["tokens".into(), "list".into()]).await;
    assert_eq!(code, Some(0));
    assert!(
        !out.contains(&id.to_string()),
        "revoked tokens are left out: {out}"
    );
    let (_, out, _) = cli(vec!["tokens".into(), "list".into(), "--all".into()]).await;
    assert!(out.contains("revoked"), "{out}");
    // Again: nothing to revoke.
    let (code, _, _) = cli(vec!["tokens".into(), "revoke".into(), id.to_string()]).await;
    assert_ne!(code, Some(0));
    // An unknown workspace is refused.
    let (code, _, err) = cli(vec![
        "tokens".into(),
        "create".into(),
        "--workspace".into(),
        Uuid::new_v4().to_string(),
        "--name".into(),
        "x".into(),
    ])
    .await;
    assert_ne!(code, Some(0));
    assert!(err.contains("not found"), "{err}");
    e.finish().await;
}

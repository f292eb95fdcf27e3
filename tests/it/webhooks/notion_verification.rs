//! Notion's subscription verification: the documented unsigned `{"verification_token": …}` on
//! the app-level URL is stored sealed and given to the operator (CLI, HTTP behind the bearer
//! token), then verifies Notion's signed deliveries when no signing secret is configured; any
//! other unsigned body is refused with nothing stored. The documented body:
//! https://developers.notion.com/reference/webhooks ("Verifying the subscription").

use std::time::Duration;

use mcp_platforms::connectors::Platform;
use mcp_sandbox as sandbox;

use super::{app_secret_of, env, event_for_account, now, sign};
use crate::common::{bin, TestDb};

/// The documented verification request body (Notion's example token).
const TOKEN: &str = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl";
const API_TOKEN: &str = "gateway-token-0123456789";

fn verification_body() -> String {
    format!(r#"{{"verification_token":"{TOKEN}"}}"#)
}

async fn stored_rows(db: &TestDb) -> i64 {
    db.scalar_i64("SELECT count(*) FROM mcp.notion_verification")
        .await
}

#[tokio::test]
async fn notion_verification_through_the_daemon() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tmp");
    let key_file = dir.path().join("k1.key");
    mcp_daemon::vault::Vault::write_new_key_file(&key_file).expect("key");
    let key_file = key_file.display().to_string();
    // No [platforms.notion] signing_secret: the verification token is the secret.
    let cfg = dir.path().join("daemon.toml");
    std::fs::write(
        &cfg,
        format!(
            "[vault]\nkey_files = [{key_file:?}]\n\n[http]\napi_token = {API_TOKEN:?}\n\n\
             [oauth]\nredirect_base = \"https://gateway.example.test/mcp\"\n\n\
             [webhooks]\npublic_base = \"https://hooks.example.test/mcp\"\n\n{}",
            sandbox::overrides_toml(&sb)
        ),
    )
    .expect("config");
    let mut daemon = mcp_testkit::Launcher::new(bin(), &db.url)
        .quick()
        .args(&["--config", &cfg.display().to_string()])
        .env("MCP_WORKER__LOG__LEVEL", "info")
        .capture_stderr()
        .start()
        .await
        .expect("start the daemon");
    let base = format!("http://127.0.0.1:{}", daemon.port);
    let client = reqwest::Client::new();
    let post = |body: String, headers: Vec<(String, String)>| {
        let mut req = client
            .post(format!("{base}/webhooks/notion"))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            let r = req.send().await.expect("post");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let ws = mcp_daemon::integrations::create_workspace(&db.pool, "notion")
        .await
        .expect("ws");
    let integration = mcp_testkit::integrations::bare_active(&db.pool, ws, Platform::Notion).await;
    let mut tx = db.pool.begin().await.expect("tx");
    mcp_daemon::connections::account::claim(
        &mut tx,
        integration,
        Platform::Notion,
        "ws-1",
        mcp_daemon::connections::account::Claim::Connect,
    )
    .await
    .expect("claim");
    tx.commit().await.expect("commit");

    // Unsigned bodies of any other shape: refused, nothing stored.
    for other in [
        format!(r#"{{"verification_token":"{TOKEN}","type":"page.created"}}"#),
        r#"{"verification_token":""}"#.to_string(),
        r#"{"token":"secret_x"}"#.to_string(),
        String::from_utf8(event_for_account(Platform::Notion, 1, "ws-1")).expect("utf8"),
    ] {
        let (status, body) = post(other.clone(), vec![]).await;
        assert_eq!(status, 401, "{other}: {body}");
    }
    assert_eq!(stored_rows(&db).await, 0);
    let events = || db.scalar_i64("SELECT count(*) FROM mcp.webhook_events");
    assert_eq!(events().await, 0);

    // The documented verification request: 200, nothing secret in the answer, stored sealed.
    let (status, body) = post(verification_body(), vec![]).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(TOKEN), "{body}");
    assert_eq!(stored_rows(&db).await, 1);
    let plaintext_in_row: bool = sqlx::query_scalar(
        "SELECT position(convert_to($1, 'UTF8') in token_ct) > 0 \
             OR position($1 in key_id) > 0 \
         FROM mcp.notion_verification",
    )
    .bind(TOKEN)
    .fetch_one(&db.pool)
    .await
    .expect("row");
    assert!(!plaintext_in_row, "the token is stored sealed");
    assert_eq!(events().await, 0, "a verification is not an event");

    // The operator reads it over HTTP, only with the bearer token …
    let url = format!("{}/notion/verification-token", daemon.admin_base());
    let r = client.get(&url).send().await.expect("get");
    assert_eq!(r.status().as_u16(), 401);
    let r = client
        .get(&url)
        .header("authorization", "Bearer not-the-token")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 401);
    let r = client
        .get(&url)
        .header("authorization", format!("Bearer {API_TOKEN}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["verification_token"], TOKEN);
    // … and from the command line (which must succeed; its output, trimmed).
    let cli = |args: &'static [&'static str]| {
        let (db_url, key_file) = (db.url.clone(), key_file.clone());
        async move {
            let out = tokio::process::Command::new(bin())
                .args(args)
                .env_remove("MCP_WORKER_CONFIG")
                .env("DATABASE_URL", &db_url)
                .env("MCP_WORKER__VAULT__KEY_FILES", format!("[{key_file:?}]"))
                .output()
                .await
                .expect("cli");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        }
    };
    assert_eq!(cli(&["webhooks", "notion-token"]).await, TOKEN);

    // Notion's next deliveries are signed with that token, and verify.
    let body = event_for_account(Platform::Notion, 2, "ws-1");
    let headers = sign(Platform::Notion, TOKEN, &body, now(), "/webhooks/notion");
    let (status, answer) = post(String::from_utf8(body.clone()).expect("utf8"), headers).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("event_id"), "{answer}");
    let forged = sign(
        Platform::Notion,
        "secret_other",
        &body,
        now(),
        "/webhooks/notion",
    );
    let (status, _) = post(String::from_utf8(body).expect("utf8"), forged).await;
    assert_eq!(status, 401);
    assert_eq!(events().await, 1);

    // A stranger's verification body cannot replace the stored token (the URL is public) …
    let (status, body) = post(
        r#"{"verification_token":"secret_strangers_token"}"#.into(),
        vec![],
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(cli(&["webhooks", "notion-token"]).await, TOKEN);
    // … until an operator resets it (a subscription made again): the next one is kept.
    cli(&["webhooks", "notion-token", "--reset"]).await;
    assert_eq!(stored_rows(&db).await, 0);
    let (status, body) = post(
        r#"{"verification_token":"secret_the_new_subscription"}"#.into(),
        vec![],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        cli(&["webhooks", "notion-token"]).await,
        "secret_the_new_subscription"
    );

    // Logged at INFO, without the token.
    daemon.signal(libc::SIGTERM);
    daemon.wait(Duration::from_secs(30)).await.expect("exit");
    let log = daemon.stderr_log().await;
    assert!(log.contains("verification token received"), "{log}");
    assert!(!log.contains(TOKEN), "the token reached the log");
    db.drop_db().await;
}

#[tokio::test]
async fn configured_notion_secret_wins_over_the_stored_token() {
    let env = env().await;
    env.connected(env.ws, Platform::Notion, "ws-1").await;
    let r = env
        .post(
            "/webhooks/notion",
            "application/json",
            &[],
            verification_body().as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(stored_rows(&env.db).await, 1);
    let body = event_for_account(Platform::Notion, 1, "ws-1");
    let with_token = sign(Platform::Notion, TOKEN, &body, now(), "/webhooks/notion");
    let r = env
        .post("/webhooks/notion", "application/json", &with_token, &body)
        .await;
    assert_eq!(
        r.status, 401,
        "the configured signing secret wins: {}",
        r.body
    );
    let secret = app_secret_of(Platform::Notion);
    let with_secret = sign(Platform::Notion, &secret, &body, now(), "/webhooks/notion");
    let r = env
        .post("/webhooks/notion", "application/json", &with_secret, &body)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    env.finish().await;
}

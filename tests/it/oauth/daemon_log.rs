//! The daemon binary at debug log level: a connect through it leaves no token in its log.

use std::time::Duration;

use mcp_daemon::integrations;
use mcp_daemon::vault::Vault;
use mcp_platforms::connectors::Credentials;
use mcp_sandbox as sandbox;
use serde_json::Value;
use uuid::Uuid;

use super::{read, REDIRECT_BASE, TOKEN};
use crate::common::TestDb;

/// A vault over a key file, as the daemon reads it.
pub fn file_vault(path: &std::path::Path) -> Vault {
    Vault::from_config(&mcp_daemon::vault::VaultConfig {
        key_files: vec![path.to_path_buf()],
        ..Default::default()
    })
    .expect("vault")
}

#[tokio::test]
async fn the_daemon_never_logs_the_access_token_even_at_debug() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tmp");
    let key_file = dir.path().join("k1.key");
    mcp_daemon::vault::Vault::write_new_key_file(&key_file).expect("key");
    let cfg = dir.path().join("daemon.toml");
    std::fs::write(
        &cfg,
        format!(
            "[vault]\nkey_files = [{:?}]\n\n[http]\napi_token = {TOKEN:?}\n\n[oauth]\nredirect_base = {REDIRECT_BASE:?}\n\n{}",
            key_file.display().to_string(),
            sandbox::overrides_toml(&sb)
        ),
    )
    .expect("config");
    let mut daemon = mcp_testkit::Launcher::new(crate::common::bin(), &db.url)
        .args(&["--config", &cfg.display().to_string()])
        .envs(&[
            ("MCP_WORKER__LOG__LEVEL", "debug"),
            ("MCP_WORKER__LOG__FORMAT", "text"),
            ("MCP_WORKER__WORKER__POLL_INTERVAL", "100ms"),
        ])
        .capture_stderr()
        .start()
        .await
        .expect("start the daemon");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    let base = daemon.admin_base();
    let bearer = format!("Bearer {TOKEN}");
    // The gateway binds the connect to its user's session and adds the same value to the
    // callback it forwards.
    const SESSION: &str = "gateway-session-0123456789";
    let (_, to_platform, _) = read(
        client
            .get(format!(
                "{base}/integrations/connect/gmail?workspace_id={ws}&binding={SESSION}"
            ))
            .header("authorization", &bearer)
            .send()
            .await
            .expect("connect"),
    )
    .await;
    let (_, back, _) = read(client.get(&to_platform).send().await.expect("authorize")).await;
    let path = back
        .strip_prefix(REDIRECT_BASE)
        .expect("redirect base")
        .to_string();
    let (status, _, body) = read(
        client
            .get(format!("{base}{path}&binding={SESSION}"))
            .header("authorization", &bearer)
            .send()
            .await
            .expect("callback"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id: Uuid = serde_json::from_str::<Value>(&body).expect("json")["integration_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    // The first health check (which sends the token to the platform) runs in the daemon too.
    db.wait_until(
        &format!("SELECT EXISTS (SELECT 1 FROM mcp.health_checks WHERE integration_id = '{id}')"),
        Duration::from_secs(20),
    )
    .await;
    let access = match integrations::credentials(&db.pool, &file_vault(&key_file), id).await {
        Ok(Credentials::Bearer(s)) => s.expose().to_string(),
        other => panic!("no token: {other:?}"),
    };
    daemon.signal(libc::SIGTERM);
    daemon.wait(Duration::from_secs(20)).await.expect("exit");
    let log = daemon.stderr_log().await;
    assert!(
        log.contains("DEBUG"),
        "debug logging was not on: {}",
        &log[..log.len().min(2000)]
    );
    assert!(log.contains("connected"), "the connect was not logged");
    assert!(access.len() > 10);
    assert!(
        !log.contains(&access),
        "the access token appears in the daemon's log"
    );
    assert!(
        !log.contains(TOKEN),
        "the API token appears in the daemon's log"
    );
    db.drop_db().await;
}

async fn check_config(env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = tokio::process::Command::new(crate::common::bin());
    cmd.arg("check-config")
        .env_remove("MCP_WORKER_CONFIG")
        .env_remove("DATABASE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("check-config");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn check_config_redacts_the_api_token_and_names_bad_oauth_keys() {
    let (code, out, err) = check_config(&[
        ("MCP_WORKER__HTTP__API_TOKEN", TOKEN),
        ("MCP_WORKER__OAUTH__REDIRECT_BASE", REDIRECT_BASE),
        ("MCP_WORKER__OAUTH__STATE_TTL", "5m"),
    ])
    .await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("api_token = \"[redacted]\""), "{out}");
    assert!(
        out.contains(REDIRECT_BASE) && out.contains("state_ttl = \"5m\""),
        "{out}"
    );
    assert!(!out.contains(TOKEN) && !err.contains(TOKEN));
    for (env, key) in [
        (
            vec![("MCP_WORKER__HTTP__API_TOKEN", TOKEN)],
            "oauth.redirect_base",
        ),
        (
            vec![("MCP_WORKER__OAUTH__REDIRECT_BASE", "ftp://gateway/x")],
            "oauth.redirect_base",
        ),
        (
            vec![("MCP_WORKER__OAUTH__STATE_TTL", "0s")],
            "oauth.state_ttl",
        ),
    ] {
        let (code, _, err) = check_config(&env).await;
        assert_eq!(code, Some(2), "{env:?}");
        assert!(err.contains(key), "{env:?}: {err}");
        assert!(!err.contains(TOKEN));
    }
}

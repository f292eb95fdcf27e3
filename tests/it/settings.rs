//! Settings that cannot work are refused when they are made, not when they are used.

use mcp_testkit::TestDb;

/// Settings that cannot work are refused when made: a notification endpoint on a loopback or
/// private address while `[notify] allow_private` is off (every delivery to it would be
/// refused), a webhook registration while `webhooks.public_base` is empty (the URL printed for
/// the platform would be a loopback one) or for an app-level platform (whose app URL serves
/// every integration). Nothing is written.
#[tokio::test]
async fn settings_that_cannot_work_are_refused_when_made() {
    let db = TestDb::new().await;
    let ws = mcp_daemon::integrations::create_workspace(&db.pool, "refused")
        .await
        .expect("ws");
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, 'fireflies') RETURNING id",
    )
    .bind(ws)
    .fetch_one(&db.pool)
    .await
    .expect("integration");
    let dir = tempfile::tempdir().expect("tmp");
    let key_file = dir.path().join("k1.key");
    mcp_daemon::vault::Vault::write_new_key_file(&key_file).expect("key");
    let keys = format!("[{:?}]", key_file.display().to_string());
    let cli = |args: Vec<String>, env: Vec<(&'static str, &'static str)>| {
        let keys = keys.clone();
        let url = db.url.clone();
        async move {
            let out = tokio::process::Command::new(crate::common::bin())
                .args(&args)
                .env("DATABASE_URL", url)
                .env_remove("MCP_WORKER_CONFIG")
                .env("MCP_WORKER__VAULT__KEY_FILES", keys)
                .envs(env)
                .output()
                .await
                .expect("run");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://localhost:8080/h",
    ] {
        let (ok, err) = cli(vec!["notify".into(), "add".into(), url.into()], vec![]).await;
        assert!(!ok && err.contains("allow_private"), "{url}: {err}");
    }
    let (ok, err) = cli(
        vec![
            "notify".into(),
            "add".into(),
            "http://127.0.0.1:9/hook".into(),
        ],
        vec![("MCP_WORKER__NOTIFY__ALLOW_PRIVATE", "true")],
    )
    .await;
    assert!(ok, "allowed on purpose: {err}");
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.notification_endpoints")
            .await,
        1
    );
    let (ok, err) = cli(
        vec![
            "webhooks".into(),
            "register".into(),
            "--integration".into(),
            id.to_string(),
            "--secret-stdin".into(),
        ],
        vec![],
    )
    .await;
    assert!(
        !ok && err.contains("webhooks.public_base is not set"),
        "{err}"
    );
    assert_eq!(db.scalar_i64("SELECT count(*) FROM mcp.webhooks").await, 0);
    // A platform that delivers every customer's events to its app-level URL: refused, the
    // sentence names that URL and what to configure; allowed for an app of its own.
    let slack: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, 'slack') RETURNING id",
    )
    .bind(ws)
    .fetch_one(&db.pool)
    .await
    .expect("integration");
    let secret_file = dir.path().join("slack.secret");
    std::fs::write(&secret_file, "slack-own-app-secret\n").expect("secret");
    let register = |extra: &[&str]| {
        let mut args: Vec<String> = [
            "webhooks",
            "register",
            "--integration",
            &slack.to_string(),
            "--secret-file",
            &secret_file.display().to_string(),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };
    let public = (
        "MCP_WORKER__WEBHOOKS__PUBLIC_BASE",
        "https://hooks.example.test",
    );
    let (ok, err) = cli(register(&[]), vec![public]).await;
    assert!(
        !ok && err.contains("app-level URL https://hooks.example.test/webhooks/slack")
            && err.contains("[platforms.slack] signing_secret")
            && err.contains("--own-app"),
        "{err}"
    );
    assert_eq!(db.scalar_i64("SELECT count(*) FROM mcp.webhooks").await, 0);
    let (ok, err) = cli(register(&["--own-app"]), vec![public]).await;
    assert!(ok, "{err}");
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.webhooks WHERE delivery = 'endpoint'")
            .await,
        1
    );
    db.drop_db().await;
}

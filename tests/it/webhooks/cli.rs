//! `mcp-worker webhooks register|list|remove` through the real binary, and the app secrets read
//! from systemd credentials.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::common::{bin, TestDb};

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn run(db: &TestDb, key_file: &str, args: &[&str], stdin: Option<&str>) -> Out {
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args(args)
        .env_remove("MCP_WORKER_CONFIG")
        .env("DATABASE_URL", &db.url)
        .env("MCP_WORKER__VAULT__KEY_FILES", format!("[{key_file:?}]"))
        .env(
            "MCP_WORKER__WEBHOOKS__PUBLIC_BASE",
            "https://hooks.example.test/mcp",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(mut pipe) = child.stdin.take() {
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).await.expect("stdin");
        }
    }
    let out = child.wait_with_output().await.expect("run");
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The command line on one test database with one key file.
#[derive(Clone, Copy)]
struct Cli<'a> {
    db: &'a TestDb,
    key_file: &'a str,
}

impl Cli<'_> {
    /// `webhooks <args>`, with `stdin` written to its input.
    async fn webhooks(self, args: &[String], stdin: Option<&str>) -> Out {
        let mut all = vec!["webhooks"];
        all.extend(args.iter().map(String::as_str));
        run(self.db, self.key_file, &all, stdin).await
    }
}

#[tokio::test]
async fn register_list_and_remove_from_the_command_line() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().expect("tmp");
    let key_file = dir.path().join("k1.key");
    mcp_daemon::vault::Vault::write_new_key_file(&key_file).expect("key");
    let key_file = key_file.display().to_string();
    let ws = mcp_daemon::integrations::create_workspace(&db.pool, "cli")
        .await
        .expect("ws");
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, 'fireflies') RETURNING id",
    )
    .bind(ws)
    .fetch_one(&db.pool)
    .await
    .expect("integration");
    let integration = id.to_string();
    let secret = "fireflies-webhook-secret-4242";
    let cli = Cli {
        db: &db,
        key_file: &key_file,
    };
    let register = |extra: &'static str, value: Option<String>, stdin: Option<String>| {
        let mut args = vec![
            "register".to_string(),
            "--integration".into(),
            integration.clone(),
        ];
        args.extend((!extra.is_empty()).then(|| extra.to_string()));
        args.extend(value);
        async move { cli.webhooks(&args, stdin.as_deref()).await }
    };

    // No secret for a platform that signs with one: refused, nothing written.
    let o = register("", None, None).await;
    assert!(!o.ok && o.stderr.contains("shared secret"), "{}", o.stderr);
    // The secret is not an argument at all.
    let o = register("--secret", Some(secret.into()), None).await;
    assert!(!o.ok, "a secret on the command line must be refused");
    assert_eq!(db.scalar_i64("SELECT count(*) FROM mcp.webhooks").await, 0);

    let o = register("--secret-stdin", None, Some(format!("{secret}\n"))).await;
    assert!(o.ok, "{}", o.stderr);
    assert!(!o.stdout.contains(secret) && !o.stderr.contains(secret));
    let hook: Uuid = sqlx::query_scalar("SELECT id FROM mcp.webhooks")
        .fetch_one(&db.pool)
        .await
        .expect("row");
    assert!(
        o.stdout.contains(&format!(
            "https://hooks.example.test/mcp/webhooks/fireflies/{hook}"
        )),
        "{}",
        o.stdout
    );
    // Sealed with the daemon's key: it opens to the secret given.
    let vault = mcp_daemon::vault::Vault::from_config(&mcp_daemon::vault::VaultConfig {
        key_files: vec![key_file.clone().into()],
        ..Default::default()
    })
    .expect("vault");
    let row = mcp_daemon::webhooks::lookup(
        &db.pool,
        hook,
        mcp_platforms::connectors::Platform::Fireflies,
    )
    .await
    .expect("lookup")
    .expect("row");
    let opened = row.secret(&vault).expect("open").expect("a secret");
    assert_eq!(opened.expose(), secret);

    // From a file too.
    let file = dir.path().join("second.secret");
    std::fs::write(&file, "another-secret-77\n").expect("write");
    let o = register("--secret-file", Some(file.display().to_string()), None).await;
    assert!(o.ok, "{}", o.stderr);

    let list = ["list", "--integration", integration.as_str(), "--json"].map(String::from);
    let o = cli.webhooks(&list, None).await;
    assert!(o.ok, "{}", o.stderr);
    let rows: Vec<serde_json::Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(rows.len(), 2, "{}", o.stdout);
    assert!(rows
        .iter()
        .all(|r| r["has_secret"] == true && r["status"] == "active"));
    assert!(!o.stdout.contains(secret));

    let remove = ["remove".to_string(), hook.to_string()];
    let o = cli.webhooks(&remove, None).await;
    assert!(o.ok, "{}", o.stderr);
    let o = cli.webhooks(&remove, None).await;
    assert!(
        !o.ok && o.stderr.contains("no active webhook"),
        "{}",
        o.stderr
    );
    let (status, sealed): (String, bool) =
        sqlx::query_as("SELECT status, secret_ct IS NOT NULL FROM mcp.webhooks WHERE id = $1")
            .bind(hook)
            .fetch_one(&db.pool)
            .await
            .expect("row");
    assert_eq!((status.as_str(), sealed), ("disabled", false));
    db.drop_db().await;
}

#[tokio::test]
async fn app_secrets_come_from_systemd_credentials() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("signing-secret-slack"),
        "slack-cred-secret-31\n",
    )
    .expect("write");
    for (file, secret) in [
        ("bot-token-discord", "discord-bot-token-77\n"),
        ("client-secret-zoom", "zoom-client-secret-88\n"),
        ("api-token", "gateway-api-token-0123456789\n"),
    ] {
        std::fs::write(dir.path().join(file), secret).expect("write");
    }
    let check = |env: Vec<(&'static str, String)>| {
        let dir = dir.path().to_path_buf();
        async move {
            let mut cmd = tokio::process::Command::new(bin());
            cmd.arg("check-config")
                .env_remove("MCP_WORKER_CONFIG")
                .env_remove("MCP_WORKER__PLATFORMS__SLACK__SIGNING_SECRET")
                .env("CREDENTIALS_DIRECTORY", dir);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let out = cmd.output().await.expect("run");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        }
    };
    // (The API token, now set, wants the OAuth redirect base.)
    let (ok, out) = check(vec![(
        "MCP_WORKER__OAUTH__REDIRECT_BASE",
        "https://gateway.example.test/mcp".into(),
    )])
    .await;
    assert!(ok, "{out}");
    let slack = out.split("[platforms.slack]").nth(1).unwrap_or("");
    assert!(slack.contains("signing_secret = \"[redacted]\""), "{out}");
    assert!(!out.contains("slack-cred-secret-31"));
    let discord = out.split("[platforms.discord]").nth(1).unwrap_or("");
    assert!(discord.contains("bot_token = \"[redacted]\""), "{out}");
    assert!(!out.contains("discord-bot-token-77"));
    let zoom = out.split("[platforms.zoom]").nth(1).unwrap_or("");
    assert!(zoom.contains("client_secret = \"[redacted]\""), "{out}");
    let http = out.split("[http]").nth(1).unwrap_or("");
    assert!(http.contains("api_token = \"[redacted]\""), "{out}");
    for secret in ["zoom-client-secret-88", "gateway-api-token-0123456789"] {
        assert!(!out.contains(secret), "{secret} printed");
    }
    // An empty secret is a config error naming the key.
    let mut cmd = tokio::process::Command::new(bin());
    let out = cmd
        .arg("check-config")
        .env_remove("MCP_WORKER_CONFIG")
        .env("MCP_WORKER__PLATFORMS__ZOOM__SIGNING_SECRET", "")
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("platforms.zoom.signing_secret"));
}

//! Envelope encryption end to end with the real daemon binary: data keys made once across three
//! daemons, every secret re-encrypted under them in the background, a rotation when the newest
//! is too old, the old data key retired, and a daemon killed mid-rotation losing nothing.

use std::time::Duration;

use mcp_platforms::connectors::Credentials;
use mcp_platforms::secret::Secret;
use uuid::Uuid;

use crate::common::{test_vault, Daemon, TestDb};

/// Tokens sealed the way they were before data keys: directly with the operator key.
async fn seed(db: &TestDb, n: usize) -> Vec<Uuid> {
    let vault = test_vault();
    let ws = mcp_daemon::integrations::create_workspace(&db.pool, "keys")
        .await
        .expect("ws");
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let creds = Credentials::Bearer(Secret::new(format!("access-token-{i}")));
        let id = mcp_daemon::integrations::create_active(
            &db.pool,
            &vault,
            ws,
            mcp_platforms::connectors::Platform::Gmail,
            &creds,
        )
        .await
        .expect("seed");
        ids.push(id);
    }
    ids
}

/// The operator key of `test_vault`, as a key file the daemons load.
pub(crate) fn key_file(dir: &std::path::Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("test-key.key");
    std::fs::write(&path, hex::encode([7u8; 32])).expect("key file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path.display().to_string()
}

pub(crate) fn env(key: &str, batch: &str) -> Vec<(String, String)> {
    vec![
        ("MCP_WORKER__VAULT__KEY_FILES".into(), format!("[{key:?}]")),
        ("MCP_WORKER__VAULT__DATA_KEY_GRACE".into(), "1s".into()),
        ("MCP_WORKER__VAULT__UPKEEP_INTERVAL".into(), "200ms".into()),
        ("MCP_WORKER__VAULT__BATCH".into(), batch.into()),
        ("MCP_WORKER__SCHEDULER__ENABLED".into(), "false".into()),
    ]
}

pub(crate) async fn start(db: &TestDb, env: &[(String, String)]) -> Daemon {
    start_on(&mcp_testkit::pooler::Route::direct(db), env).await
}

/// A daemon with `env` on `route`.
async fn start_on(route: &mcp_testkit::pooler::Route, env: &[(String, String)]) -> Daemon {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Daemon::start(&route.url, &route.with(&pairs)).await
}

/// Key ids of the stored tokens: (under a data key, under anything else).
async fn split(db: &TestDb) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE key_id LIKE 'dk-%'), count(*) FILTER (WHERE key_id NOT LIKE 'dk-%') \
         FROM mcp.oauth_tokens",
    )
    .fetch_one(&db.pool)
    .await
    .expect("split")
}

pub(crate) async fn stop(d: Daemon) {
    d.signal(libc::SIGTERM);
    let _ = d.wait(Duration::from_secs(20)).await;
}

/// True when every stored token is under a data key.
const ALL_UNDER_DATA_KEYS: &str =
    "SELECT count(*) > 0 AND count(*) FILTER (WHERE key_id NOT LIKE 'dk-%') = 0 \
     FROM mcp.oauth_tokens";

/// Every token opens with a vault that has the operator key and the data keys of the database.
async fn all_readable(db: &TestDb, ids: &[Uuid]) {
    let vault = test_vault();
    mcp_daemon::keys::load_data_keys(&db.pool, &vault)
        .await
        .expect("data keys");
    for id in ids {
        match mcp_daemon::integrations::credentials(&db.pool, &vault, *id).await {
            Ok(Credentials::Bearer(t)) => assert!(t.expose().starts_with("access-token-")),
            other => panic!("{id}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn three_daemons_make_each_data_key_once_and_retire_the_old_one() {
    let db = TestDb::new().await;
    three_daemons_rotate_once(&db, &mcp_testkit::pooler::Route::direct(&db)).await;
    db.drop_db().await;
}

/// Three daemons on `route` make each data key once, move every token under it, and retire
/// the old one.
pub(crate) async fn three_daemons_rotate_once(db: &TestDb, route: &mcp_testkit::pooler::Route) {
    let ids = seed(db, 300).await;
    let dir = tempfile::tempdir().expect("tmp");
    let env = env(&key_file(dir.path()), "50");
    let mut daemons = Vec::new();
    for _ in 0..3 {
        daemons.push(start_on(route, &env).await);
    }
    // Today's layout migrates in place: one data key, every token moved under it.
    db.wait_until(ALL_UNDER_DATA_KEYS, Duration::from_secs(30))
        .await;
    let made = "SELECT count(*) FROM ops.events WHERE event_type = 'vault.data_key_created'";
    assert_eq!(
        db.scalar_i64(made).await,
        1,
        "one data key across three daemons"
    );
    let first: String = sqlx::query_scalar("SELECT id FROM mcp.vault_data_keys")
        .fetch_one(&db.pool)
        .await
        .expect("first");
    all_readable(db, &ids).await;

    // The data key is now older than rotate_after: the next one is made once, every token
    // moves under it, and the old one goes.
    sqlx::query("UPDATE mcp.vault_data_keys SET created_at = now() - interval '100 days'")
        .execute(&db.pool)
        .await
        .expect("age");
    db.wait_until(
        &format!("SELECT count(*) = 1 AND bool_and(id <> '{first}') FROM mcp.vault_data_keys"),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(db.scalar_i64(made).await, 2, "the rotation happened once");
    let under_old = db
        .scalar_i64(&format!(
            "SELECT count(*) FROM mcp.oauth_tokens WHERE key_id = '{first}'"
        ))
        .await;
    assert_eq!(under_old, 0);
    all_readable(db, &ids).await;
    for d in daemons {
        stop(d).await;
    }
}

#[tokio::test]
async fn a_daemon_killed_mid_rotation_loses_nothing() {
    let db = TestDb::new().await;
    let ids = seed(&db, 1500).await;
    let dir = tempfile::tempdir().expect("tmp");
    let env = env(&key_file(dir.path()), "10");
    let d = start(&db, &env).await;
    db.wait_until(
        "SELECT count(*) >= 50 FROM mcp.oauth_tokens WHERE key_id LIKE 'dk-%'",
        Duration::from_secs(30),
    )
    .await;
    d.signal(libc::SIGKILL);
    let _ = d.wait(Duration::from_secs(10)).await;
    let (moved, left) = split(&db).await;
    assert!(left > 0, "killed before the end ({moved} moved)");
    all_readable(&db, &ids).await;
    // Another daemon finishes the job.
    let d = start(&db, &env).await;
    db.wait_until(ALL_UNDER_DATA_KEYS, Duration::from_secs(60))
        .await;
    all_readable(&db, &ids).await;
    stop(d).await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_new_operator_key_rewraps_only_the_data_keys() {
    let db = TestDb::new().await;
    let ids = seed(&db, 20).await;
    let dir = tempfile::tempdir().expect("tmp");
    let old = key_file(dir.path());
    let env1 = env(&old, "50");
    let d = start(&db, &env1).await;
    db.wait_until(ALL_UNDER_DATA_KEYS, Duration::from_secs(30))
        .await;
    stop(d).await;
    let before: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT key_id, access_token_ct FROM mcp.oauth_tokens ORDER BY integration_id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("tokens");
    // A second operator key, newer: `keys rotate` wraps the data key under it and leaves every
    // secret as it was.
    let new = dir.path().join("test-key2.key");
    mcp_daemon::vault::Vault::write_new_key_file(&new).expect("key");
    let out = tokio::process::Command::new(crate::common::bin())
        .args(["keys", "rotate"])
        .env_remove("MCP_WORKER_CONFIG")
        .env("DATABASE_URL", &db.url)
        .env(
            "MCP_WORKER__VAULT__KEY_FILES",
            format!("[{old:?}, {:?}]", new.display().to_string()),
        )
        .output()
        .await
        .expect("keys rotate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wrapped_by: Vec<String> = sqlx::query_scalar("SELECT wrapped_by FROM mcp.vault_data_keys")
        .fetch_all(&db.pool)
        .await
        .expect("data keys");
    assert_eq!(wrapped_by, ["test-key2"]);
    let after: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT key_id, access_token_ct FROM mcp.oauth_tokens ORDER BY integration_id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("tokens");
    assert_eq!(before, after, "no secret re-encrypted");
    // The old operator key can go: the new one alone opens everything.
    let vault = mcp_daemon::vault::Vault::from_config(&mcp_daemon::vault::VaultConfig {
        key_files: vec![new.clone()],
        ..Default::default()
    })
    .expect("vault");
    mcp_daemon::keys::load_data_keys(&db.pool, &vault)
        .await
        .expect("load");
    for id in &ids {
        assert!(mcp_daemon::integrations::credentials(&db.pool, &vault, *id)
            .await
            .is_ok());
    }
    db.drop_db().await;
}

/// A daemon without a vault key says so once at start; its key upkeep, with nothing to do,
/// does not log a warning every round (a fresh `scripts/run` used to, every 30 s).
#[tokio::test]
async fn without_a_vault_key_the_upkeep_stays_quiet() {
    let db = TestDb::new().await;
    let mut d = mcp_testkit::Launcher::new(crate::common::bin(), &db.url)
        .quick()
        .env("MCP_WORKER__VAULT__UPKEEP_INTERVAL", "100ms")
        .capture_stderr()
        .start()
        .await
        .expect("start");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    d.signal(libc::SIGTERM);
    d.wait(Duration::from_secs(30)).await.expect("exit");
    let log = d.stderr_log().await;
    assert_eq!(
        log.matches("no vault key configured").count(),
        1,
        "said once at start: {log}"
    );
    assert!(!log.contains("vault key upkeep failed"), "{log}");
    db.drop_db().await;
}

//! Rotation to a newer data key, the one step that deletes key material, under the worst
//! conditions: every kind of sealed secret stored (tokens, webhook secrets, notification
//! secrets with a previous one, connect states' PKCE verifiers), the rotating daemon killed halfway, and new secrets of each
//! kind written all the while. At the end the old data key is gone and every secret, old and
//! new, opens in full.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mcp_platforms::connectors::{Credentials, Platform};
use mcp_platforms::secret::Secret;
use uuid::Uuid;

use crate::common::{test_vault, TestDb};

/// What was sealed, to open again: tokens, webhooks, endpoints and connect states (their PKCE
/// verifiers, by state hash) with their plaintexts.
#[derive(Default)]
struct Sealed {
    tokens: Vec<(Uuid, String)>,
    webhooks: Vec<(Uuid, String)>,
    endpoints: Vec<(Uuid, Vec<String>)>,
    states: Vec<(String, String)>,
}

/// One of each kind, sealed with `vault` as it is now.
async fn write_one(
    db: &mcp_queue::pg::Db,
    vault: &mcp_daemon::vault::Vault,
    ws: Uuid,
    n: usize,
    out: &mut Sealed,
) {
    let token = format!("access-token-{n}");
    let id = mcp_daemon::integrations::create_active(
        db,
        vault,
        ws,
        Platform::Fireflies,
        &Credentials::ApiKey(Secret::new(token.clone())),
    )
    .await
    .expect("token");
    out.tokens.push((id, token));
    let secret = format!("webhook-secret-{n}");
    let hook = mcp_daemon::webhooks::register(
        db,
        vault,
        id,
        Platform::Fireflies,
        Some(&Secret::new(secret.clone())),
        None,
    )
    .await
    .expect("webhook");
    out.webhooks.push((hook, secret));
    let (e, first) = mcp_daemon::notify::endpoints::add(
        db,
        vault,
        &format!("https://hooks.example.test/{n}"),
        None,
        &[],
    )
    .await
    .expect("endpoint");
    let second = mcp_daemon::notify::endpoints::rotate_secret(db, vault, &Default::default(), e.id)
        .await
        .expect("rotate secret");
    out.endpoints.push((
        e.id,
        vec![second.expose().to_string(), first.expose().to_string()],
    ));
    // A connect under way: its PKCE verifier sealed as the OAuth flow seals it.
    let record = format!("{:064x}", n);
    let verifier = format!("pkce-verifier-{n}");
    let (key_id, ct) = vault
        .seal(
            &verifier,
            mcp_daemon::vault::Binding {
                record: &record,
                field: mcp_daemon::connections::PKCE_FIELD,
            },
        )
        .expect("seal verifier");
    sqlx::query(
        "INSERT INTO mcp.oauth_states (state_hash, integration_id, workspace_id, platform, \
                                       redirect_uri, pkce_verifier_ct, key_id, expires_at) \
         VALUES (decode($1, 'hex'), $2, $3, 'gmail', 'https://x.test/cb', $4, $5, \
                 now() + interval '1 hour')",
    )
    .bind(&record)
    .bind(id)
    .bind(ws)
    .bind(ct)
    .bind(key_id)
    .execute(db)
    .await
    .expect("connect state");
    out.states.push((record, verifier));
}

/// Opens every secret in `sealed` in full with the database's keys.
async fn open_all(db: &TestDb, sealed: &Sealed) {
    let vault = test_vault();
    mcp_daemon::keys::load_data_keys(&db.pool, &vault)
        .await
        .expect("data keys");
    for (id, want) in &sealed.tokens {
        match mcp_daemon::integrations::credentials(&db.pool, &vault, *id).await {
            Ok(Credentials::ApiKey(t)) => assert_eq!(t.expose(), want),
            other => panic!("token of {id}: {other:?}"),
        }
    }
    for (id, want) in &sealed.webhooks {
        let row = mcp_daemon::webhooks::lookup(&db.pool, *id, Platform::Fireflies)
            .await
            .expect("lookup")
            .expect("webhook row");
        let got = row.secret(&vault).expect("opens").expect("has a secret");
        assert_eq!(got.expose(), want);
    }
    for (id, want) in &sealed.endpoints {
        let (_, _, got) = mcp_daemon::notify::endpoints::secrets(&db.pool, &vault, *id)
            .await
            .expect("opens")
            .expect("endpoint");
        let got: Vec<String> = got.iter().map(|s| s.expose().to_string()).collect();
        assert_eq!(&got, want, "endpoint {id}: its secret and the previous one");
    }
    open_states(db, &vault, &sealed.states).await;
}

async fn open_states(db: &TestDb, vault: &mcp_daemon::vault::Vault, states: &[(String, String)]) {
    for (record, want) in states {
        let (key_id, ct): (String, Vec<u8>) = sqlx::query_as(
            "SELECT key_id, pkce_verifier_ct FROM mcp.oauth_states WHERE state_hash = decode($1, 'hex')",
        )
        .bind(record)
        .fetch_one(&db.pool)
        .await
        .expect("state");
        let got = vault
            .open(
                &key_id,
                &ct,
                mcp_daemon::vault::Binding {
                    record,
                    field: mcp_daemon::connections::PKCE_FIELD,
                },
            )
            .expect("verifier opens");
        assert_eq!(got.expose(), want);
    }
}

/// Rows of every sealed kind not under `key`.
fn not_under(key: &str) -> String {
    format!(
        "SELECT (SELECT count(*) FROM mcp.oauth_tokens WHERE key_id <> '{key}') \
              + (SELECT count(*) FROM mcp.webhooks WHERE secret_ct IS NOT NULL AND key_id <> '{key}') \
              + (SELECT count(*) FROM mcp.notification_endpoints \
                 WHERE key_id <> '{key}' OR previous_key_id <> '{key}') \
              + (SELECT count(*) FROM mcp.oauth_states WHERE key_id <> '{key}')"
    )
}

#[tokio::test]
async fn rotating_to_a_newer_data_key_killed_midway_while_secrets_are_written_loses_none() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().expect("tmp");
    let key = crate::vault_keys::key_file(dir.path());
    let env = crate::vault_keys::env(&key, "10");
    let ws = mcp_daemon::integrations::create_workspace(&db.pool, "rotation")
        .await
        .expect("ws");
    // Every kind sealed under the operator key, as before data keys.
    let mut sealed = Sealed::default();
    let vault = test_vault();
    for n in 0..80 {
        write_one(&db.pool, &vault, ws, n, &mut sealed).await;
    }
    let first = crate::vault_keys::start(&db, &env).await;
    db.wait_until(
        "SELECT count(*) = 1 FROM mcp.vault_data_keys",
        Duration::from_secs(30),
    )
    .await;
    let old: String = sqlx::query_scalar("SELECT id FROM mcp.vault_data_keys")
        .fetch_one(&db.pool)
        .await
        .expect("first data key");
    db.wait_until(
        &format!("SELECT ({}) = 0", not_under(&old)),
        Duration::from_secs(60),
    )
    .await;

    // New secrets keep coming, sealed as a daemon seals: with the keys reloaded before each.
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let pool = db.pool.clone();
        let writing = writing.clone();
        tokio::spawn(async move {
            let vault = test_vault();
            let mut out = Sealed::default();
            let mut n = 1000;
            while writing.load(Ordering::Relaxed) {
                mcp_daemon::keys::load_data_keys(&pool, &vault)
                    .await
                    .expect("reload");
                write_one(&pool, &vault, ws, n, &mut out).await;
                n += 1;
            }
            out
        })
    };
    // The data key is due for rotation: a newer one is made and secrets move under it, until
    // the daemon is killed halfway.
    sqlx::query("UPDATE mcp.vault_data_keys SET created_at = now() - interval '100 days'")
        .execute(&db.pool)
        .await
        .expect("age");
    db.wait_until(
        &format!(
            "SELECT count(*) >= 30 FROM mcp.oauth_tokens WHERE key_id NOT IN ('{old}') \
             AND key_id LIKE 'dk-%'"
        ),
        Duration::from_secs(60),
    )
    .await;
    first.signal(libc::SIGKILL);
    let _ = first.wait(Duration::from_secs(10)).await;
    let remaining = db.scalar_i64(&not_under("none")).await;
    assert!(remaining > 0);
    let left_on_old = db
        .scalar_i64(&format!(
            "SELECT count(*) FROM mcp.oauth_tokens WHERE key_id = '{old}'"
        ))
        .await;
    assert!(left_on_old > 0, "killed before the rotation ended");

    // Another daemon finishes it while the writes go on, then the writes stop.
    let second = crate::vault_keys::start(&db, &env).await;
    db.wait_until(
        &format!("SELECT count(*) < {left_on_old} FROM mcp.oauth_tokens WHERE key_id = '{old}'"),
        Duration::from_secs(60),
    )
    .await;
    writing.store(false, Ordering::Relaxed);
    let written = writer.await.expect("writer");
    assert!(
        written.tokens.len() > 5,
        "secrets were written during the rotation"
    );
    db.wait_until(
        &format!("SELECT count(*) = 1 AND bool_and(id <> '{old}') FROM mcp.vault_data_keys"),
        Duration::from_secs(60),
    )
    .await;
    let newest: String = sqlx::query_scalar("SELECT id FROM mcp.vault_data_keys")
        .fetch_one(&db.pool)
        .await
        .expect("newest");
    assert_eq!(
        db.scalar_i64(&not_under(&newest)).await,
        0,
        "every secret under the newest key"
    );
    open_all(&db, &sealed).await;
    open_all(&db, &written).await;
    crate::vault_keys::stop(second).await;
    db.drop_db().await;
}

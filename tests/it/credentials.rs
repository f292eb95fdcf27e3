//! Credentials over time: token refresh (rotation, lost store, refusal, two daemons at once), the
//! hourly sweep, and key rotation stopped halfway.

use std::time::Duration;

use mcp_daemon::config::Config;
use mcp_daemon::credentials::{self, RefreshOutcome};
use mcp_daemon::integrations;
use mcp_daemon::vault::Vault;
use mcp_platforms::connectors::{Connectors, Credentials, Platform};
use mcp_sandbox::{self as sandbox, Sandbox};
use uuid::Uuid;

use crate::common::{start_configured_worker, test_config, test_vault, TestDb};

fn config(db: &TestDb, sb: &Sandbox) -> Config {
    let mut c = test_config(&db.url);
    c.platforms = sb.config_overrides();
    c.http_client.timeout = Duration::from_millis(800);
    c
}

/// A test database, the sandbox, the connectors aimed at it and the test vault.
async fn setup() -> (TestDb, Sandbox, Connectors, Vault) {
    let (db, sb, cfg, vault) = setup_with_config().await;
    let connectors = cfg.connectors().expect("connectors");
    (db, sb, connectors, vault)
}

/// A test database, the sandbox, a worker config aimed at it and the test vault.
async fn setup_with_config() -> (TestDb, Sandbox, Config, Vault) {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let cfg = config(&db, &sb);
    (db, sb, cfg, test_vault())
}

/// One refresh of the integration's tokens, waiting at most `secs` for its lock.
async fn refresh_now(
    db: &TestDb,
    vault: &Vault,
    connectors: &Connectors,
    id: Uuid,
    secs: u64,
) -> RefreshOutcome {
    credentials::refresh_token(&db.pool, vault, connectors, id, Duration::from_secs(secs))
        .await
        .expect("refresh")
}

/// An ACTIVE OAuth integration with tokens minted by the sandbox, expiring in `expires_in_s`.
use mcp_testkit::integrations::with_tokens as seed;

async fn tokens(db: &TestDb, vault: &Vault, id: Uuid) -> (String, String) {
    let (a, r, k): (Vec<u8>, Vec<u8>, String) = sqlx::query_as(
        "SELECT access_token_ct, refresh_token_ct, key_id FROM mcp.oauth_tokens WHERE integration_id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("token row");
    let rec = id.to_string();
    let open = |ct: &[u8], field| {
        vault
            .open(
                &k,
                ct,
                mcp_daemon::vault::Binding {
                    record: &rec,
                    field,
                },
            )
            .expect("decrypt")
            .expose()
            .to_string()
    };
    (open(&a, "access_token"), open(&r, "refresh_token"))
}

async fn healthy_with(connectors: &Connectors, p: Platform, access: &str) -> bool {
    connectors
        .get(p)
        .health_check(&Credentials::Bearer(mcp_platforms::secret::Secret::new(
            access,
        )))
        .await
        .is_ok()
}

#[tokio::test]
async fn refresh_with_rotation_stores_both_new_tokens_and_the_old_refresh_token_is_dead() {
    let (db, sb, connectors, vault) = setup().await;
    let id = seed(&db, &sb, &vault, Platform::Zoom, 600).await;
    let (old_access, old_refresh) = tokens(&db, &vault, id).await;

    let out = refresh_now(&db, &vault, &connectors, id, 5).await;
    assert!(
        matches!(out, RefreshOutcome::Refreshed { rotated: true, .. }),
        "{out:?}"
    );
    let (access, refresh) = tokens(&db, &vault, id).await;
    assert_ne!(access, old_access);
    assert_ne!(refresh, old_refresh, "Zoom rotates refresh tokens");
    assert!(healthy_with(&connectors, Platform::Zoom, &access).await);
    let later = db
        .scalar_i64(&format!(
            "SELECT (expires_at > now() + interval '10 minutes')::int::int8 FROM mcp.oauth_tokens WHERE integration_id = '{id}'"
        ))
        .await;
    assert_eq!(later, 1, "the new expiry was recorded");
    // The stored (new) refresh token works again; the old one is refused by the platform.
    let again = refresh_now(&db, &vault, &connectors, id, 5).await;
    assert!(
        matches!(again, RefreshOutcome::Refreshed { .. }),
        "{again:?}"
    );
    let spec = connectors
        .get(Platform::Zoom)
        .oauth()
        .cloned()
        .expect("oauth");
    let dead = mcp_platforms::oauth::refresh(
        connectors.client(),
        Platform::Zoom,
        &spec,
        &mcp_platforms::secret::Secret::new(old_refresh),
    )
    .await
    .expect_err("old refresh token is dead");
    assert_eq!(dead.error_type.as_str(), "auth_invalid");
    db.drop_db().await;
}

#[tokio::test]
async fn a_failed_store_after_a_rotating_refresh_keeps_the_new_tokens() {
    let (db, sb, connectors, vault) = setup().await;
    let id = seed(&db, &sb, &vault, Platform::Zoom, 600).await;
    let (_, old_refresh) = tokens(&db, &vault, id).await;
    // The first two writes of new tokens fail, as a lost connection or a failover would. (A
    // sequence counts them: it is not rolled back with the failing transaction.)
    db.exec(
        "CREATE SEQUENCE store_failures_seq;
         CREATE FUNCTION fail_store() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.access_token_ct IS DISTINCT FROM OLD.access_token_ct
              AND nextval('store_failures_seq') <= 2 THEN
             RAISE EXCEPTION 'simulated store failure';
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER fail_store BEFORE UPDATE ON mcp.oauth_tokens
           FOR EACH ROW EXECUTE FUNCTION fail_store();",
    )
    .await;
    let calls_before = sb.calls(Platform::Zoom);
    let out = refresh_now(&db, &vault, &connectors, id, 10).await;
    assert!(
        matches!(out, RefreshOutcome::Refreshed { rotated: true, .. }),
        "{out:?}"
    );
    assert_eq!(
        sb.calls(Platform::Zoom) - calls_before,
        1,
        "the platform was asked once; the store was retried from memory"
    );
    assert_eq!(
        db.scalar_i64("SELECT last_value FROM store_failures_seq")
            .await,
        3
    );
    let (access, refresh) = tokens(&db, &vault, id).await;
    assert_ne!(refresh, old_refresh);
    assert!(healthy_with(&connectors, Platform::Zoom, &access).await);
    // The stored refresh token is the live one: the next refresh succeeds.
    db.exec("DROP TRIGGER fail_store ON mcp.oauth_tokens").await;
    let next = refresh_now(&db, &vault, &connectors, id, 5).await;
    assert!(matches!(next, RefreshOutcome::Refreshed { .. }), "{next:?}");
    db.drop_db().await;
}

#[tokio::test]
async fn two_daemons_never_spend_the_same_refresh_token() {
    let (db, sb, connectors, vault) = setup().await;
    let id = seed(&db, &sb, &vault, Platform::Zoom, 600).await;
    let before = sb.calls(Platform::Zoom);
    let pools: Vec<mcp_queue::pg::Db> =
        futures::future::join_all((0..4).map(|_| mcp_queue::pg::Db::connect(&db.url)))
            .await
            .into_iter()
            .map(|p| p.expect("pool"))
            .collect();
    let outs =
        futures::future::join_all(pools.iter().map(|p| {
            credentials::refresh_token(p, &vault, &connectors, id, Duration::from_secs(5))
        }))
        .await;
    let refreshed = outs
        .iter()
        .filter(|o| matches!(o, Ok(RefreshOutcome::Refreshed { .. })))
        .count();
    let busy = outs
        .iter()
        .filter(|o| matches!(o, Ok(RefreshOutcome::Busy)))
        .count();
    // Those that came after the first commit find a fresh token and refresh it again with the
    // new refresh token; none is ever refused for spending a dead one.
    assert!(refreshed >= 1, "{outs:?}");
    assert_eq!(refreshed + busy, 4, "{outs:?}");
    assert_eq!(sb.calls(Platform::Zoom) - before, refreshed as u64);
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.integration_errors")
            .await,
        0,
        "no invalid_grant from a doubly spent refresh token"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn invalid_grant_expires_the_integration_asks_to_reconnect_and_is_not_retried() {
    let (db, sb, cfg, vault) = setup_with_config().await;
    let id = seed(&db, &sb, &vault, Platform::Gmail, 600).await;
    let (_, refresh) = tokens(&db, &vault, id).await;
    assert!(sb.revoke_token(&refresh), "sandbox revokes the grant");
    let worker = start_configured_worker(&db, cfg.clone()).await;
    let job: i64 = sqlx::query_scalar(
        "SELECT mcp.enqueue_job('token_refresh', jsonb_build_object('integration_id', $1::uuid))",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("enqueue");
    db.wait_until(
        &format!("SELECT state = 'completed' FROM mcp.sync_jobs WHERE id = {job}"),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        db.scalar_i64(&format!(
            "SELECT attempt::int8 FROM mcp.sync_jobs WHERE id = {job}"
        ))
        .await,
        1
    );
    let (state, reason): (String, String) =
        sqlx::query_as("SELECT state, state_reason FROM core.integrations WHERE id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .expect("state");
    assert_eq!(state, "EXPIRED");
    assert!(reason.contains("auth_invalid"), "{reason}");
    assert_eq!(
        db.scalar_i64(&format!(
            "SELECT count(*) FROM ops.events WHERE integration_id = '{id}' AND event_type = 'integration.reconnect_required'"
        ))
        .await,
        1
    );
    worker.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_hourly_sweep_enqueues_each_token_expiring_within_a_day_once() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let vault = test_vault();
    let soon = seed(&db, &sb, &vault, Platform::Slack, 3600).await;
    let _later = seed(&db, &sb, &vault, Platform::Slack, 3 * 86_400).await;
    let api_key = {
        let ws = integrations::create_workspace(&db.pool, "k")
            .await
            .expect("ws");
        let (creds, _) = sb.mint_credentials(Platform::Fireflies, "k");
        integrations::create_active(&db.pool, &vault, ws, Platform::Fireflies, &creds)
            .await
            .expect("api key integration")
    };
    for _ in 0..3 {
        credentials::enqueue_refresh_sweep(&db.pool, Duration::from_secs(86_400))
            .await
            .expect("sweep");
    }
    let queued: Vec<Uuid> =
        sqlx::query_scalar("SELECT integration_id FROM mcp.sync_jobs WHERE kind = 'token_refresh'")
            .fetch_all(&db.pool)
            .await
            .expect("jobs");
    assert_eq!(
        queued,
        vec![soon],
        "not the 3-day token, not the API key {api_key}"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn key_rotation_stopped_halfway_loses_nothing_and_resumes() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let old = Vault::from_keys(vec![("k1".into(), zeroize::Zeroizing::new([1u8; 32]))]);
    let mut ids = Vec::new();
    for _ in 0..25 {
        ids.push(seed(&db, &sb, &old, Platform::Notion, 3600).await);
    }
    let before: Vec<(String, String)> =
        futures::future::join_all(ids.iter().map(|id| tokens(&db, &old, *id))).await;
    let both = Vault::from_keys(vec![
        ("k1".into(), zeroize::Zeroizing::new([1u8; 32])),
        ("k2".into(), zeroize::Zeroizing::new([2u8; 32])),
    ]);
    let r = mcp_daemon::keys::rotate(&db.pool, &both, 10, Some(2))
        .await
        .expect("rotate");
    assert_eq!((r.tokens, r.remaining), (20, 5), "{r:?}");
    // Mixed keys: every secret still opens, with the right value.
    for (id, want) in ids.iter().zip(&before) {
        let c = integrations::credentials(&db.pool, &both, *id)
            .await
            .expect("decrypt");
        let Credentials::Bearer(s) = c else {
            panic!("bearer")
        };
        assert_eq!(s.expose(), want.0);
    }
    let r = mcp_daemon::keys::rotate(&db.pool, &both, 10, None)
        .await
        .expect("resume");
    assert_eq!((r.tokens, r.remaining), (5, 0), "{r:?}");
    let only_new = Vault::from_keys(vec![("k2".into(), zeroize::Zeroizing::new([2u8; 32]))]);
    for (id, want) in ids.iter().zip(&before) {
        assert_eq!(
            &tokens(&db, &only_new, *id).await,
            want,
            "both tokens survive rotation"
        );
    }
    db.drop_db().await;
}

#[tokio::test]
async fn expiring_subscriptions_are_renewed_once_before_they_expire() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let mut cfg = config(&db, &sb);
    cfg.webhooks.gmail_topic = "projects/acme/topics/gmail".into();
    let vault = test_vault();
    let gmail = seed(&db, &sb, &vault, Platform::Gmail, 3600).await;
    let outlook = seed(&db, &sb, &vault, Platform::Outlook, 3600).await;
    let slack = seed(&db, &sb, &vault, Platform::Slack, 3600).await;
    let mut hooks = Vec::new();
    for (id, p, hours) in [
        (gmail, Platform::Gmail, 5),
        (outlook, Platform::Outlook, 5),
        (slack, Platform::Slack, 5),
        (gmail, Platform::Gmail, 72),
    ] {
        let w = mcp_daemon::webhooks::register(&db.pool, &vault, id, p, None, None)
            .await
            .expect("webhook");
        sqlx::query(
            "UPDATE mcp.webhooks SET expires_at = now() + $2 * interval '1 hour', external_id = 'sub-1' WHERE id = $1",
        )
        .bind(w)
        .bind(hours as f64)
        .execute(&db.pool)
        .await
        .expect("expiry");
        hooks.push(w);
    }
    for _ in 0..3 {
        mcp_daemon::webhooks::renew::enqueue_renew_sweep(&db.pool, Duration::from_secs(86_400))
            .await
            .expect("sweep");
    }
    let queued = db
        .scalar_i64("SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'webhook_renew'")
        .await;
    assert_eq!(
        queued, 2,
        "Gmail and Outlook expiring within a day, once each"
    );
    let worker = start_configured_worker(&db, cfg.clone()).await;
    db.wait_until(
        "SELECT count(*) = 2 FROM mcp.sync_jobs WHERE kind = 'webhook_renew' AND state = 'completed'",
        Duration::from_secs(10),
    )
    .await;
    for (w, min_hours) in [(hooks[0], 24 * 6), (hooks[1], 24 * 2)] {
        let h = db
            .scalar_i64(&format!(
                "SELECT (EXTRACT(EPOCH FROM expires_at - now()) / 3600)::int8 FROM mcp.webhooks WHERE id = '{w}'"
            ))
            .await;
        assert!(h >= min_hours, "webhook {w} now expires in {h} h");
    }
    let untouched = db
        .scalar_i64(&format!(
            "SELECT (EXTRACT(EPOCH FROM expires_at - now()) / 3600)::int8 FROM mcp.webhooks WHERE id = '{}'",
            hooks[2]
        ))
        .await;
    assert!(untouched <= 5, "app-level webhooks are not renewed");
    worker.shutdown().await;
    db.drop_db().await;
}

//! Access tokens the platform refuses between refresh sweeps: Google's and Zoom's live an hour,
//! Microsoft's 60–90 minutes, and the sweep runs hourly, so a call can meet an expired token
//! while the grant is good. Such a call refreshes once (coalesced across jobs) and goes on;
//! only a refused refresh needs the person. And the token endpoint's own answers: Microsoft's
//! `interaction_required` asks for a reconnect, `temporarily_unavailable` is retried.

use std::time::Duration;

use mcp_daemon::config::Config;
use mcp_daemon::vault::Vault;
use mcp_platforms::connectors::Platform;
use mcp_sandbox::{self as sandbox, FaultKind, FaultSpec, Sandbox};
use uuid::Uuid;

use crate::common::{start_configured_worker, test_config, test_vault, TestDb};
use mcp_testkit::integrations::with_tokens as seed;

fn config(db: &TestDb, sb: &Sandbox) -> Config {
    let mut c = test_config(&db.url);
    c.platforms = sb.config_overrides();
    c.http_client.timeout = Duration::from_millis(2000);
    c
}

/// The integration's stored access token.
async fn access_token(db: &TestDb, vault: &Vault, id: Uuid) -> String {
    stored(db, vault, id, "access_token").await
}

/// The integration's stored refresh token.
async fn refresh_token_of(db: &TestDb, vault: &Vault, id: Uuid) -> String {
    stored(db, vault, id, "refresh_token").await
}

/// A stored token, opened: `field` is `access_token` or `refresh_token`.
async fn stored(db: &TestDb, vault: &Vault, id: Uuid, field: &'static str) -> String {
    let sql = format!("SELECT {field}_ct, key_id FROM mcp.oauth_tokens WHERE integration_id = $1");
    let (ct, key): (Vec<u8>, String) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("token row");
    let record = id.to_string();
    let binding = mcp_daemon::vault::Binding {
        record: &record,
        field,
    };
    vault
        .open(&key, &ct, binding)
        .expect("open")
        .expose()
        .to_string()
}

async fn enqueue(db: &TestDb, kind: &str, id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT mcp.enqueue_job($1, jsonb_build_object('integration_id', $2::uuid))")
        .bind(kind)
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("enqueue")
}

async fn finished(db: &TestDb, jobs: &[i64]) {
    let list = jobs
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    db.wait_until(
        &format!(
            "SELECT bool_and(state IN ('completed', 'discarded', 'cancelled')) \
             FROM mcp.sync_jobs WHERE id IN ({list})"
        ),
        Duration::from_secs(20),
    )
    .await;
}

async fn state(db: &TestDb, id: Uuid) -> String {
    sqlx::query_scalar("SELECT state FROM core.integrations WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("state")
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.scalar_i64(sql).await
}

/// The integration's `integration.reconnect_required` events.
async fn reconnect_events(db: &TestDb, id: Uuid) -> i64 {
    count(
        db,
        &format!(
            "SELECT count(*) FROM ops.events WHERE integration_id = '{id}' \
             AND event_type = 'integration.reconnect_required'"
        ),
    )
    .await
}

/// Zoom rotates its refresh token on every refresh, so a second refresh with the spent one
/// would be refused and the integration would fall to EXPIRED: a health check and a sync that
/// both meet the expired token refresh it exactly once between them and both succeed.
#[tokio::test]
async fn a_token_expired_between_sweeps_is_refreshed_once_and_the_integration_stays_active() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    sb.set_items_per_account(20);
    let vault = test_vault();
    // Stored as valid for another 50 minutes: no sweep would touch it before the next hour.
    let id = seed(&db, &sb, &vault, Platform::Zoom, 3000).await;
    let old = access_token(&db, &vault, id).await;
    assert!(
        sb.expire_token(&old),
        "the platform's clock passes the token's lifetime"
    );
    let worker = start_configured_worker(&db, config(&db, &sb)).await;
    let jobs = [
        enqueue(&db, "health_check", id).await,
        enqueue(&db, "sync", id).await,
    ];
    finished(&db, &jobs).await;
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) FROM mcp.sync_jobs WHERE id IN ({}, {}) AND state = 'completed'",
                jobs[0], jobs[1]
            )
        )
        .await,
        2
    );
    assert_eq!(state(&db, id).await, "ACTIVE");
    assert_eq!(sb.refreshes(Platform::Zoom), 1, "one refresh for both jobs");
    let new = access_token(&db, &vault, id).await;
    assert_ne!(new, old, "the new access token is stored");
    assert!(
        count(
            &db,
            &format!("SELECT count(*) FROM mcp.synced_items WHERE integration_id = '{id}'")
        )
        .await
            > 0,
        "the sync read the recordings with the new token"
    );
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) FROM mcp.health_checks WHERE integration_id = '{id}' AND status = 'healthy'"
            )
        )
        .await,
        1
    );
    worker.shutdown().await;
    db.drop_db().await;
}

/// When the grant itself is gone (the refresh is refused with `invalid_grant`), the call's
/// refusal ends in EXPIRED with the reconnect event, as the refresh job's refusal does.
#[tokio::test]
async fn a_refused_token_whose_refresh_is_refused_expires_the_integration() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let vault = test_vault();
    let id = seed(&db, &sb, &vault, Platform::Gmail, 3000).await;
    let old = access_token(&db, &vault, id).await;
    assert!(sb.expire_token(&old));
    sb.set_fault(FaultSpec {
        platform: "gmail".into(),
        token: None,
        fault: FaultKind::OauthError,
        count: None,
        retry_after_secs: None,
        after: None,
        code: Some("invalid_grant".into()),
    });
    let worker = start_configured_worker(&db, config(&db, &sb)).await;
    let job = enqueue(&db, "health_check", id).await;
    finished(&db, &[job]).await;
    assert_eq!(state(&db, id).await, "EXPIRED");
    assert_eq!(reconnect_events(&db, id).await, 1);
    worker.shutdown().await;
    db.drop_db().await;
}

/// A refresh job against Microsoft's token endpoint answering `code`.
async fn outlook_refresh_answered(code: &str) -> (TestDb, Uuid, i64) {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let vault = test_vault();
    let id = seed(&db, &sb, &vault, Platform::Outlook, 600).await;
    sb.set_fault(FaultSpec {
        platform: "outlook".into(),
        token: None,
        fault: FaultKind::OauthError,
        count: Some(1),
        retry_after_secs: None,
        after: None,
        code: Some(code.into()),
    });
    let mut cfg = config(&db, &sb);
    cfg.kinds.insert(
        "token_refresh".into(),
        mcp_daemon::config::KindOverride {
            max_attempts: Some(3),
            backoff_base: Some(Duration::from_millis(10)),
            backoff_max: Some(Duration::from_millis(20)),
            timeout: None,
            concurrency: None,
        },
    );
    let worker = start_configured_worker(&db, cfg).await;
    let job = enqueue(&db, "token_refresh", id).await;
    finished(&db, &[job]).await;
    worker.shutdown().await;
    drop(sb);
    (db, id, job)
}

/// `interaction_required` (MFA, Conditional Access) and `consent_required` on a refresh: only
/// the person can sign in again, so the integration asks for a reconnect and the job ends.
#[tokio::test]
async fn microsoft_interaction_required_on_refresh_asks_the_person_to_sign_in_again() {
    for code in ["interaction_required", "consent_required"] {
        let (db, id, job) = outlook_refresh_answered(code).await;
        assert_eq!(state(&db, id).await, "EXPIRED", "{code}");
        assert_eq!(reconnect_events(&db, id).await, 1, "{code}");
        assert_eq!(
            count(
                &db,
                &format!("SELECT attempt::int8 FROM mcp.sync_jobs WHERE id = {job}")
            )
            .await,
            1,
            "{code}: not retried"
        );
        db.drop_db().await;
    }
}

/// `temporarily_unavailable`: the token service is busy; the refresh is tried again and the
/// integration stays in service.
#[tokio::test]
async fn microsoft_temporarily_unavailable_on_refresh_is_retried() {
    let (db, id, job) = outlook_refresh_answered("temporarily_unavailable").await;
    assert_eq!(state(&db, id).await, "ACTIVE");
    let (job_state, attempt): (String, i16) =
        sqlx::query_as("SELECT state, attempt FROM mcp.sync_jobs WHERE id = $1")
            .bind(job)
            .fetch_one(&db.pool)
            .await
            .expect("job");
    assert_eq!((job_state.as_str(), attempt), ("completed", 2));
    db.drop_db().await;
}

/// Notion answers a refresh with a new access and refresh token
/// (https://developers.notion.com/reference/refresh-a-token): both are stored, and the spent
/// refresh token is refused afterwards.
#[tokio::test]
async fn notion_refresh_stores_the_new_pair_and_the_spent_refresh_token_is_refused() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let cfg = config(&db, &sb);
    let vault = test_vault();
    let connectors = cfg.connectors().expect("connectors");
    let id = seed(&db, &sb, &vault, Platform::Notion, 600).await;
    let spent = refresh_token_of(&db, &vault, id).await;
    let out = mcp_daemon::credentials::refresh_token(
        &db.pool,
        &vault,
        &connectors,
        id,
        Duration::from_secs(5),
    )
    .await
    .expect("refresh");
    assert!(
        matches!(
            out,
            mcp_daemon::credentials::RefreshOutcome::Refreshed { rotated: true, .. }
        ),
        "{out:?}"
    );
    assert_ne!(refresh_token_of(&db, &vault, id).await, spent);
    let spec = connectors
        .get(Platform::Notion)
        .oauth()
        .cloned()
        .expect("oauth");
    let again = mcp_platforms::oauth::refresh(
        connectors.client(),
        Platform::Notion,
        &spec,
        &mcp_platforms::secret::Secret::new(spent),
    )
    .await
    .expect_err("the spent refresh token");
    assert_eq!(again.code.as_deref(), Some("invalid_grant"));
    db.drop_db().await;
}

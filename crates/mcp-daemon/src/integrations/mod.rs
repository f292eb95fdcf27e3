//! Integrations as the daemon sees them: reading an integration and its credentials, the
//! circuit breaker's gate, recording health checks, the health sweep's enqueue, and seeding
//! helpers for the demo, tests and benchmarks. Every statement here goes through the SQL
//! functions of `migrations/0002_integrations.sql`, so daemons and SQL users share one set of
//! rules. Plaintext credentials exist only in memory, as `Secret`, and are never logged.

use mcp_queue::pg::{self, Db};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kinds::{HealthCheck, Kind};
use crate::vault::{Binding, Vault, VaultError, ACCESS_TOKEN_FIELD, REFRESH_TOKEN_FIELD};
use mcp_platforms::connectors::{ConnectorError, Credentials, Platform};
use mcp_platforms::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("integration {0} not found")]
    NotFound(uuid::Uuid),
    #[error("integration {id} is in an unknown state `{state}`")]
    UnknownState { id: uuid::Uuid, state: String },
    #[error("integration {id} has an unknown platform `{platform}`")]
    UnknownPlatform { id: uuid::Uuid, platform: String },
    #[error("integration {0} has no stored credentials")]
    NoCredentials(uuid::Uuid),
    #[error("credentials of integration {id} cannot be read: {source}")]
    Vault { id: uuid::Uuid, source: VaultError },
}

#[derive(Debug, Clone)]
pub struct Integration {
    pub id: uuid::Uuid,
    pub workspace_id: uuid::Uuid,
    pub platform: Platform,
    pub state: IntegrationState,
    /// The platform's account it is connected to (`crate::connections::account`).
    pub external_account_id: Option<String>,
    /// The workspace's web address at the platform, where its items' links need one and its
    /// records do not carry it (`settings.web_base`, an http(s) URL: Slack's `auth.test` `url`,
    /// `https://<slug>.monday.com`; see `mcp_platforms::items::Context`).
    pub web_base: Option<String>,
}

pub use crate::integration_state::IntegrationState;
pub use history::{
    prune_history, sample_gauges, vacuum_history, HistoryAges, GAUGES_SQL, PRUNE_HEALTH_CHECKS_SQL,
    PRUNE_INTEGRATION_ERRORS_SQL, PRUNE_NOTIFICATIONS_SQL, PRUNE_OAUTH_STATES_SQL,
    PRUNE_WEBHOOK_DEDUP_SQL, PRUNE_WEBHOOK_EVENTS_SQL,
};
pub use transitions::{
    cancel_jobs, insert, mark_broken, refused_by_platform, revoke, transition, CANCEL_JOBS_SQL,
    MARK_BROKEN_SQL, REFUSED_SQL, REVOKE_SQL, TRANSITION_SQL,
};

mod history;
mod transitions;

/// `load`'s statement (exposed for the plan tests).
pub const LOAD_SQL: &str = "SELECT workspace_id, platform, state, external_account_id, \
     settings ->> 'web_base' FROM core.integrations WHERE id = $1";

type Row = (uuid::Uuid, String, String, Option<String>, Option<String>);

pub async fn load(pool: &Db, id: uuid::Uuid) -> Result<Integration, IntegrationError> {
    let row: Option<Row> = pg::query_as(LOAD_SQL).bind(id).fetch_optional(pool).await?;
    integration(id, row)
}

/// `load` in the caller's transaction; `None` when the integration is gone or unreadable.
pub async fn load_in(
    tx: &mut sqlx::PgConnection,
    id: uuid::Uuid,
) -> Result<Option<Integration>, sqlx::Error> {
    let row: Option<Row> = pg::query_as(LOAD_SQL)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(integration(id, row).ok())
}

fn integration(id: uuid::Uuid, row: Option<Row>) -> Result<Integration, IntegrationError> {
    let (workspace_id, platform, state, external_account_id, web_base) =
        row.ok_or(IntegrationError::NotFound(id))?;
    let web_base = web_base.filter(|u| u.starts_with("https://") || u.starts_with("http://"));
    let platform =
        Platform::parse(&platform).ok_or(IntegrationError::UnknownPlatform { id, platform })?;
    let state =
        IntegrationState::parse(&state).ok_or(IntegrationError::UnknownState { id, state })?;
    Ok(Integration {
        id,
        workspace_id,
        platform,
        state,
        external_account_id,
        web_base,
    })
}

/// `credentials`' statement (exposed for the plan tests).
pub const CREDENTIALS_SQL: &str = "SELECT token_type, access_token_ct, key_id, basic_user \
     FROM mcp.oauth_tokens WHERE integration_id = $1";

/// Decrypts the credentials a platform call needs.
pub async fn credentials(
    pool: &Db,
    vault: &Vault,
    id: uuid::Uuid,
) -> Result<Credentials, IntegrationError> {
    type Row = (String, Option<Vec<u8>>, Option<String>, Option<String>);
    let row: Option<Row> = pg::query_as(CREDENTIALS_SQL)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let (kind, ct, key_id, user) = row.ok_or(IntegrationError::NoCredentials(id))?;
    let (Some(ct), Some(key_id)) = (ct, key_id) else {
        return Err(IntegrationError::NoCredentials(id));
    };
    let record = id.to_string();
    let secret = vault
        .open(&key_id, &ct, Binding::new(&record, ACCESS_TOKEN_FIELD))
        .map_err(|source| IntegrationError::Vault { id, source })?;
    Ok(match kind.as_str() {
        "api_key" => Credentials::ApiKey(secret),
        "basic" => Credentials::Basic {
            user: user.unwrap_or_default(),
            secret,
        },
        _ => Credentials::Bearer(secret),
    })
}

/// Stores (or replaces) an integration's credentials, encrypted. Takes a pool or a
/// transaction's connection, so that a connect can store them with its other writes.
pub async fn store_credentials(
    db: impl sqlx::PgExecutor<'_>,
    vault: &Vault,
    id: uuid::Uuid,
    creds: &Credentials,
    refresh_token: Option<&Secret>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), IntegrationError> {
    let record = id.to_string();
    let (kind, secret, user) = match creds {
        Credentials::Bearer(s) => ("bearer", s, None),
        Credentials::ApiKey(s) => ("api_key", s, None),
        Credentials::Basic { user, secret } => ("basic", secret, Some(user.as_str())),
    };
    let vault_err = |source| IntegrationError::Vault { id, source };
    let (key_id, access_ct) = vault
        .seal(secret.expose(), Binding::new(&record, ACCESS_TOKEN_FIELD))
        .map_err(vault_err)?;
    let refresh_ct = match refresh_token {
        Some(r) => Some(
            vault
                .seal(r.expose(), Binding::new(&record, REFRESH_TOKEN_FIELD))
                .map_err(vault_err)?
                .1,
        ),
        None => None,
    };
    pg::query(
        "INSERT INTO mcp.oauth_tokens AS t (integration_id, workspace_id, platform, token_type, \
             access_token_ct, refresh_token_ct, key_id, basic_user, expires_at) \
         SELECT i.id, i.workspace_id, i.platform, $2, $3, $4, $5, $6, $7 \
         FROM core.integrations i WHERE i.id = $1 \
         ON CONFLICT (integration_id) DO UPDATE SET token_type = EXCLUDED.token_type, \
             access_token_ct = EXCLUDED.access_token_ct, refresh_token_ct = EXCLUDED.refresh_token_ct, \
             key_id = EXCLUDED.key_id, basic_user = EXCLUDED.basic_user, \
             expires_at = EXCLUDED.expires_at, updated_at = now()",
    )
    .bind(id)
    .bind(kind)
    .bind(access_ct)
    .bind(refresh_ct)
    .bind(key_id)
    .bind(user)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The circuit breaker's gate's statement (exposed for the plan tests).
pub const CAN_EXECUTE_SQL: &str =
    "SELECT mcp.can_execute_request($1, $2 * interval '1 millisecond')";

/// The circuit breaker's gate (`mcp.can_execute_request`).
pub async fn can_execute_request(
    pool: &Db,
    id: uuid::Uuid,
    half_open_after: Duration,
) -> Result<bool, IntegrationError> {
    Ok(pg::query_scalar(CAN_EXECUTE_SQL)
        .bind(id)
        .bind(half_open_after.as_millis() as i64)
        .fetch_one(pool)
        .await?)
}

/// What `mcp.record_health_check` left behind.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HealthRecord {
    pub state: String,
    pub circuit_breaker_state: String,
    pub consecutive_failures: i32,
}

/// `record_health_check`'s statement (exposed for the plan tests).
pub const RECORD_HEALTH_CHECK_SQL: &str =
    "SELECT * FROM mcp.record_health_check($1, $2, $3, $4, $5, $6, $7, $8)";

/// Records a check: `Ok` is healthy; rate limits are degraded; everything else unhealthy.
pub async fn record_health_check(
    pool: &Db,
    id: uuid::Uuid,
    result: Result<(), &ConnectorError>,
    latency: Duration,
    threshold: u32,
    job_id: Option<i64>,
) -> Result<HealthRecord, IntegrationError> {
    let (status, error_type, message, http) = match result {
        Ok(()) => ("healthy", None, None, None),
        Err(e) => {
            let status = if e.action() == mcp_platforms::connectors::Action::Wait {
                "degraded"
            } else {
                "unhealthy"
            };
            (
                status,
                Some(e.error_type.as_str()),
                Some(e.to_string()),
                e.status.map(i32::from),
            )
        }
    };
    Ok(pg::query_as(RECORD_HEALTH_CHECK_SQL)
        .bind(id)
        .bind(status)
        .bind(latency.as_millis().min(i32::MAX as u128) as i32)
        .bind(error_type)
        .bind(message)
        .bind(http)
        .bind(threshold as i32)
        .bind(job_id)
        .fetch_one(pool)
        .await?)
}

/// The health sweep's statement (exposed for the plan tests).
pub const HEALTH_SWEEP_SQL: &str = const_format::concatcp!(
    "\
SELECT count(*) FROM ( \
  SELECT array_agg(i.id) AS ids, \
         array_agg(now() + ((abs(hashtext(i.id::text)::bigint) % 1000000) / 1000000.0) \
                           * ($1 * interval '1 millisecond')) AS run_ats \
  FROM core.integrations i WHERE core.state_in_service(i.state)) s, \
  LATERAL mcp.enqueue_many('",
    HealthCheck::KIND,
    "', s.ids, run_ats => s.run_ats)"
);

/// Enqueues one `health_check` per in-service integration, spread evenly over `spread` by a
/// stable hash of its id, each once (a live check of the same integration is left alone).
/// Returns how many were enqueued.
pub async fn enqueue_health_sweep(pool: &Db, spread: Duration) -> Result<u64, IntegrationError> {
    let n: i64 = pg::query_scalar(HEALTH_SWEEP_SQL)
        .bind(spread.as_millis() as i64)
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Seeding: a workspace.
pub async fn create_workspace(pool: &Db, name: &str) -> Result<uuid::Uuid, IntegrationError> {
    Ok(
        pg::query_scalar("INSERT INTO core.workspaces (name) VALUES ($1) RETURNING id")
            .bind(name)
            .fetch_one(pool)
            .await?,
    )
}

/// Seeding: an integration taken through PENDING → CONNECTED → ACTIVE with its credentials.
pub async fn create_active(
    pool: &Db,
    vault: &Vault,
    workspace: uuid::Uuid,
    platform: Platform,
    creds: &Credentials,
) -> Result<uuid::Uuid, IntegrationError> {
    let id: uuid::Uuid = pg::query_scalar(
        "INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, $2) RETURNING id",
    )
    .bind(workspace)
    .bind(platform.as_str())
    .fetch_one(pool)
    .await?;
    store_credentials(pool, vault, id, creds, None, None).await?;
    for to in ["CONNECTED", "ACTIVE"] {
        pg::query("SELECT mcp.transition_integration_state($1, $2, 'seeded')")
            .bind(id)
            .bind(to)
            .execute(pool)
            .await?;
    }
    Ok(id)
}

// One batch of history retention per table (exposed for the plan tests). Each finds the oldest
// rows past their age through the table's time index, in that index's order, so a batch reads
// only what it deletes (and one that finds nothing reads nothing, however much younger history
// there is), and deletes them by primary key from the array of ids (no join for statistics to
// turn into a scan of the table). `$1` is the age in seconds, `$2` the batch.

/// Health checks older than the age.
#[derive(Clone, Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Consecutive failed checks that open an integration's circuit breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker stays open before one probe is let through (half-open).
    #[serde(with = "humantime_serde")]
    pub breaker_half_open_after: Duration,
    /// The health sweep spreads its checks evenly over this window (0 = all at once).
    #[serde(with = "humantime_serde")]
    pub spread: Duration,
    /// A rate-limited check is snoozed this long when the platform names no time.
    #[serde(with = "humantime_serde")]
    pub default_retry_after: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            breaker_threshold: 5,
            breaker_half_open_after: Duration::from_secs(300),
            spread: Duration::from_secs(5 * 3600),
            default_retry_after: Duration::from_secs(60),
        }
    }
}

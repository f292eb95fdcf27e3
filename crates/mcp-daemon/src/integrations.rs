//! Integrations as the daemon sees them: reading an integration and its credentials, the
//! circuit breaker's gate, recording health checks, the health sweep's enqueue, and seeding
//! helpers for the demo, tests and benchmarks. Every statement here goes through the SQL
//! functions of `migrations/0002_integrations.sql`, so daemons and SQL users share one set of
//! rules. Plaintext credentials exist only in memory, as `Secret`, and are never logged.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::vault::{Binding, Vault, VaultError};
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
}

pub use crate::integration_state::IntegrationState;

/// Moves an integration to `to` with `reason`, along the transitions migration 0002 allows (a
/// refused transition is the database's error).
pub async fn transition(
    db: impl sqlx::PgExecutor<'_>,
    id: uuid::Uuid,
    to: IntegrationState,
    reason: &str,
) -> Result<(), sqlx::Error> {
    transition_if(db, TRANSITION_SQL, id, to, reason).await
}

/// `transition`'s statement.
pub const TRANSITION_SQL: &str = "SELECT mcp.transition_integration_state($1, $2, $3)";

/// A new integration of `p` in `ws`, PENDING.
pub async fn insert(
    db: impl sqlx::PgExecutor<'_>,
    ws: uuid::Uuid,
    p: Platform,
) -> Result<uuid::Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, $2) RETURNING id",
    )
    .bind(ws)
    .bind(p.as_str())
    .fetch_one(db)
    .await
}

/// The daemon's conditional transitions (exposed for the plan tests): `$1` the integration,
/// `$2` the state it moves to, `$3` the reason; each moves it only from the states its named
/// predicate allows (migration 0008).
pub const MARK_BROKEN_SQL: &str = "\
SELECT mcp.transition_integration_state($1, $2, $3) \
FROM core.integrations WHERE id = $1 AND core.state_callable(state)";
pub const REVOKE_SQL: &str = "\
SELECT mcp.transition_integration_state($1, $2, $3) \
FROM core.integrations WHERE id = $1 AND core.state_revocable(state)";
pub const REFUSED_SQL: &str = "\
SELECT mcp.transition_integration_state($1, $2, $3) \
FROM core.integrations WHERE id = $1 AND core.state_in_service(state)";

async fn transition_if(
    db: impl sqlx::PgExecutor<'_>,
    sql: &'static str,
    id: uuid::Uuid,
    to: IntegrationState,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(sql)
        .bind(id)
        .bind(to.as_str())
        .bind(reason)
        .execute(db)
        .await
        .map(|_| ())
}

/// Its credentials cannot be used (missing, tampered, sealed with a key not loaded): a callable
/// integration moves to ERROR with `reason`, since no call can succeed until it is reconnected.
pub async fn mark_broken(
    db: impl sqlx::PgExecutor<'_>,
    id: uuid::Uuid,
    reason: &str,
) -> Result<(), sqlx::Error> {
    transition_if(db, MARK_BROKEN_SQL, id, IntegrationState::Error, reason).await
}

/// The platform withdrew access: a revocable integration moves to REVOKED with `reason`.
pub async fn revoke(
    db: impl sqlx::PgExecutor<'_>,
    id: uuid::Uuid,
    reason: &str,
) -> Result<(), sqlx::Error> {
    transition_if(db, REVOKE_SQL, id, IntegrationState::Revoked, reason).await
}

/// The platform refused the integration's grant (a refresh answered `auth_invalid` or
/// `revoked`): an in-service integration moves to `to` (EXPIRED or REVOKED) with `reason`.
pub async fn refused_by_platform(
    db: impl sqlx::PgExecutor<'_>,
    id: uuid::Uuid,
    to: IntegrationState,
    reason: &str,
) -> Result<(), sqlx::Error> {
    transition_if(db, REFUSED_SQL, id, to, reason).await
}

/// `load`'s statement (exposed for the plan tests).
pub const LOAD_SQL: &str =
    "SELECT workspace_id, platform, state FROM core.integrations WHERE id = $1";

pub async fn load(pool: &PgPool, id: uuid::Uuid) -> Result<Integration, IntegrationError> {
    let row: Option<(uuid::Uuid, String, String)> = sqlx::query_as(LOAD_SQL)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let (workspace_id, platform, state) = row.ok_or(IntegrationError::NotFound(id))?;
    let platform =
        Platform::parse(&platform).ok_or(IntegrationError::UnknownPlatform { id, platform })?;
    let state =
        IntegrationState::parse(&state).ok_or(IntegrationError::UnknownState { id, state })?;
    Ok(Integration {
        id,
        workspace_id,
        platform,
        state,
    })
}

/// The binding of a stored secret: its integration and field.
fn binding<'a>(record: &'a str, field: &'a str) -> Binding<'a> {
    Binding { record, field }
}

/// `credentials`' statement (exposed for the plan tests).
pub const CREDENTIALS_SQL: &str = "SELECT token_type, access_token_ct, key_id, basic_user \
     FROM mcp.oauth_tokens WHERE integration_id = $1";

/// Decrypts the credentials a platform call needs.
pub async fn credentials(
    pool: &PgPool,
    vault: &Vault,
    id: uuid::Uuid,
) -> Result<Credentials, IntegrationError> {
    type Row = (String, Option<Vec<u8>>, Option<String>, Option<String>);
    let row: Option<Row> = sqlx::query_as(CREDENTIALS_SQL)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let (kind, ct, key_id, user) = row.ok_or(IntegrationError::NoCredentials(id))?;
    let (Some(ct), Some(key_id)) = (ct, key_id) else {
        return Err(IntegrationError::NoCredentials(id));
    };
    let record = id.to_string();
    let secret = vault
        .open(&key_id, &ct, binding(&record, "access_token"))
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
        .seal(secret.expose(), binding(&record, "access_token"))
        .map_err(vault_err)?;
    let refresh_ct = match refresh_token {
        Some(r) => Some(
            vault
                .seal(r.expose(), binding(&record, "refresh_token"))
                .map_err(vault_err)?
                .1,
        ),
        None => None,
    };
    sqlx::query(
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
    pool: &PgPool,
    id: uuid::Uuid,
    half_open_after: Duration,
) -> Result<bool, IntegrationError> {
    Ok(sqlx::query_scalar(CAN_EXECUTE_SQL)
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
    pool: &PgPool,
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
    Ok(sqlx::query_as(RECORD_HEALTH_CHECK_SQL)
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
pub const HEALTH_SWEEP_SQL: &str = "\
SELECT count(*) FROM ( \
  SELECT array_agg(i.id ORDER BY i.id) AS ids, \
         array_agg(now() + ((abs(hashtext(i.id::text)::bigint) % 1000000) / 1000000.0) \
                           * ($1 * interval '1 millisecond') ORDER BY i.id) AS run_ats \
  FROM core.integrations i WHERE core.state_in_service(i.state)) s, \
  LATERAL mcp.enqueue_many('health_check', s.ids, run_ats => s.run_ats)";

/// Enqueues one `health_check` per in-service integration, spread evenly over `spread` by a
/// stable hash of its id, each once (a live check of the same integration is left alone).
/// Returns how many were enqueued.
pub async fn enqueue_health_sweep(
    pool: &PgPool,
    spread: Duration,
) -> Result<u64, IntegrationError> {
    let n: i64 = sqlx::query_scalar(HEALTH_SWEEP_SQL)
        .bind(spread.as_millis() as i64)
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Seeding: a workspace.
pub async fn create_workspace(pool: &PgPool, name: &str) -> Result<uuid::Uuid, IntegrationError> {
    Ok(
        sqlx::query_scalar("INSERT INTO core.workspaces (name) VALUES ($1) RETURNING id")
            .bind(name)
            .fetch_one(pool)
            .await?,
    )
}

/// Seeding: an integration taken through PENDING → CONNECTED → ACTIVE with its credentials.
pub async fn create_active(
    pool: &PgPool,
    vault: &Vault,
    workspace: uuid::Uuid,
    platform: Platform,
    creds: &Credentials,
) -> Result<uuid::Uuid, IntegrationError> {
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, $2) RETURNING id",
    )
    .bind(workspace)
    .bind(platform.as_str())
    .fetch_one(pool)
    .await?;
    store_credentials(pool, vault, id, creds, None, None).await?;
    for to in ["CONNECTED", "ACTIVE"] {
        sqlx::query("SELECT mcp.transition_integration_state($1, $2, 'seeded')")
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
pub const PRUNE_HEALTH_CHECKS_SQL: &str = "\
DELETE FROM mcp.health_checks WHERE id = ANY (ARRAY(\
SELECT id FROM mcp.health_checks WHERE checked_at < now() - $1 * interval '1 second' \
ORDER BY checked_at LIMIT $2 FOR UPDATE SKIP LOCKED))";

/// Integration errors older than the age.
pub const PRUNE_INTEGRATION_ERRORS_SQL: &str = "\
DELETE FROM mcp.integration_errors WHERE id = ANY (ARRAY(\
SELECT id FROM mcp.integration_errors WHERE occurred_at < now() - $1 * interval '1 second' \
ORDER BY occurred_at LIMIT $2 FOR UPDATE SKIP LOCKED))";

/// Processed webhook events received before the age.
pub const PRUNE_WEBHOOK_EVENTS_SQL: &str = "\
DELETE FROM mcp.webhook_events WHERE id = ANY (ARRAY(\
SELECT id FROM mcp.webhook_events \
WHERE processed_at IS NOT NULL AND received_at < now() - $1 * interval '1 second' \
ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED))";

/// Connect states expired for more than a day (`$1` is the batch).
pub const PRUNE_OAUTH_STATES_SQL: &str = "\
DELETE FROM mcp.oauth_states WHERE state_hash = ANY (ARRAY(\
SELECT state_hash FROM mcp.oauth_states WHERE expires_at < now() - interval '1 day' \
ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED))";

/// Retention of the tables that grow daily: health checks, errors, processed webhook events
/// older than their ages are deleted `batch` rows per statement (each its own transaction, so
/// no lock is held long). Returns rows deleted per table.
/// Vacuums the history tables that `prune_history` deleted rows from (names from its report,
/// which come from this module's own list), so their space is reused even where autovacuum is
/// off or slow to come.
pub async fn vacuum_history(
    pool: &PgPool,
    pruned: &[(&'static str, u64)],
) -> Result<(), IntegrationError> {
    for (table, deleted) in pruned {
        if *deleted > 0 && table.starts_with("mcp.") {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("VACUUM (SKIP_LOCKED) {table}")))
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

/// How long each history table keeps its rows (`[retention]`).
#[derive(Debug, Clone, Copy)]
pub struct HistoryAges {
    pub health_checks: Duration,
    pub integration_errors: Duration,
    pub webhook_events: Duration,
}

pub async fn prune_history(
    pool: &PgPool,
    ages: &HistoryAges,
    batch: u32,
) -> Result<Vec<(&'static str, u64)>, IntegrationError> {
    let tables: [(&'static str, &'static str, Duration); 3] = [
        (
            "mcp.health_checks",
            PRUNE_HEALTH_CHECKS_SQL,
            ages.health_checks,
        ),
        (
            "mcp.integration_errors",
            PRUNE_INTEGRATION_ERRORS_SQL,
            ages.integration_errors,
        ),
        (
            "mcp.webhook_events",
            PRUNE_WEBHOOK_EVENTS_SQL,
            ages.webhook_events,
        ),
    ];
    let mut out = Vec::new();
    // Connect states are useless once expired; a day's grace keeps them for debugging.
    let states = sqlx::query(PRUNE_OAUTH_STATES_SQL)
        .bind(batch as i64)
        .execute(pool)
        .await?
        .rows_affected();
    for (table, sql, age) in tables {
        let mut total = 0u64;
        loop {
            let n = sqlx::query(sql)
                .bind(age.as_secs_f64())
                .bind(batch as i64)
                .execute(pool)
                .await?
                .rows_affected();
            total += n;
            if n < batch as u64 {
                break;
            }
        }
        out.push((table, total));
    }
    out.push(("mcp.oauth_states", states));
    Ok(out)
}

/// The integration gauges' statement (exposed for the plan tests).
pub const GAUGES_SQL: &str =
    "SELECT platform, state, circuit_breaker_state, count(*) FROM core.integrations \
     GROUP BY 1, 2, 3";

/// Samples the integration gauges (by platform and state; breakers by platform and state).
pub async fn sample_gauges(pool: &PgPool) -> Result<(), IntegrationError> {
    use crate::metrics as m;
    let rows: Vec<(String, String, String, i64)> =
        sqlx::query_as(GAUGES_SQL).fetch_all(pool).await?;
    for p in Platform::ALL {
        let p = p.as_str();
        for st in IntegrationState::ALL.map(IntegrationState::as_str) {
            let n: i64 = rows
                .iter()
                .filter(|r| r.0 == p && r.1 == st)
                .map(|r| r.3)
                .sum();
            metrics::gauge!(m::INTEGRATIONS, "platform" => p, "state" => st).set(n as f64);
        }
        for b in m::BREAKER_STATES {
            let n: i64 = rows
                .iter()
                .filter(|r| r.0 == p && r.2 == *b && r.1 != "DELETED")
                .map(|r| r.3)
                .sum();
            metrics::gauge!(m::CIRCUIT_BREAKERS, "platform" => p, "state" => *b).set(n as f64);
        }
    }
    Ok(())
}

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

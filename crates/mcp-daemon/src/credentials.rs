//! Stored credentials over time: refreshing OAuth tokens safely across daemons, the refresh
//! sweep, and the reconnect events of refused refreshes (vault keys: `crate::keys`).
//! Invariants: a refresh token is spent by at most one daemon at a time (a row lock held across
//! the platform call); once a platform has issued new tokens they are stored or retried from
//! memory, never re-requested with the old refresh token.

use mcp_queue::pg::{self, Db};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::integrations::IntegrationState;
use crate::kinds::{Kind, TokenRefresh};
use crate::vault::{Binding, Vault, VaultError, ACCESS_TOKEN_FIELD, REFRESH_TOKEN_FIELD};
use mcp_platforms::connectors::{ConnectorError, Connectors, Credentials, Platform};
use mcp_platforms::oauth::TokenSet;
use mcp_platforms::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored credential of integration {id} ({field}) cannot be read: {source}")]
    Vault {
        id: uuid::Uuid,
        field: &'static str,
        source: VaultError,
    },
    #[error("integration {0} has an unknown platform")]
    UnknownPlatform(uuid::Uuid),
}

/// What a refresh attempt came to.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// New tokens stored; `rotated` when the platform issued a new refresh token.
    Refreshed {
        platform: Platform,
        rotated: bool,
        expires_in: Option<Duration>,
    },
    /// Another daemon holds the token's lock (it is refreshing it now).
    Busy,
    /// Nothing to do: no token row, no refresh token, or the integration is not in service.
    Skipped(&'static str),
    /// The platform refused or failed; nothing was stored.
    Failed {
        platform: Platform,
        error: ConnectorError,
    },
    /// The platform issued new tokens but they could not be stored within the retry window.
    StoreFailed { platform: Platform, error: String },
}

type LockedRow = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<String>,
    String,
    String,
);

/// The token row a refresh locks, with its integration, and how the lock waits.
macro_rules! token_row_sql {
    ($lock:literal) => {
        concat!(
            "SELECT t.access_token_ct, t.refresh_token_ct, t.key_id, i.platform, i.state \
             FROM mcp.oauth_tokens t JOIN core.integrations i ON i.id = t.integration_id \
             WHERE t.integration_id = $1 FOR UPDATE OF t",
            $lock
        )
    };
}
/// The refresh job's: a row locked elsewhere is left alone (exposed for the plan tests).
pub const REFRESH_LOCK_SQL: &str = token_row_sql!(" SKIP LOCKED");

/// The same row, waited for rather than skipped: a job whose call was refused waits for a
/// refresh under way elsewhere and then uses its result.
const REFRESH_WAIT_SQL: &str = token_row_sql!("");

/// What a refresh after a refused call came to.
#[derive(Debug)]
pub enum Renewed {
    /// An access token to call with again: refreshed now, or by another job or daemon since
    /// the refused call read its credentials.
    Fresh(Credentials),
    /// Nothing could be refreshed (no refresh token, not in service, no OAuth).
    Unavailable(&'static str),
    /// The platform refused or failed the refresh; nothing was stored.
    Failed(ConnectorError),
    /// The platform issued new tokens but they could not be stored.
    StoreFailed(String),
}

/// After the platform refused the access token `used` (401 and its platform forms): refresh it
/// once, coalesced with every other job and daemon. The token row is locked and waited for
/// (`FOR UPDATE`): when another holder refreshed it meanwhile, its new access token is
/// returned without a second refresh; else this one refreshes under the lock, as
/// `refresh_token` does.
pub async fn refresh_refused(
    pool: &Db,
    vault: &Vault,
    connectors: &Connectors,
    id: uuid::Uuid,
    used: &Credentials,
    store_retry_for: Duration,
) -> Result<Renewed, CredentialError> {
    let mut tx = pool.begin().await?;
    // A holder is in a platform call bounded by the HTTP client's timeout; never wait forever.
    pg::query("SET LOCAL lock_timeout = '60s'")
        .execute(&mut *tx)
        .await?;
    let row: Option<LockedRow> = pg::query_as(REFRESH_WAIT_SQL)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some((access_ct, refresh_ct, key_id, platform, state)) = row else {
        return Ok(Renewed::Unavailable("no stored token"));
    };
    let record = id.to_string();
    if let (Some(ct), Some(key)) = (&access_ct, &key_id) {
        let current = vault
            .open(key, ct, Binding::new(&record, ACCESS_TOKEN_FIELD))
            .map_err(|source| CredentialError::Vault {
                id,
                field: ACCESS_TOKEN_FIELD,
                source,
            })?;
        let same = matches!(used, Credentials::Bearer(t) if t.expose() == current.expose());
        if !same {
            tx.rollback().await?;
            return Ok(Renewed::Fresh(Credentials::Bearer(current)));
        }
    }
    let with = Refresher::new(pool, vault, connectors, store_retry_for);
    let row = (refresh_ct, key_id, platform, state);
    let (outcome, access) = refresh_locked(tx, with, id, row).await?;
    Ok(match (outcome, access) {
        (RefreshOutcome::Refreshed { .. }, Some(a)) => Renewed::Fresh(Credentials::Bearer(a)),
        (RefreshOutcome::Failed { error, .. }, _) => Renewed::Failed(error),
        (RefreshOutcome::StoreFailed { error, .. }, _) => Renewed::StoreFailed(error),
        (RefreshOutcome::Skipped(why), _) => Renewed::Unavailable(why),
        _ => Renewed::Unavailable("not refreshed"),
    })
}

/// Refreshes one integration's token. The token row is locked (`FOR UPDATE SKIP LOCKED`) before
/// the platform call and stays locked until the new tokens are stored in the same transaction.
pub async fn refresh_token(
    pool: &Db,
    vault: &Vault,
    connectors: &Connectors,
    id: uuid::Uuid,
    store_retry_for: Duration,
) -> Result<RefreshOutcome, CredentialError> {
    let mut tx = pool.begin().await?;
    let row: Option<LockedRow> = pg::query_as(REFRESH_LOCK_SQL)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some((_, refresh_ct, key_id, platform, state)) = row else {
        let exists: bool = pg::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM mcp.oauth_tokens WHERE integration_id = $1)",
        )
        .bind(id)
        .fetch_one(pool)
        .await?;
        return Ok(if exists {
            RefreshOutcome::Busy
        } else {
            RefreshOutcome::Skipped("no stored token")
        });
    };
    let with = Refresher::new(pool, vault, connectors, store_retry_for);
    let row = (refresh_ct, key_id, platform, state);
    Ok(refresh_locked(tx, with, id, row).await?.0)
}

/// The token row's refresh token, its key, the platform and the integration's state.
type Refreshable = (Option<Vec<u8>>, Option<String>, String, String);

/// What a refresh is made with.
#[derive(Clone, Copy)]
struct Refresher<'a> {
    pool: &'a Db,
    vault: &'a Vault,
    connectors: &'a Connectors,
    store_retry_for: Duration,
}

impl<'a> Refresher<'a> {
    fn new(
        pool: &'a Db,
        vault: &'a Vault,
        connectors: &'a Connectors,
        store_retry_for: Duration,
    ) -> Self {
        Refresher {
            pool,
            vault,
            connectors,
            store_retry_for,
        }
    }
}

/// The refresh itself, with the token row locked by `tx`: the new access token comes back
/// beside the outcome when one was stored.
async fn refresh_locked(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    with: Refresher<'_>,
    id: uuid::Uuid,
    (refresh_ct, key_id, platform, state): Refreshable,
) -> Result<(RefreshOutcome, Option<Secret>), CredentialError> {
    let Refresher {
        pool,
        vault,
        connectors,
        store_retry_for,
    } = with;
    let platform = Platform::parse(&platform).ok_or(CredentialError::UnknownPlatform(id))?;
    // Every early return releases the row lock at once (a dropped transaction's rollback is
    // only sent when the pool next touches its connection).
    if !crate::integrations::IntegrationState::parse(&state).is_some_and(|s| s.in_service()) {
        tx.rollback().await?;
        return Ok((RefreshOutcome::Skipped("integration not in service"), None));
    }
    let (Some(refresh_ct), Some(key_id)) = (refresh_ct, key_id) else {
        tx.rollback().await?;
        return Ok((RefreshOutcome::Skipped("no refresh token"), None));
    };
    let connector = connectors.get(platform);
    let Some(spec) = connector.oauth() else {
        tx.rollback().await?;
        return Ok((RefreshOutcome::Skipped("platform has no OAuth"), None));
    };
    let record = id.to_string();
    let old_refresh = vault
        .open(
            &key_id,
            &refresh_ct,
            Binding::new(&record, REFRESH_TOKEN_FIELD),
        )
        .map_err(|source| CredentialError::Vault {
            id,
            field: REFRESH_TOKEN_FIELD,
            source,
        })?;
    let tokens = match mcp_platforms::oauth::refresh(
        connectors.client(),
        platform,
        spec,
        &old_refresh,
    )
    .await
    {
        Ok(t) => t,
        Err(error) => {
            // Release the row now: jobs waiting on it (`refresh_refused`) go on at once.
            let _ = tx.rollback().await;
            return Ok((RefreshOutcome::Failed { platform, error }, None));
        }
    };
    // From here on the old refresh token may be dead: store, or retry the store from memory.
    let rotated = tokens.refresh_token.is_some();
    let keep = tokens.refresh_token.clone().unwrap_or(old_refresh);
    let first = store(&mut tx, vault, id, &tokens, &keep).await;
    let stored = match first {
        Ok(()) => tx.commit().await.map_err(CredentialError::from),
        Err(e) => Err(e),
    };
    if let Err(e) = stored {
        tracing::warn!(integration_id = %id, %platform, error = %e, "storing refreshed tokens failed; retrying with the new tokens held in memory");
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let again = async {
                let mut tx = pool.begin().await?;
                store(&mut tx, vault, id, &tokens, &keep).await?;
                tx.commit().await?;
                Ok::<(), CredentialError>(())
            }
            .await;
            match again {
                Ok(()) => break,
                Err(e) if started.elapsed() >= store_retry_for => {
                    tracing::error!(integration_id = %id, %platform, error = %e, "refreshed tokens could not be stored");
                    return Ok((
                        RefreshOutcome::StoreFailed {
                            platform,
                            error: e.to_string(),
                        },
                        None,
                    ));
                }
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
    Ok((
        RefreshOutcome::Refreshed {
            platform,
            rotated,
            expires_in: tokens.expires_in,
        },
        Some(tokens.access_token),
    ))
}

async fn store(
    tx: &mut sqlx::PgConnection,
    vault: &Vault,
    id: uuid::Uuid,
    tokens: &TokenSet,
    refresh: &Secret,
) -> Result<(), CredentialError> {
    let record = id.to_string();
    let err = |field, source| CredentialError::Vault { id, field, source };
    let (key_id, access_ct) = vault
        .seal(
            tokens.access_token.expose(),
            Binding::new(&record, ACCESS_TOKEN_FIELD),
        )
        .map_err(|e| err(ACCESS_TOKEN_FIELD, e))?;
    let (_, refresh_ct) = vault
        .seal(refresh.expose(), Binding::new(&record, REFRESH_TOKEN_FIELD))
        .map_err(|e| err(REFRESH_TOKEN_FIELD, e))?;
    pg::query(
        "UPDATE mcp.oauth_tokens SET access_token_ct = $2, refresh_token_ct = $3, key_id = $4, \
         updated_at = now() WHERE integration_id = $1",
    )
    .bind(id)
    .bind(access_ct)
    .bind(refresh_ct)
    .bind(key_id)
    .execute(&mut *tx)
    .await?;
    let expires_at = tokens
        .expires_in
        .map(|d| chrono::Utc::now() + chrono::Duration::milliseconds(d.as_millis() as i64));
    pg::query("SELECT mcp.update_token_expiry($1, $2, NULL, $3)")
        .bind(id)
        .bind(expires_at)
        .bind(tokens.scopes.as_deref())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// After a failed refresh: count it and log the error; `reauth` moves the integration to EXPIRED
/// with an event asking the user to reconnect.
pub async fn record_refresh_failure(
    pool: &Db,
    id: uuid::Uuid,
    error: &ConnectorError,
    job_id: i64,
) -> Result<(), CredentialError> {
    let mut tx = pool.begin().await?;
    pg::query(
        "UPDATE mcp.oauth_tokens SET refresh_failures = refresh_failures + 1, updated_at = now() \
         WHERE integration_id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    pg::query(const_format::concatcp!(
        "INSERT INTO mcp.integration_errors (integration_id, workspace_id, platform, error_type, \
             message, http_status, context, job_id) \
         SELECT id, workspace_id, platform, $2, $3, $4, '",
        TokenRefresh::KIND,
        "', $5 FROM core.integrations WHERE id = $1"
    ))
    .bind(id)
    .bind(error.error_type.as_str())
    .bind(error.to_string())
    .bind(error.status.map(i32::from))
    .bind(job_id)
    .execute(&mut *tx)
    .await?;
    let to = match error.action() {
        mcp_platforms::connectors::Action::Reauth => Some(IntegrationState::Expired),
        mcp_platforms::connectors::Action::Revoked => Some(IntegrationState::Revoked),
        _ => None,
    };
    if let Some(to) = to {
        let reason = format!("token refresh refused: {}", error.error_type);
        crate::integrations::refused_by_platform(&mut *tx, id, to, &reason).await?;
        pg::query(
            "INSERT INTO ops.events (workspace_id, integration_id, event_type, payload) \
             SELECT workspace_id, id, 'integration.reconnect_required', \
                    jsonb_build_object('platform', platform, 'reason', $2::text) \
             FROM core.integrations WHERE id = $1",
        )
        .bind(id)
        .bind(&reason)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The refresh sweep's statement (exposed for the plan tests).
pub const REFRESH_SWEEP_SQL: &str = const_format::concatcp!(
    "\
SELECT count(*) FROM ( \
  SELECT array_agg(t.integration_id) AS ids \
  FROM mcp.oauth_tokens t JOIN core.integrations i ON i.id = t.integration_id \
  WHERE t.refresh_token_ct IS NOT NULL \
    AND t.expires_at < now() + $1 * interval '1 millisecond' \
    AND core.state_in_service(i.state)) s, \
  LATERAL mcp.enqueue_many('",
    TokenRefresh::KIND,
    "', s.ids)"
);

/// Enqueues one `token_refresh` per refreshable token that expires within `ahead`, once (a
/// refresh still queued for the same integration is left alone). Returns how many.
pub async fn enqueue_refresh_sweep(pool: &Db, ahead: Duration) -> Result<u64, CredentialError> {
    let n: i64 = pg::query_scalar(REFRESH_SWEEP_SQL)
        .bind(ahead.as_millis() as i64)
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

#[derive(Clone, Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct RefreshConfig {
    /// Tokens are refreshed when they expire within this window (the hourly sweep).
    #[serde(with = "humantime_serde")]
    pub ahead: Duration,
    /// After the platform has answered, how long a failed store of the new tokens is retried
    /// (with the tokens held in memory) before giving up.
    #[serde(with = "humantime_serde")]
    pub store_retry_for: Duration,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        RefreshConfig {
            ahead: Duration::from_secs(24 * 3600),
            store_retry_for: Duration::from_secs(30),
        }
    }
}

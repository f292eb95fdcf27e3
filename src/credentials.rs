//! Stored credentials over time: refreshing OAuth tokens safely across daemons, the refresh
//! sweep, the vault's key registry (key age for the 90-day policy) and key rotation.
//! Invariants: a refresh token is spent by at most one daemon at a time (a row lock held across
//! the platform call); once a platform has issued new tokens they are stored or retried from
//! memory, never re-requested with the old refresh token; rotation re-encrypts in short batches,
//! each its own transaction, so stopping it at any point loses nothing.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::connectors::{ConnectorError, Connectors, Platform};
use crate::oauth::TokenSet;
use crate::secret::Secret;
use crate::vault::{Binding, Vault, VaultError};

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

/// Refreshes one integration's token. The token row is locked (`FOR UPDATE SKIP LOCKED`) before
/// the platform call and stays locked until the new tokens are stored in the same transaction.
pub async fn refresh_token(
    pool: &PgPool,
    vault: &Vault,
    connectors: &Connectors,
    id: uuid::Uuid,
    store_retry_for: Duration,
) -> Result<RefreshOutcome, CredentialError> {
    let mut tx = pool.begin().await?;
    let row: Option<LockedRow> = sqlx::query_as(
        "SELECT t.access_token_ct, t.refresh_token_ct, t.key_id, i.platform, i.state \
         FROM mcp.oauth_tokens t JOIN core.integrations i ON i.id = t.integration_id \
         WHERE t.integration_id = $1 FOR UPDATE OF t SKIP LOCKED",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((_, refresh_ct, key_id, platform, state)) = row else {
        let exists: bool = sqlx::query_scalar(
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
    let platform = Platform::parse(&platform).ok_or(CredentialError::UnknownPlatform(id))?;
    // Every early return releases the row lock at once (a dropped transaction's rollback is
    // only sent when the pool next touches its connection).
    if !crate::integrations::IN_SERVICE.contains(&state.as_str()) {
        tx.rollback().await?;
        return Ok(RefreshOutcome::Skipped("integration not in service"));
    }
    let (Some(refresh_ct), Some(key_id)) = (refresh_ct, key_id) else {
        tx.rollback().await?;
        return Ok(RefreshOutcome::Skipped("no refresh token"));
    };
    let connector = connectors.get(platform);
    let Some(spec) = connector.oauth() else {
        tx.rollback().await?;
        return Ok(RefreshOutcome::Skipped("platform has no OAuth"));
    };
    let record = id.to_string();
    let old_refresh = vault
        .open(&key_id, &refresh_ct, binding(&record, "refresh_token"))
        .map_err(|source| CredentialError::Vault {
            id,
            field: "refresh_token",
            source,
        })?;
    let tokens =
        match crate::oauth::refresh(connectors.client(), platform, spec, &old_refresh).await {
            Ok(t) => t,
            Err(error) => {
                drop(tx);
                return Ok(RefreshOutcome::Failed { platform, error });
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
                    return Ok(RefreshOutcome::StoreFailed {
                        platform,
                        error: e.to_string(),
                    });
                }
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
    Ok(RefreshOutcome::Refreshed {
        platform,
        rotated,
        expires_in: tokens.expires_in,
    })
}

fn binding<'a>(record: &'a str, field: &'a str) -> Binding<'a> {
    Binding { record, field }
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
            binding(&record, "access_token"),
        )
        .map_err(|e| err("access_token", e))?;
    let (_, refresh_ct) = vault
        .seal(refresh.expose(), binding(&record, "refresh_token"))
        .map_err(|e| err("refresh_token", e))?;
    sqlx::query(
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
    sqlx::query("SELECT mcp.update_token_expiry($1, $2, NULL, $3)")
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
    pool: &PgPool,
    id: uuid::Uuid,
    error: &ConnectorError,
    job_id: i64,
) -> Result<(), CredentialError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE mcp.oauth_tokens SET refresh_failures = refresh_failures + 1, updated_at = now() \
         WHERE integration_id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO mcp.integration_errors (integration_id, workspace_id, platform, error_type, \
             message, http_status, context, job_id) \
         SELECT id, workspace_id, platform, $2, $3, $4, 'token_refresh', $5 \
         FROM core.integrations WHERE id = $1",
    )
    .bind(id)
    .bind(error.error_type.as_str())
    .bind(error.to_string())
    .bind(error.status.map(i32::from))
    .bind(job_id)
    .execute(&mut *tx)
    .await?;
    let to = match error.action() {
        crate::connectors::Action::Reauth => Some("EXPIRED"),
        crate::connectors::Action::Revoked => Some("REVOKED"),
        _ => None,
    };
    if let Some(to) = to {
        let reason = format!("token refresh refused: {}", error.error_type);
        sqlx::query(
            "SELECT mcp.transition_integration_state($1, $2, $3) \
             FROM core.integrations WHERE id = $1 AND state IN ('CONNECTED', 'ACTIVE', 'DEGRADED', 'ERROR')",
        )
        .bind(id)
        .bind(to)
        .bind(&reason)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
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

/// Enqueues one `token_refresh` per refreshable token that expires within `ahead`, once (a
/// refresh still queued for the same integration is left alone). Returns how many.
pub async fn enqueue_refresh_sweep(pool: &PgPool, ahead: Duration) -> Result<u64, CredentialError> {
    let done = sqlx::query(
        "INSERT INTO mcp.sync_jobs (kind, integration_id, payload, unique_key) \
         SELECT 'token_refresh', t.integration_id, \
                jsonb_build_object('integration_id', t.integration_id), \
                'token_refresh:' || t.integration_id \
         FROM mcp.oauth_tokens t JOIN core.integrations i ON i.id = t.integration_id \
         WHERE t.refresh_token_ct IS NOT NULL \
           AND t.expires_at < now() + $1 * interval '1 millisecond' \
           AND i.state IN ('CONNECTED', 'ACTIVE', 'DEGRADED', 'ERROR') \
         ON CONFLICT DO NOTHING",
    )
    .bind(ahead.as_millis() as i64)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Records the vault's key ids (first sight) so that every daemon and SQL user knows key ages.
pub async fn register_keys(pool: &PgPool, vault: &Vault) -> Result<(), CredentialError> {
    let ids: Vec<String> = vault.key_ids().into_iter().map(str::to_string).collect();
    sqlx::query(
        "INSERT INTO mcp.vault_keys (key_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(&ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// Samples the credential gauges: earliest token expiry, age of the newest key, keys loaded.
pub async fn sample_gauges(pool: &PgPool, vault: &Vault) -> Result<(), CredentialError> {
    use crate::metrics as m;
    let earliest: Option<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM min(t.expires_at) - now())::float8 \
         FROM mcp.oauth_tokens t JOIN core.integrations i ON i.id = t.integration_id \
         WHERE i.state IN ('CONNECTED', 'ACTIVE', 'DEGRADED', 'ERROR')",
    )
    .fetch_one(pool)
    .await?;
    // No token at all: report a day past the refresh horizon rather than a misleading zero.
    metrics::gauge!(m::TOKEN_EARLIEST_EXPIRY).set(earliest.unwrap_or(7.0 * 86_400.0));
    let age: Option<f64> = match vault.newest_key_id() {
        Some(id) => {
            sqlx::query_scalar(
                "SELECT EXTRACT(EPOCH FROM now() - first_seen_at)::float8 FROM mcp.vault_keys WHERE key_id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        }
        None => None,
    };
    metrics::gauge!(m::VAULT_KEY_AGE).set(age.unwrap_or(0.0));
    metrics::gauge!(m::VAULT_KEYS).set(vault.key_ids().len() as f64);
    Ok(())
}

/// What a rotation did.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct RotateReport {
    pub tokens: u64,
    pub webhook_secrets: u64,
    pub connect_states: u64,
    pub batches: u64,
    /// Secrets still under an older key (non-zero only when stopped by `max_batches`).
    pub remaining: i64,
}

type TokenRow = (uuid::Uuid, Option<Vec<u8>>, Option<Vec<u8>>, String);

/// Re-encrypts every stored secret that is not under the newest key, `batch` rows per
/// transaction. Resumable: each batch commits on its own, and a row is either wholly under its
/// old key (still loaded) or wholly under the new one. `max_batches` stops early (tests).
pub async fn rotate(
    pool: &PgPool,
    vault: &Vault,
    batch: i64,
    max_batches: Option<u64>,
) -> Result<RotateReport, CredentialError> {
    let newest = vault
        .newest_key_id()
        .ok_or_else(|| CredentialError::Vault {
            id: uuid::Uuid::nil(),
            field: "key",
            source: VaultError::NoKey,
        })?
        .to_string();
    register_keys(pool, vault).await?;
    let mut report = RotateReport::default();
    let more = |r: &RotateReport| max_batches.is_none_or(|m| r.batches < m);
    // Tokens.
    while more(&report) {
        let mut tx = pool.begin().await?;
        let rows: Vec<TokenRow> = sqlx::query_as(
            "SELECT integration_id, access_token_ct, refresh_token_ct, key_id FROM mcp.oauth_tokens \
             WHERE key_id <> $1 ORDER BY integration_id LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(&newest)
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            break;
        }
        for (id, access, refresh, old) in &rows {
            let record = id.to_string();
            let re = |ct: &Option<Vec<u8>>,
                      field: &'static str|
             -> Result<Option<Vec<u8>>, CredentialError> {
                let Some(ct) = ct else { return Ok(None) };
                let err = |source| CredentialError::Vault {
                    id: *id,
                    field,
                    source,
                };
                let plain = vault.open(old, ct, binding(&record, field)).map_err(err)?;
                Ok(Some(
                    vault
                        .seal(plain.expose(), binding(&record, field))
                        .map_err(err)?
                        .1,
                ))
            };
            let (a, r) = (re(access, "access_token")?, re(refresh, "refresh_token")?);
            sqlx::query(
                "UPDATE mcp.oauth_tokens SET access_token_ct = $2, refresh_token_ct = $3, key_id = $4 \
                 WHERE integration_id = $1",
            )
            .bind(id)
            .bind(a)
            .bind(r)
            .bind(&newest)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        report.tokens += rows.len() as u64;
        report.batches += 1;
    }
    // Webhook secrets and pending connect states (PKCE verifiers).
    for (table, key_col, ct_col, field) in [
        ("mcp.webhooks", "id", "secret_ct", "webhook_secret"),
        (
            "mcp.oauth_states",
            "state_hash",
            "pkce_verifier_ct",
            "pkce_verifier",
        ),
    ] {
        while more(&report) {
            let n =
                rotate_simple(pool, vault, &newest, batch, table, key_col, ct_col, field).await?;
            if n == 0 {
                break;
            }
            report.batches += 1;
            if table == "mcp.webhooks" {
                report.webhook_secrets += n;
            } else {
                report.connect_states += n;
            }
        }
    }
    report.remaining = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM mcp.oauth_tokens WHERE key_id <> $1) \
              + (SELECT count(*) FROM mcp.webhooks WHERE secret_ct IS NOT NULL AND key_id <> $1) \
              + (SELECT count(*) FROM mcp.oauth_states WHERE pkce_verifier_ct IS NOT NULL AND key_id <> $1)",
    )
    .bind(&newest)
    .fetch_one(pool)
    .await?;
    Ok(report)
}

/// One batch of a one-secret-per-row table; the binding's record is the row key as text (hex
/// for byte keys).
#[allow(clippy::too_many_arguments)]
async fn rotate_simple(
    pool: &PgPool,
    vault: &Vault,
    newest: &str,
    batch: i64,
    table: &str,
    key_col: &str,
    ct_col: &str,
    field: &'static str,
) -> Result<u64, CredentialError> {
    let mut tx = pool.begin().await?;
    let record_expr = if key_col == "state_hash" {
        "encode(state_hash, 'hex')"
    } else {
        "id::text"
    };
    let rows: Vec<(String, Vec<u8>, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {record_expr}, {ct_col}, key_id FROM {table} \
         WHERE {ct_col} IS NOT NULL AND key_id <> $1 LIMIT $2 FOR UPDATE SKIP LOCKED"
    )))
    .bind(newest)
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    for (record, ct, old) in &rows {
        let err = |source| CredentialError::Vault {
            id: uuid::Uuid::nil(),
            field,
            source,
        };
        let plain = vault.open(old, ct, binding(record, field)).map_err(err)?;
        let (_, new_ct) = vault
            .seal(plain.expose(), binding(record, field))
            .map_err(err)?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET {ct_col} = $2, key_id = $3 WHERE {record_expr} = $1"
        )))
        .bind(record)
        .bind(new_ct)
        .bind(newest)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

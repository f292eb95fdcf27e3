//! The vault's keys in the database's view: which key ids exist and since when (key age for
//! the 90-day rotation policy), and rotation: re-encrypting every stored secret under the newest
//! key in short batches, each its own transaction, so stopping it at any point loses nothing.
//! Key material never enters the database; plaintext exists only in memory as `Secret`.

use crate::credentials::CredentialError;
use crate::vault::{Binding, Vault, VaultError, ACCESS_TOKEN_FIELD, REFRESH_TOKEN_FIELD};
use mcp_queue::pg::{self, Db};

/// Records the vault's key ids (first sight) so that every daemon and SQL user knows key ages.
pub async fn register_keys(pool: &Db, vault: &Vault) -> Result<(), CredentialError> {
    let ids: Vec<String> = vault.key_ids().into_iter().map(str::to_string).collect();
    pg::query(
        "INSERT INTO mcp.vault_keys (key_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(&ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// The credential gauges' statements (exposed for the plan tests): the earliest expiry of a
/// token in service, and a key's age.
pub const EARLIEST_EXPIRY_SQL: &str = "\
SELECT EXTRACT(EPOCH FROM min(t.expires_at) - now())::float8 \
FROM mcp.oauth_tokens t JOIN core.integrations i ON i.id = t.integration_id \
WHERE core.state_in_service(i.state)";
pub const KEY_AGE_SQL: &str = "\
SELECT EXTRACT(EPOCH FROM now() - first_seen_at)::float8 FROM mcp.vault_keys WHERE key_id = $1 \
UNION ALL \
SELECT EXTRACT(EPOCH FROM now() - created_at)::float8 FROM mcp.vault_data_keys WHERE id = $1";

/// Samples the credential gauges: earliest token expiry, age of the newest key, keys loaded.
pub async fn sample_gauges(pool: &Db, vault: &Vault) -> Result<(), CredentialError> {
    use crate::metrics as m;
    let earliest: Option<f64> = pg::query_scalar(EARLIEST_EXPIRY_SQL)
        .fetch_one(pool)
        .await?;
    // No token at all: report a day past the refresh horizon rather than a misleading zero.
    metrics::gauge!(m::TOKEN_EARLIEST_EXPIRY).set(earliest.unwrap_or(m::TOKEN_EXPIRY_UNKNOWN_S));
    let age: Option<f64> = match vault.sealing_key_id() {
        Some(id) => {
            pg::query_scalar(KEY_AGE_SQL)
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
    /// Webhook secrets and Notion's verification token.
    pub webhook_secrets: u64,
    pub notification_secrets: u64,
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
    pool: &Db,
    vault: &Vault,
    batch: i64,
    max_batches: Option<u64>,
) -> Result<RotateReport, CredentialError> {
    let newest = vault
        .sealing_key_id()
        .ok_or_else(|| CredentialError::Vault {
            id: uuid::Uuid::nil(),
            field: "key",
            source: VaultError::NoKey,
        })?;
    register_keys(pool, vault).await?;
    let mut report = RotateReport::default();
    let more = |r: &RotateReport| max_batches.is_none_or(|m| r.batches < m);
    // Tokens.
    while more(&report) {
        let mut tx = pool.begin().await?;
        let rows: Vec<TokenRow> = pg::query_as(
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
                let plain = vault
                    .open(old, ct, Binding::new(&record, field))
                    .map_err(err)?;
                Ok(Some(
                    vault
                        .seal(plain.expose(), Binding::new(&record, field))
                        .map_err(err)?
                        .1,
                ))
            };
            let (a, r) = (
                re(access, ACCESS_TOKEN_FIELD)?,
                re(refresh, REFRESH_TOKEN_FIELD)?,
            );
            pg::query(
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
    // (table, record column, ciphertext column, its key id column, binding field); an
    // endpoint's previous secret (still signing during the overlap) moves as its current one.
    for (table, key_col, ct_col, kid_col, field) in [
        (
            "mcp.webhooks",
            "id",
            "secret_ct",
            "key_id",
            "webhook_secret",
        ),
        (
            "mcp.notification_endpoints",
            "id",
            "secret_ct",
            "key_id",
            crate::notify::endpoints::SECRET_FIELD,
        ),
        (
            "mcp.notification_endpoints",
            "id",
            "previous_secret_ct",
            "previous_key_id",
            crate::notify::endpoints::SECRET_FIELD,
        ),
        (
            "mcp.oauth_states",
            "state_hash",
            "pkce_verifier_ct",
            "key_id",
            "pkce_verifier",
        ),
        (
            "mcp.notion_verification",
            "id",
            "token_ct",
            "key_id",
            crate::webhooks::notion::TOKEN_FIELD,
        ),
    ] {
        let cols = Columns {
            table,
            key_col,
            ct_col,
            kid_col,
            field,
        };
        while more(&report) {
            let n = rotate_simple(pool, vault, &newest, batch, &cols).await?;
            if n == 0 {
                break;
            }
            report.batches += 1;
            if table == "mcp.webhooks" || table == "mcp.notion_verification" {
                report.webhook_secrets += n;
            } else if table == "mcp.notification_endpoints" {
                report.notification_secrets += n;
            } else {
                report.connect_states += n;
            }
        }
    }
    report.remaining = pg::query_scalar(
        "SELECT (SELECT count(*) FROM mcp.oauth_tokens WHERE key_id <> $1) \
              + (SELECT count(*) FROM mcp.webhooks WHERE secret_ct IS NOT NULL AND key_id <> $1) \
              + (SELECT count(*) FROM mcp.notification_endpoints WHERE key_id <> $1) \
              + (SELECT count(*) FROM mcp.notification_endpoints \
                 WHERE previous_secret_ct IS NOT NULL AND previous_key_id <> $1) \
              + (SELECT count(*) FROM mcp.oauth_states WHERE pkce_verifier_ct IS NOT NULL AND key_id <> $1) \
              + (SELECT count(*) FROM mcp.notion_verification WHERE key_id <> $1)",
    )
    .bind(&newest)
    .fetch_one(pool)
    .await?;
    Ok(report)
}

/// Where one kind of secret is stored, one per row.
struct Columns {
    table: &'static str,
    /// The row's key: the binding's record (as text; hex for byte keys).
    key_col: &'static str,
    ct_col: &'static str,
    /// The column naming the key the ciphertext is sealed with.
    kid_col: &'static str,
    field: &'static str,
}

/// One batch of a one-secret-per-row table.
async fn rotate_simple(
    pool: &Db,
    vault: &Vault,
    newest: &str,
    batch: i64,
    c: &Columns,
) -> Result<u64, CredentialError> {
    let Columns {
        table,
        key_col,
        ct_col,
        kid_col,
        field,
    } = *c;
    let mut tx = pool.begin().await?;
    let record_expr = if key_col == "state_hash" {
        "encode(state_hash, 'hex')"
    } else {
        "id::text"
    };
    let rows: Vec<(String, Vec<u8>, String)> = pg::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {record_expr}, {ct_col}, {kid_col} FROM {table} \
         WHERE {ct_col} IS NOT NULL AND {kid_col} <> $1 LIMIT $2 FOR UPDATE SKIP LOCKED"
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
        let plain = vault
            .open(old, ct, Binding::new(record, field))
            .map_err(err)?;
        let (_, new_ct) = vault
            .seal(plain.expose(), Binding::new(record, field))
            .map_err(err)?;
        pg::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET {ct_col} = $2, {kid_col} = $3 WHERE {record_expr} = $1"
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

/// The advisory lock under which one daemon makes the next data key.
const DATA_KEY_LOCK: i64 = 0x6d63_705f_646b_6579;

/// Loads (unwraps) every data key this daemon's operator keys can open into the vault; a data
/// key wrapped by an operator key not loaded here is skipped with a warning. Returns how many.
pub async fn load_data_keys(pool: &Db, vault: &Vault) -> Result<usize, CredentialError> {
    type Row = (String, String, Vec<u8>, chrono::DateTime<chrono::Utc>);
    let rows: Vec<Row> = pg::query_as(
        "SELECT id, wrapped_by, wrapped, active_from FROM mcp.vault_data_keys ORDER BY active_from",
    )
    .fetch_all(pool)
    .await?;
    let mut keys = Vec::with_capacity(rows.len());
    for (id, kek, wrapped, active_from) in rows {
        match vault.unwrap_key(&id, &kek, &wrapped) {
            Ok(bytes) => keys.push((id, bytes, active_from)),
            Err(e) => tracing::warn!(data_key = %id, wrapped_by = %kek, error = %e,
                "cannot unwrap a data key: its operator key is not loaded here"),
        }
    }
    let n = keys.len();
    vault.set_data_keys(keys);
    Ok(n)
}

/// Makes the next data key when there is none or the newest is older than `rotate_after`, once
/// across all daemons (an advisory lock, and the check made again under it). It seals from
/// `grace` on. Returns its id when this call made one.
pub async fn ensure_data_key(
    pool: &Db,
    vault: &Vault,
    cfg: &crate::vault::VaultConfig,
) -> Result<Option<String>, CredentialError> {
    if vault.newest_key_id().is_none() {
        return Ok(None);
    }
    let mut tx = pool.begin().await?;
    let locked: bool = pg::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(DATA_KEY_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(None);
    }
    let due: bool = pg::query_scalar(
        "SELECT COALESCE(max(created_at) < now() - $1 * interval '1 millisecond', true) \
         FROM mcp.vault_data_keys",
    )
    .bind(cfg.rotate_after.as_millis() as i64)
    .fetch_one(&mut *tx)
    .await?;
    if !due {
        return Ok(None);
    }
    let id = format!(
        "dk-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        hex::encode(rand::random::<[u8; 4]>())
    );
    let bytes: zeroize::Zeroizing<[u8; 32]> = zeroize::Zeroizing::new(rand::random());
    let err = |source| CredentialError::Vault {
        id: uuid::Uuid::nil(),
        field: crate::vault::DATA_KEY_FIELD,
        source,
    };
    let (kek, wrapped) = vault.wrap(&id, &bytes).map_err(err)?;
    pg::query(
        "INSERT INTO mcp.vault_data_keys (id, wrapped_by, wrapped, active_from) \
         VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')",
    )
    .bind(&id)
    .bind(&kek)
    .bind(&wrapped)
    .bind(cfg.data_key_grace.as_millis() as i64)
    .execute(&mut *tx)
    .await?;
    pg::query(
        "INSERT INTO ops.events (event_type, payload) \
         VALUES ('vault.data_key_created', jsonb_build_object('id', $1::text, 'wrapped_by', $2::text))",
    )
    .bind(&id)
    .bind(&kek)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(data_key = %id, wrapped_by = %kek, "new data key made; it seals after the grace period");
    Ok(Some(id))
}

/// Wraps every data key again under the newest operator key (rotating an operator key touches
/// only these rows). Returns how many.
pub async fn rewrap_data_keys(pool: &Db, vault: &Vault) -> Result<u64, CredentialError> {
    let Some(newest) = vault.newest_key_id().map(str::to_string) else {
        return Ok(0);
    };
    let rows: Vec<(String, String, Vec<u8>)> = pg::query_as(
        "SELECT id, wrapped_by, wrapped FROM mcp.vault_data_keys WHERE wrapped_by <> $1",
    )
    .bind(&newest)
    .fetch_all(pool)
    .await?;
    let mut n = 0;
    for (id, kek, wrapped) in rows {
        let err = |source| CredentialError::Vault {
            id: uuid::Uuid::nil(),
            field: crate::vault::DATA_KEY_FIELD,
            source,
        };
        let bytes = vault.unwrap_key(&id, &kek, &wrapped).map_err(err)?;
        let (by, again) = vault.wrap(&id, &bytes).map_err(err)?;
        n += pg::query(
            "UPDATE mcp.vault_data_keys SET wrapped_by = $3, wrapped = $4 \
             WHERE id = $1 AND wrapped_by = $2",
        )
        .bind(&id)
        .bind(&kek)
        .bind(&by)
        .bind(&again)
        .execute(pool)
        .await?
        .rows_affected();
    }
    Ok(n)
}

/// Deletes the data keys that no secret uses any more and that a newer one has replaced for
/// longer than the grace period (so no daemon still seals with them). Returns their ids.
pub async fn retire_data_keys(
    pool: &Db,
    cfg: &crate::vault::VaultConfig,
) -> Result<Vec<String>, CredentialError> {
    Ok(pg::query_scalar(
        "DELETE FROM mcp.vault_data_keys d \
         WHERE d.active_from < (SELECT max(active_from) FROM mcp.vault_data_keys \
                                WHERE active_from < now() - $1 * interval '1 millisecond') \
           AND NOT EXISTS (SELECT 1 FROM mcp.oauth_tokens t WHERE t.key_id = d.id) \
           AND NOT EXISTS (SELECT 1 FROM mcp.webhooks w WHERE w.key_id = d.id) \
           AND NOT EXISTS (SELECT 1 FROM mcp.oauth_states s WHERE s.key_id = d.id) \
           AND NOT EXISTS (SELECT 1 FROM mcp.notion_verification n WHERE n.key_id = d.id) \
           AND NOT EXISTS (SELECT 1 FROM mcp.notification_endpoints e \
                           WHERE e.key_id = d.id OR e.previous_key_id = d.id) \
         RETURNING d.id",
    )
    .bind(cfg.data_key_grace.as_millis() as i64)
    .fetch_all(pool)
    .await?)
}

/// One round of the daemons' key upkeep: reload the data keys, make the next one when due,
/// re-wrap under the newest operator key, re-encrypt one batch of secrets not under the sealing
/// key, and retire what nothing uses. `true` when more secrets wait for re-encryption.
pub async fn upkeep(
    pool: &Db,
    vault: &Vault,
    cfg: &crate::vault::VaultConfig,
) -> Result<bool, CredentialError> {
    // Without an operator key there is nothing to make, wrap or re-encrypt: said once at
    // start ("no vault key configured"), not at every round.
    if vault.newest_key_id().is_none() {
        return Ok(false);
    }
    load_data_keys(pool, vault).await?;
    if ensure_data_key(pool, vault, cfg).await?.is_some() {
        load_data_keys(pool, vault).await?;
    }
    rewrap_data_keys(pool, vault).await?;
    let r = rotate(pool, vault, cfg.batch.max(1), Some(1)).await?;
    if r.remaining > 0 {
        return Ok(true);
    }
    for id in retire_data_keys(pool, cfg).await? {
        tracing::info!(data_key = %id, "data key retired: no secret uses it any more");
    }
    Ok(false)
}

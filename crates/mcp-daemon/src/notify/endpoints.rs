//! Notification endpoints: add (a fresh `whsec_` secret, sealed; shown once), list, remove,
//! rotate the secret (the old one keeps signing for `secret_overlap`), and a test notification.

use crate::kinds::{Kind, NotifyDeliver};
use base64::Engine;
use mcp_queue::pg::{self, Db};
use rand::RngCore;
use serde::Serialize;
use uuid::Uuid;

use super::{NotifyConfig, CRITICAL_TYPES, OPT_IN_TYPES, TEST_TYPE};
use crate::vault::{Binding, Vault, VaultError};
use mcp_platforms::secret::Secret;

/// The vault field endpoint secrets are bound to (record: the endpoint id).
pub const SECRET_FIELD: &str = "notify_secret";

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Queue(#[from] mcp_queue::QueueError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("endpoint {0} not found")]
    NotFound(Uuid),
    #[error("url must be an http:// or https:// URL with a host")]
    BadUrl,
    #[error("unknown event type `{0}` (known: {known})", known = known_types())]
    UnknownType(String),
    #[error("workspace {0} not found")]
    UnknownWorkspace(Uuid),
    #[error(
        "{0} is a private or loopback address, where deliveries are refused while [notify] \
         allow_private is off: give a public URL, or set [notify] allow_private = true for an \
         endpoint inside your network"
    )]
    PrivateDestination(String),
}

/// Refuses, when the endpoint is added, a URL whose host is (or resolves only to) a private,
/// loopback or special address while `allow_private` is off: every delivery to it would be
/// refused. A name that does not resolve now is taken (it is checked again at each delivery).
pub async fn check_destination(url: &str, allow_private: bool) -> Result<(), NotifyError> {
    if allow_private {
        return Ok(());
    }
    let parsed = url::Url::parse(url).map_err(|_| NotifyError::BadUrl)?;
    let host = parsed.host_str().ok_or(NotifyError::BadUrl)?.to_string();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<std::net::IpAddr> = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map(|a| a.map(|s| s.ip()).collect())
            .unwrap_or_default(),
    };
    if !addrs.is_empty() && addrs.iter().all(|ip| super::address::is_private(*ip)) {
        return Err(NotifyError::PrivateDestination(host));
    }
    Ok(())
}

fn known_types() -> String {
    CRITICAL_TYPES
        .iter()
        .chain(OPT_IN_TYPES)
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

/// An endpoint as people see it: no secret.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Endpoint {
    pub id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub previous_until: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A new signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> Secret {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    Secret::new(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))
}

fn binding(record: &str) -> Binding<'_> {
    Binding {
        record,
        field: SECRET_FIELD,
    }
}

/// Adds an endpoint; returns it and its secret (shown once, then only sealed).
pub async fn add(
    pool: &Db,
    vault: &Vault,
    url: &str,
    workspace: Option<Uuid>,
    event_types: &[String],
) -> Result<(Endpoint, Secret), NotifyError> {
    let parsed = url::Url::parse(url).map_err(|_| NotifyError::BadUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(NotifyError::BadUrl);
    }
    for t in event_types {
        if !CRITICAL_TYPES.contains(&t.as_str()) && !OPT_IN_TYPES.contains(&t.as_str()) {
            return Err(NotifyError::UnknownType(t.clone()));
        }
    }
    if let Some(ws) = workspace {
        if !crate::db::workspace_exists(pool, ws).await? {
            return Err(NotifyError::UnknownWorkspace(ws));
        }
    }
    let id = Uuid::new_v4();
    let secret = new_secret();
    let record = id.to_string();
    let (key_id, ct) = vault.seal(secret.expose(), binding(&record))?;
    let e: Endpoint = pg::query_as(
        "INSERT INTO mcp.notification_endpoints (id, workspace_id, url, event_types, secret_ct, key_id) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING id, workspace_id, url, event_types, enabled, disabled_reason, previous_until, created_at",
    )
    .bind(id)
    .bind(workspace)
    .bind(url)
    .bind(event_types)
    .bind(ct)
    .bind(key_id)
    .fetch_one(pool)
    .await?;
    Ok((e, secret))
}

/// Every endpoint, or only those of `workspace` (not the endpoints of every workspace).
pub async fn list(pool: &Db, workspace: Option<Uuid>) -> Result<Vec<Endpoint>, NotifyError> {
    Ok(pg::query_as(
        "SELECT id, workspace_id, url, event_types, enabled, disabled_reason, previous_until, created_at \
         FROM mcp.notification_endpoints WHERE $1::uuid IS NULL OR workspace_id = $1 \
         ORDER BY created_at, id",
    )
    .bind(workspace)
    .fetch_all(pool)
    .await?)
}

/// Removes an endpoint (its pending deliveries then find nothing and end).
pub async fn remove(pool: &Db, id: Uuid) -> Result<(), NotifyError> {
    let n = pg::query("DELETE FROM mcp.notification_endpoints WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(NotifyError::NotFound(id));
    }
    Ok(())
}

/// A new secret for an endpoint; the old one keeps signing beside it for `secret_overlap`.
/// Also enables a disabled endpoint again. Returns the new secret (shown once).
pub async fn rotate_secret(
    pool: &Db,
    vault: &Vault,
    cfg: &NotifyConfig,
    id: Uuid,
) -> Result<Secret, NotifyError> {
    let secret = new_secret();
    let record = id.to_string();
    let (key_id, ct) = vault.seal(secret.expose(), binding(&record))?;
    let n = pg::query(
        "UPDATE mcp.notification_endpoints SET \
             previous_secret_ct = secret_ct, previous_key_id = key_id, \
             previous_until = now() + $4 * interval '1 millisecond', \
             secret_ct = $2, key_id = $3, enabled = true, disabled_reason = NULL, updated_at = now() \
         WHERE id = $1",
    )
    .bind(id)
    .bind(ct)
    .bind(key_id)
    .bind(cfg.secret_overlap.as_millis() as i64)
    .execute(pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(NotifyError::NotFound(id));
    }
    Ok(secret)
}

/// Sends a `notification.test` to one endpoint (through the queue, like every notification);
/// returns the notification id (its `webhook-id`).
pub async fn test(pool: &Db, id: Uuid) -> Result<Uuid, NotifyError> {
    let mut tx = pool.begin().await?;
    let ws: Option<Option<Uuid>> =
        pg::query_scalar("SELECT workspace_id FROM mcp.notification_endpoints WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let ws = ws.ok_or(NotifyError::NotFound(id))?;
    let n: Uuid = pg::query_scalar(
        "INSERT INTO mcp.notifications (type, workspace_id, occurred_at, data) \
         VALUES ($1, $2, now(), jsonb_strip_nulls(jsonb_build_object('workspace_id', $2::uuid, \
                 'message', 'a test notification'))) RETURNING id",
    )
    .bind(TEST_TYPE)
    .bind(ws)
    .fetch_one(&mut *tx)
    .await?;
    NotifyDeliver {
        notification_id: n,
        endpoint_id: id,
    }
    .enqueue(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// The endpoint's current secret and, within the overlap, the previous one (with its URL and
/// whether it is enabled).
pub async fn secrets(
    pool: &Db,
    vault: &Vault,
    id: Uuid,
) -> Result<Option<(String, bool, Vec<Secret>)>, NotifyError> {
    type Row = (
        String,
        bool,
        Vec<u8>,
        String,
        Option<Vec<u8>>,
        Option<String>,
        bool,
    );
    let row: Option<Row> = pg::query_as(
        "SELECT url, enabled, secret_ct, key_id, previous_secret_ct, previous_key_id, \
                COALESCE(previous_until > now(), false) \
         FROM mcp.notification_endpoints WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some((url, enabled, ct, key, prev_ct, prev_key, prev_live)) = row else {
        return Ok(None);
    };
    let record = id.to_string();
    let mut out = vec![vault.open(&key, &ct, binding(&record))?];
    if let (true, Some(ct), Some(key)) = (prev_live, prev_ct, prev_key) {
        match vault.open(&key, &ct, binding(&record)) {
            Ok(s) => out.push(s),
            // Its key is gone: sign with the current secret alone.
            Err(e) => {
                tracing::warn!(endpoint_id = %id, error = %e, "previous notification secret unreadable")
            }
        }
    }
    Ok(Some((url, enabled, out)))
}

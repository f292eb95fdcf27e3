//! Connecting and disconnecting integrations: the OAuth connect flow (a single-use, expiring
//! state row per started connect; the code exchange with its PKCE verifier; tokens, expiry,
//! state changes and the first health check written in one transaction), API-key connects,
//! disconnects, and the status an operator may see.
//! It must never store a `state` in clear (only its SHA-256), never write anything for a state
//! it has not found unused and unexpired, and never put a token, key or ciphertext into an
//! error, a log line or a status.

use mcp_queue::pg::{self, Db};
use std::time::{Duration, Instant};

use crate::integrations::{self, IntegrationError, IntegrationState};
use crate::vault::{Vault, VaultError};
use mcp_platforms::connectors::{AuthKind, ConnectorError, Connectors, Credentials, Platform};
use mcp_platforms::oauth::{self, OAuthConfig, OAuthError};

pub mod account;
mod oauth_flow;

pub use oauth_flow::{finish, start, state_tag, Finished, Started, PKCE_FIELD};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no such platform `{0}`")]
    UnknownPlatform(String),
    #[error("{0} connects with OAuth: use GET /integrations/connect/{0}")]
    UsesOAuth(Platform),
    #[error("{0} connects with an API key: use POST /integrations/{0}")]
    UsesApiKey(Platform),
    #[error(transparent)]
    NotConfigured(#[from] OAuthError),
    #[error("workspace {0} not found")]
    UnknownWorkspace(uuid::Uuid),
    #[error("integration {0} not found")]
    UnknownIntegration(uuid::Uuid),
    #[error("integration {id} cannot do this in state {state}")]
    WrongState { id: uuid::Uuid, state: String },
    #[error("integration {0} belongs to another workspace or platform")]
    Mismatch(uuid::Uuid),
    #[error("this {0} account is already connected in another workspace")]
    AccountTaken(Platform),
    #[error("unknown, used or expired OAuth state")]
    InvalidState,
    #[error(
        "this connect was started in another browser or session: its cookie (or the `binding` \
         the application passed) is missing or different"
    )]
    NotInitiator,
    #[error("code exchange failed: {0}")]
    Exchange(ConnectorError),
    #[error("stored secret cannot be used: {0}")]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Integration(#[from] IntegrationError),
    #[error(transparent)]
    Queue(#[from] mcp_queue::QueueError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// What the connect flow needs.
#[derive(Clone)]
pub struct Flow<'a> {
    pub pool: &'a Db,
    pub vault: &'a Vault,
    pub connectors: &'a Connectors,
    pub oauth: &'a OAuthConfig,
}

async fn workspace_exists(
    db: impl sqlx::PgExecutor<'_>,
    ws: uuid::Uuid,
) -> Result<(), ConnectError> {
    match crate::db::workspace_exists(db, ws).await? {
        true => Ok(()),
        false => Err(ConnectError::UnknownWorkspace(ws)),
    }
}

/// Records a failed platform call in `mcp.integration_errors` (best effort).
pub async fn record_error(pool: &Db, id: uuid::Uuid, e: &ConnectorError, context: &str) {
    let r = pg::query(
        "INSERT INTO mcp.integration_errors (integration_id, workspace_id, platform, error_type, \
             message, http_status, context) \
         SELECT id, workspace_id, platform, $2, $3, $4, $5 FROM core.integrations WHERE id = $1",
    )
    .bind(id)
    .bind(e.error_type.as_str())
    .bind(&e.message)
    .bind(e.status.map(i32::from))
    .bind(context)
    .execute(pool)
    .await;
    if let Err(db) = r {
        tracing::warn!(integration_id = %id, error = %db, "cannot record an integration error");
    }
}

/// What a disconnect did.
#[derive(Debug, serde::Serialize)]
pub struct Disconnected {
    pub integration_id: uuid::Uuid,
    pub state: String,
    /// Whether the platform confirmed the revocation (false: it has no revoke endpoint, or the
    /// call failed and was recorded in `mcp.integration_errors`).
    pub revoked_at_platform: bool,
    pub cancelled_jobs: u64,
    /// Webhook subscriptions the daemon had made and the platform confirmed removed (all of
    /// them are disabled here either way).
    pub subscriptions_removed: usize,
}

/// Disconnects: revokes the token at the platform where it can (best effort), deletes the
/// stored secrets, moves the integration to REVOKED ("disconnected"), and cancels its pending
/// jobs. Open connects of the integration are closed too.
pub async fn disconnect(f: &Flow<'_>, id: uuid::Uuid) -> Result<Disconnected, ConnectError> {
    let integration = match integrations::load(f.pool, id).await {
        Err(IntegrationError::NotFound(_)) => return Err(ConnectError::UnknownIntegration(id)),
        other => other?,
    };
    // Anything the platform could still revoke, and an integration already revoked (again).
    let state = integration.state;
    if !(state.revocable() || state == IntegrationState::Revoked) {
        return Err(ConnectError::WrongState {
            id,
            state: state.to_string(),
        });
    }
    let target = IntegrationState::Revoked;
    let p = integration.platform;
    // The subscriptions the daemon made go first, while the token still works.
    use crate::webhooks::subscriptions::{unsubscribe_all, Removal};
    let unsubscribed =
        unsubscribe_all(f.pool, f.vault, f.connectors, id, Removal::Disconnect).await?;
    for e in &unsubscribed.failures {
        if let crate::webhooks::renew::RenewError::Platform(ce) = e {
            record_error(f.pool, id, ce, "disconnect: remove webhook subscription").await;
        } else {
            tracing::warn!(integration_id = %id, error = %e, "cannot remove a webhook subscription");
        }
    }
    let mut revoked = false;
    if let Some(spec) = f.connectors.get(p).oauth() {
        if let Ok(Credentials::Bearer(token)) = integrations::credentials(f.pool, f.vault, id).await
        {
            match oauth::revoke(f.connectors.client(), p, spec, &token).await {
                Ok(done) => revoked = done,
                Err(e) => record_error(f.pool, id, &e, "disconnect").await,
            }
        }
    }
    let mut tx = f.pool.begin().await?;
    pg::query("DELETE FROM mcp.oauth_tokens WHERE integration_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    pg::query(
        "UPDATE mcp.oauth_states SET used_at = now() WHERE integration_id = $1 AND used_at IS NULL",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    integrations::transition(&mut *tx, id, target, "disconnected").await?;
    let cancelled = integrations::cancel_jobs(&mut *tx, id, None).await?;
    tx.commit().await?;
    Ok(Disconnected {
        integration_id: id,
        state: target.to_string(),
        revoked_at_platform: revoked,
        cancelled_jobs: cancelled,
        subscriptions_removed: unsubscribed.removed,
    })
}

/// The outcome of an API-key connect.
#[derive(Debug)]
pub struct KeyConnected {
    pub integration_id: uuid::Uuid,
    pub state: String,
    /// The health check's failure, if it failed.
    pub error: Option<ConnectorError>,
}

/// Connects an API-key or Basic platform: the integration is created with the key stored
/// encrypted (PENDING → CONNECTED, one transaction), then the key is checked at once against
/// the platform and the result recorded (→ ACTIVE, or EXPIRED when the key is refused).
pub async fn connect_with_key(
    f: &Flow<'_>,
    p: Platform,
    ws: uuid::Uuid,
    creds: Credentials,
    breaker_threshold: u32,
) -> Result<KeyConnected, ConnectError> {
    let connector = f.connectors.get(p);
    if connector.auth_kind() == AuthKind::OAuth2 {
        return Err(ConnectError::UsesOAuth(p));
    }
    let mut tx = f.pool.begin().await?;
    workspace_exists(&mut *tx, ws).await?;
    let id = integrations::insert(&mut *tx, ws, p).await?;
    integrations::store_credentials(&mut *tx, f.vault, id, &creds, None, None).await?;
    integrations::transition(&mut *tx, id, IntegrationState::Connected, "API key stored").await?;
    tx.commit().await?;
    let started = Instant::now();
    let result = connector.health_check(&creds).await;
    let latency: Duration = started.elapsed();
    if let Some(a) = result.as_ref().ok().and_then(|i| i.account.as_deref()) {
        let a = mcp_platforms::accounts::normalise(p, a);
        let mut tx = f.pool.begin().await?;
        match account::claim(&mut tx, id, p, &a, account::Claim::Connect).await {
            Ok(()) => tx.commit().await?,
            Err(e @ ConnectError::AccountTaken(_)) => {
                drop(tx);
                // Refused: the key is not kept, and the integration says why.
                let mut tx = f.pool.begin().await?;
                pg::query("DELETE FROM mcp.oauth_tokens WHERE integration_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                integrations::transition(&mut *tx, id, IntegrationState::Revoked, &e.to_string())
                    .await?;
                tx.commit().await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
    let recorded = integrations::record_health_check(
        f.pool,
        id,
        result.as_ref().map(|_| ()),
        latency,
        breaker_threshold,
        None,
    )
    .await?;
    Ok(KeyConnected {
        integration_id: id,
        state: recorded.state,
        error: result.err(),
    })
}

/// What an operator may see of an integration: no secret, no ciphertext.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct Status {
    pub id: uuid::Uuid,
    pub workspace_id: uuid::Uuid,
    pub platform: String,
    pub state: String,
    pub state_reason: Option<String>,
    pub health_status: String,
    pub last_health_check: Option<chrono::DateTime<chrono::Utc>>,
    pub consecutive_failures: i32,
    pub circuit_breaker_state: String,
    pub token_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub scopes: Vec<String>,
}

pub async fn status(pool: &Db, id: uuid::Uuid) -> Result<Status, ConnectError> {
    pg::query_as(
        "SELECT i.id, i.workspace_id, i.platform, i.state, i.state_reason, i.health_status, \
                i.last_health_check, i.consecutive_failures, i.circuit_breaker_state, \
                t.expires_at AS token_expires_at, COALESCE(t.scopes, i.scopes) AS scopes \
         FROM core.integrations i LEFT JOIN mcp.oauth_tokens t ON t.integration_id = i.id \
         WHERE i.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(ConnectError::UnknownIntegration(id))
}

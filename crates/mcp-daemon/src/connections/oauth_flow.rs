//! The OAuth half of connecting: starting a connect (state row, encrypted PKCE verifier,
//! AUTHORIZING) and finishing it at the callback (single-use state, code exchange, one
//! transaction for tokens, expiry, state changes and the first health check).
//! It must never store a `state` in clear, nor write anything for a state that is unknown,
//! used, expired, another platform's, or presented without the initiator's binding (the value
//! only the browser or application session that started the connect holds).

use mcp_queue::pg;
use sha2::{Digest, Sha256};

use super::{record_error, workspace_exists, ConnectError, Flow};
use crate::integrations::{self, IntegrationState};
use crate::kinds::{HealthCheck, Kind, Sync, WebhookSubscribe};
use crate::vault::Binding;
use mcp_platforms::connectors::{Connectors, Credentials, Platform};
use mcp_platforms::oauth;
use mcp_platforms::secret::Secret;

/// The vault field of a stored PKCE verifier; its record is the hex of the state's SHA-256.
pub const PKCE_FIELD: &str = "pkce_verifier";

/// States from which a connect may (re)start on an existing integration.
const RECONNECTABLE: [IntegrationState; 5] = [
    IntegrationState::Pending,
    IntegrationState::Authorizing,
    IntegrationState::Revoked,
    IntegrationState::Expired,
    IntegrationState::Error,
];

/// An OAuth platform's spec, or why it has none.
fn oauth_spec(
    c: &Connectors,
    p: Platform,
) -> Result<mcp_platforms::connectors::OAuthSpec, ConnectError> {
    c.get(p).oauth().cloned().ok_or(ConnectError::UsesApiKey(p))
}

/// A started connect: the integration, where to send the user, and the state's tag (the first
/// 16 hex digits of its SHA-256: not a secret, it names the connect's cookie).
#[derive(Debug)]
pub struct Started {
    pub integration_id: uuid::Uuid,
    pub authorize_url: String,
    pub state_tag: String,
}

fn state_hash(state: &str) -> Vec<u8> {
    Sha256::digest(state.as_bytes()).to_vec()
}

/// The tag of a state (see `Started::state_tag`).
pub fn state_tag(state: &Secret) -> String {
    hex::encode(&state_hash(state.expose())[..8])
}

fn binding_hash(binding: &Secret) -> Vec<u8> {
    Sha256::digest(binding.expose().as_bytes()).to_vec()
}

/// Starts a connect: the integration (new, or `reuse` when it may reconnect) goes to
/// AUTHORIZING, and the state's hash, the hash of the initiator's `binding`, the encrypted PKCE
/// verifier, the redirect URI and the expiry are stored. Nothing is written when the platform,
/// workspace or integration is wrong.
pub async fn start(
    f: &Flow<'_>,
    p: Platform,
    ws: uuid::Uuid,
    reuse: Option<uuid::Uuid>,
    binding: &Secret,
) -> Result<Started, ConnectError> {
    let spec = oauth_spec(f.connectors, p)?;
    let redirect_uri = f.oauth.redirect_uri(p);
    let begun = oauth::authorize_url(p, &spec, &redirect_uri)?;
    let hash = state_hash(begun.state.expose());
    let sealed = match &begun.pkce_verifier {
        Some(v) => {
            let record = hex::encode(&hash);
            let binding = Binding {
                record: &record,
                field: PKCE_FIELD,
            };
            Some(f.vault.seal(v.expose(), binding)?)
        }
        None => None,
    };
    let mut tx = f.pool.begin().await?;
    workspace_exists(&mut *tx, ws).await?;
    let id = match reuse {
        Some(id) => {
            let row: Option<(uuid::Uuid, String, String)> = pg::query_as(
                "SELECT workspace_id, platform, state FROM core.integrations WHERE id = $1 \
                 FOR UPDATE",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let (row_ws, row_platform, state) = row.ok_or(ConnectError::UnknownIntegration(id))?;
            if row_ws != ws || row_platform != p.as_str() {
                return Err(ConnectError::Mismatch(id));
            }
            if !IntegrationState::parse(&state).is_some_and(|st| RECONNECTABLE.contains(&st)) {
                return Err(ConnectError::WrongState { id, state });
            }
            id
        }
        None => integrations::insert(&mut *tx, ws, p).await?,
    };
    integrations::transition(
        &mut *tx,
        id,
        IntegrationState::Authorizing,
        "connect started",
    )
    .await?;
    let (key_id, ct) = match sealed {
        Some((k, ct)) => (Some(k), Some(ct)),
        None => (None, None),
    };
    pg::query(
        "INSERT INTO mcp.oauth_states (state_hash, integration_id, workspace_id, platform, \
             redirect_uri, pkce_verifier_ct, key_id, expires_at, binding_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8 * interval '1 millisecond', $9)",
    )
    .bind(&hash)
    .bind(id)
    .bind(ws)
    .bind(p.as_str())
    .bind(&redirect_uri)
    .bind(ct)
    .bind(key_id)
    .bind(f.oauth.state_ttl.as_millis() as i64)
    .bind(binding_hash(binding))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Started {
        integration_id: id,
        authorize_url: begun.url,
        state_tag: hex::encode(&hash[..8]),
    })
}

/// A finished connect.
#[derive(Debug, serde::Serialize)]
pub struct Finished {
    pub integration_id: uuid::Uuid,
    pub state: String,
}

/// The callback: takes the state (single use: it is marked used before anything else, and an
/// unknown, used, expired or other platform's state writes nothing; nor does one presented with
/// another `binding` than the connect's, which leaves the state to its initiator), exchanges the code with the
/// PKCE verifier, then in one transaction stores the tokens, records their expiry, moves
/// AUTHORIZING → CONNECTED → ACTIVE and enqueues the first health check. A failed exchange
/// moves the integration to ERROR with the reason. `workspace`, when given (a caller confined
/// to one workspace), must be the state's: another workspace's state is refused like an unknown
/// one and stays unused.
pub async fn finish(
    f: &Flow<'_>,
    p: Platform,
    code: &Secret,
    state: &Secret,
    binding: Option<&Secret>,
    workspace: Option<uuid::Uuid>,
) -> Result<Finished, ConnectError> {
    let spec = oauth_spec(f.connectors, p)?;
    let hash = state_hash(state.expose());
    let bound = binding.map(binding_hash);
    type Taken = (uuid::Uuid, String, Option<Vec<u8>>, Option<String>);
    let taken: Option<Taken> = pg::query_as(
        "UPDATE mcp.oauth_states SET used_at = now() \
         WHERE state_hash = $1 AND platform = $2 AND used_at IS NULL AND expires_at > now() \
           AND binding_hash = $3 AND ($4::uuid IS NULL OR workspace_id = $4) \
         RETURNING integration_id, redirect_uri, pkce_verifier_ct, key_id",
    )
    .bind(&hash)
    .bind(p.as_str())
    .bind(&bound)
    .bind(workspace)
    .fetch_optional(f.pool)
    .await?;
    let Some((id, redirect_uri, ct, key_id)) = taken else {
        // Say which: a live state without its initiator's binding is another browser's.
        let live: bool = pg::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM mcp.oauth_states WHERE state_hash = $1 AND platform = $2 \
             AND used_at IS NULL AND expires_at > now() AND ($3::uuid IS NULL OR workspace_id = $3))",
        )
        .bind(&hash)
        .bind(p.as_str())
        .bind(workspace)
        .fetch_one(f.pool)
        .await?;
        return Err(if live {
            ConnectError::NotInitiator
        } else {
            ConnectError::InvalidState
        });
    };
    let result = exchange_and_store(f, p, &spec, id, code, &hash, &redirect_uri, ct, key_id).await;
    if let Err(e) = &result {
        // The connect is over; say why on the integration (best effort: it may have moved).
        let reason = format!("connect failed: {e}");
        if let Err(db) =
            integrations::transition(f.pool, id, IntegrationState::Error, &reason).await
        {
            tracing::warn!(integration_id = %id, error = %db, "cannot record a failed connect");
        }
        if let ConnectError::Exchange(ce) = e {
            record_error(f.pool, id, ce, "connect").await;
        }
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn exchange_and_store(
    f: &Flow<'_>,
    p: Platform,
    spec: &mcp_platforms::connectors::OAuthSpec,
    id: uuid::Uuid,
    code: &Secret,
    hash: &[u8],
    redirect_uri: &str,
    ct: Option<Vec<u8>>,
    key_id: Option<String>,
) -> Result<Finished, ConnectError> {
    let verifier = match (ct, key_id) {
        (Some(ct), Some(key_id)) => {
            let record = hex::encode(hash);
            let binding = Binding {
                record: &record,
                field: PKCE_FIELD,
            };
            Some(f.vault.open(&key_id, &ct, binding)?)
        }
        _ => None,
    };
    let tokens = oauth::exchange_code(
        f.connectors.client(),
        p,
        spec,
        code,
        redirect_uri,
        verifier.as_ref(),
    )
    .await
    .map_err(ConnectError::Exchange)?;
    let account = super::account::of_grant(f.connectors, p, &tokens).await;
    let expires_at = tokens
        .expires_in
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| chrono::Utc::now() + d);
    let mut tx = f.pool.begin().await?;
    let creds = Credentials::Bearer(tokens.access_token);
    integrations::store_credentials(
        &mut *tx,
        f.vault,
        id,
        &creds,
        tokens.refresh_token.as_ref(),
        expires_at,
    )
    .await?;
    if let Some(a) = &account {
        super::account::claim(&mut tx, id, p, a, super::account::Claim::Connect).await?;
    }
    pg::query("SELECT mcp.update_token_expiry($1, $2, NULL, $3)")
        .bind(id)
        .bind(expires_at)
        .bind(tokens.scopes)
        .execute(&mut *tx)
        .await?;
    integrations::transition(
        &mut *tx,
        id,
        IntegrationState::Connected,
        "authorized: tokens stored",
    )
    .await?;
    integrations::transition(
        &mut *tx,
        id,
        IntegrationState::Active,
        "authorized: token granted",
    )
    .await?;
    // The first health check proves the token; the first sync fetches everything so far.
    // Its first health check and its first (full) sync, with the connect's other writes.
    let integration_id = id;
    HealthCheck { integration_id }.enqueue(&mut *tx).await?;
    Sync { integration_id }.enqueue(&mut *tx).await?;
    // Its webhook subscriptions, where the daemon makes them (retried as a job).
    if crate::webhooks::subscriptions::SUBSCRIBED_AT_CONNECT.contains(&p) {
        WebhookSubscribe { integration_id }
            .enqueue(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Finished {
        integration_id: id,
        state: IntegrationState::Active.as_str().into(),
    })
}

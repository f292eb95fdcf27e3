//! Workspace API tokens (`mcp.api_tokens`, migration 0016): bearer tokens of the management API
//! that act in one workspace only. A token is made here, shown once to whoever made it, and
//! kept only as its SHA-256; a presented token is found by that hash among the unrevoked ones.
//! This module never stores, logs, returns or puts into an error a token after `create`.

use base64::Engine;
use mcp_queue::pg::{self, Db};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::workspace_exists;
use mcp_platforms::secret::Secret;

/// What every token starts with (so that secret scanners and people recognise one).
pub const PREFIX: &str = "mcpw_";

/// Why a token of the management API or of the MCP server (`assistant::tokens`) was not made,
/// listed or revoked.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("workspace {0} not found")]
    UnknownWorkspace(Uuid),
    #[error("token {0} not found or already revoked")]
    NotFound(Uuid),
    #[error("a token's name must not be empty")]
    EmptyName,
    /// MCP tokens only.
    #[error("unknown scope `{0}` (scopes: read, sync)")]
    UnknownScope(String),
    /// MCP tokens only.
    #[error("an expiry must be in the future")]
    PastExpiry,
}

/// A token as people see it: never the token itself.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The token a presented bearer value was found to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub id: Uuid,
    pub workspace_id: Uuid,
}

/// SHA-256 of a token: what is stored and looked up.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new token: `prefix` and the unpadded base64url of 32 random bytes.
pub fn generate_with(prefix: &str) -> Secret {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    Secret::new(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    ))
}

/// A new workspace API token (`mcpw_…`).
fn generate() -> Secret {
    generate_with(PREFIX)
}

/// Makes a token for `workspace`; returns its row and the token (shown once, then only its
/// hash exists).
pub async fn create(
    pool: &Db,
    workspace: Uuid,
    name: &str,
) -> Result<(ApiToken, Secret), TokenError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(TokenError::EmptyName);
    }
    if !workspace_exists(pool, workspace).await? {
        return Err(TokenError::UnknownWorkspace(workspace));
    }
    let token = generate();
    let row: ApiToken = pg::query_as(
        "INSERT INTO mcp.api_tokens (workspace_id, name, token_sha256) VALUES ($1, $2, $3) \
         RETURNING id, workspace_id, name, created_at, revoked_at",
    )
    .bind(workspace)
    .bind(name)
    .bind(hash(token.expose()).as_slice())
    .fetch_one(pool)
    .await?;
    Ok((row, token))
}

/// Tokens, of one workspace or of all, oldest first; revoked ones only when asked.
pub async fn list(
    pool: &Db,
    workspace: Option<Uuid>,
    with_revoked: bool,
) -> Result<Vec<ApiToken>, TokenError> {
    const SQL: &str = const_format::concatcp!(
        "SELECT id, workspace_id, name, created_at, revoked_at FROM mcp.api_tokens",
        LISTED
    );
    Ok(listed(pool, SQL, workspace, with_revoked).await?)
}

/// How a token table is listed: of workspace `$1` (all when NULL), revoked ones when `$2`,
/// oldest first.
pub(crate) const LISTED: &str = " WHERE ($1::uuid IS NULL OR workspace_id = $1) \
    AND ($2 OR revoked_at IS NULL) ORDER BY created_at, id";

/// The rows of a token table's listing `sql` (its columns and table, then `LISTED`).
pub(crate) async fn listed<T>(
    pool: &Db,
    sql: &'static str,
    workspace: Option<Uuid>,
    with_revoked: bool,
) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    pg::query_as(sql)
        .bind(workspace)
        .bind(with_revoked)
        .fetch_all(pool)
        .await
}

/// Revokes a token: refused from the next request on.
pub async fn revoke(pool: &Db, id: Uuid) -> Result<ApiToken, TokenError> {
    pg::query_as(
        "UPDATE mcp.api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL \
         RETURNING id, workspace_id, name, created_at, revoked_at",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(TokenError::NotFound(id))
}

/// The unrevoked token whose hash is `sha256`, if any.
pub async fn find(pool: &Db, sha256: &[u8; 32]) -> Result<Option<Found>, TokenError> {
    let row: Option<(Uuid, Uuid)> = pg::query_as(
        "SELECT id, workspace_id FROM mcp.api_tokens \
         WHERE token_sha256 = $1 AND revoked_at IS NULL",
    )
    .bind(sha256.as_slice())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, workspace_id)| Found { id, workspace_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hashed_as_stored() {
        let a = generate();
        let b = generate();
        assert!(a.expose().starts_with(PREFIX));
        assert_eq!(a.expose().len(), PREFIX.len() + 43);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(hash(a.expose()), hash(a.expose()));
        assert_ne!(hash(a.expose()), hash(b.expose()));
    }
}

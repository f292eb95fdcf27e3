//! Tokens of the MCP server (`mcp.mcp_tokens`, migration 0024): one workspace each, with scopes
//! (`read`, `sync`) and an optional expiry. Made here and shown once to whoever made it; kept
//! only as their SHA-256. A presented token is found by that hash among the live ones (not
//! revoked, not expired). Nothing here stores, logs, returns or puts into an error a token after
//! `create`.

use chrono::{DateTime, Utc};
use mcp_queue::pg::{self, Db};
use serde::Serialize;
use uuid::Uuid;

pub use crate::api_tokens::TokenError;
use crate::api_tokens::{generate_with, hash, listed, LISTED};
use crate::db::workspace_exists;
use mcp_platforms::secret::Secret;

/// What every MCP token starts with.
pub const PREFIX: &str = "mcpt_";

/// The scopes a token may carry.
pub const SCOPES: [&str; 2] = ["read", "sync"];

/// A token as people see it: never the token itself.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct McpToken {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The live token a presented bearer value was found to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub scopes: Vec<String>,
}

macro_rules! columns {
    () => {
        "id, workspace_id, name, scopes, created_at, expires_at, revoked_at, last_used_at"
    };
}

/// Scopes as given (`read`, `sync`, or both, comma separated); both when none is given.
pub fn parse_scopes(given: &[String]) -> Result<Vec<String>, TokenError> {
    let mut out: Vec<String> = Vec::new();
    for s in given.iter().flat_map(|g| g.split(',')).map(str::trim) {
        if s.is_empty() {
            continue;
        }
        if !SCOPES.contains(&s) {
            return Err(TokenError::UnknownScope(s.to_string()));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    if out.is_empty() {
        out = SCOPES.iter().map(|s| s.to_string()).collect();
    }
    Ok(out)
}

/// Makes a token for `workspace`; returns its row and the token (shown once).
pub async fn create(
    pool: &Db,
    workspace: Uuid,
    name: &str,
    scopes: &[String],
    expires_at: Option<DateTime<Utc>>,
) -> Result<(McpToken, Secret), TokenError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(TokenError::EmptyName);
    }
    if expires_at.is_some_and(|e| e <= Utc::now()) {
        return Err(TokenError::PastExpiry);
    }
    let scopes = parse_scopes(scopes)?;
    if !workspace_exists(pool, workspace).await? {
        return Err(TokenError::UnknownWorkspace(workspace));
    }
    let token = generate_with(PREFIX);
    let row: McpToken = pg::query_as(concat!(
        "INSERT INTO mcp.mcp_tokens (workspace_id, name, token_sha256, scopes, expires_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING ",
        columns!()
    ))
    .bind(workspace)
    .bind(name)
    .bind(hash(token.expose()).as_slice())
    .bind(&scopes)
    .bind(expires_at)
    .fetch_one(pool)
    .await?;
    Ok((row, token))
}

/// Revokes a token (of `workspace` only, when given): refused from the next request on.
pub async fn revoke(pool: &Db, id: Uuid, workspace: Option<Uuid>) -> Result<McpToken, TokenError> {
    pg::query_as(concat!(
        "UPDATE mcp.mcp_tokens SET revoked_at = now() \
         WHERE id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR workspace_id = $2) \
         RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(workspace)
    .fetch_optional(pool)
    .await?
    .ok_or(TokenError::NotFound(id))
}

/// Tokens, of one workspace or of all, oldest first; revoked ones only when asked.
pub async fn list(
    pool: &Db,
    workspace: Option<Uuid>,
    with_revoked: bool,
) -> Result<Vec<McpToken>, TokenError> {
    const SQL: &str =
        const_format::concatcp!("SELECT ", columns!(), " FROM mcp.mcp_tokens", LISTED);
    Ok(listed(pool, SQL, workspace, with_revoked).await?)
}

/// The live token whose hash is that of `presented`, if any; notes its use (at most once a
/// minute, so that a busy assistant does not write a row per call).
pub async fn find(pool: &Db, presented: &str) -> Result<Option<Found>, TokenError> {
    let row: Option<(Uuid, Uuid, Vec<String>)> = pg::query_as(
        "UPDATE mcp.mcp_tokens SET last_used_at = now() \
         WHERE token_sha256 = $1 AND revoked_at IS NULL \
           AND (expires_at IS NULL OR expires_at > now()) \
           AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') \
         RETURNING id, workspace_id, scopes",
    )
    .bind(hash(presented).as_slice())
    .fetch_optional(pool)
    .await?;
    if let Some((id, workspace_id, scopes)) = row {
        return Ok(Some(Found {
            id,
            workspace_id,
            scopes,
        }));
    }
    let row: Option<(Uuid, Uuid, Vec<String>)> = pg::query_as(
        "SELECT id, workspace_id, scopes FROM mcp.mcp_tokens \
         WHERE token_sha256 = $1 AND revoked_at IS NULL \
           AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(hash(presented).as_slice())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, workspace_id, scopes)| Found {
        id,
        workspace_id,
        scopes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_default_to_both_and_unknown_ones_are_refused() {
        assert_eq!(parse_scopes(&[]).unwrap(), vec!["read", "sync"]);
        assert_eq!(parse_scopes(&["read".into()]).unwrap(), vec!["read"]);
        assert_eq!(
            parse_scopes(&["sync, read".into(), "read".into()]).unwrap(),
            vec!["sync", "read"]
        );
        assert!(matches!(
            parse_scopes(&["write".into()]),
            Err(TokenError::UnknownScope(s)) if s == "write"
        ));
    }
}

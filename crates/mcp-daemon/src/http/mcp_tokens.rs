//! `/mcp/tokens` on the management listener, behind the same `auth` as `/integrations/*`:
//! make an MCP token (answered once), list, revoke. The gateway's token acts for any workspace;
//! a workspace token only for its own (another workspace's token is 404 to it). The work is
//! `crate::assistant::tokens`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::api::{self, bad_request, ApiState, Fields};
use super::auth::{Caller, ForbiddenWorkspace};
use crate::assistant::tokens::{self, TokenError};

fn answer(e: TokenError) -> Response {
    let (status, kind) = match &e {
        TokenError::NotFound(_) => (StatusCode::NOT_FOUND, "unknown_token"),
        TokenError::UnknownWorkspace(_) => (StatusCode::NOT_FOUND, "unknown_workspace"),
        TokenError::EmptyName | TokenError::UnknownScope(_) | TokenError::PastExpiry => {
            (StatusCode::BAD_REQUEST, "bad_request")
        }
        TokenError::Db(_) => {
            tracing::error!(error = %e, "MCP token request failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    };
    api::error(status, kind, e.to_string())
}

/// The workspace a request acts in: its token's, or the one the gateway names (naming another
/// than its own is `ForbiddenWorkspace` for a workspace token).
fn workspace_of(
    caller: Caller,
    named: Option<uuid::Uuid>,
) -> Result<Option<uuid::Uuid>, ForbiddenWorkspace> {
    match (caller, named) {
        (Caller::Workspace(w), Some(n)) if n != w => Err(ForbiddenWorkspace),
        (Caller::Workspace(w), _) => Ok(Some(w)),
        (Caller::Gateway, n) => Ok(n),
    }
}

/// `POST /mcp/tokens`: `{"workspace_id", "name"?, "scopes"?, "expires_in_s"?}` → 201 with the
/// token's row and `token` (the only time it is shown).
pub async fn create(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Response> {
    let body = Fields::parse(&body)?;
    let workspace = match workspace_of(caller, body.uuid("workspace_id")?) {
        Ok(Some(w)) => w,
        Ok(None) => return Err(bad_request("workspace_id", "missing")),
        Err(f) => return Err(f.into_response()),
    };
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("assistant");
    let scopes = body.strings("scopes", "must be an array of \"read\" and \"sync\"")?;
    let expires_at = match body.get("expires_in_s") {
        None => None,
        Some(v) => match v.as_u64().filter(|&s| s > 0 && s < 10 * 365 * 86_400) {
            Some(secs) => Some(chrono::Utc::now() + chrono::Duration::seconds(secs as i64)),
            None => {
                return Err(bad_request(
                    "expires_in_s",
                    "must be a number of seconds above 0",
                ))
            }
        },
    };
    let (row, token) = tokens::create(&s.pool, workspace, name, &scopes, expires_at)
        .await
        .map_err(answer)?;
    let mut v = serde_json::to_value(&row).unwrap_or_else(|_| json!({}));
    v["token"] = json!(token.expose());
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    workspace_id: Option<uuid::Uuid>,
    #[serde(default)]
    all: bool,
}

/// `GET /mcp/tokens[?workspace_id=…&all=true]`: the tokens (never the tokens themselves).
pub async fn list(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Response {
    let workspace = match workspace_of(caller, q.workspace_id) {
        Ok(w) => w,
        Err(f) => return f.into_response(),
    };
    match tokens::list(&s.pool, workspace, q.all).await {
        Ok(rows) => Json(json!({"tokens": rows})).into_response(),
        Err(e) => answer(e),
    }
}

/// `DELETE /mcp/tokens/{id}`: revoked from the next request on.
pub async fn revoke(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return bad_request("id", "must be a UUID");
    };
    let workspace = match caller {
        Caller::Workspace(w) => Some(w),
        Caller::Gateway => None,
    };
    match tokens::revoke(&s.pool, id, workspace).await {
        Ok(row) => Json(json!(row)).into_response(),
        Err(e) => answer(e),
    }
}

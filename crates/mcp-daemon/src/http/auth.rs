//! Who calls the management API, and what they may touch. `Authorization: Bearer <token>` is
//! either the gateway's `[http] api_token` (compared in constant time; it acts for every
//! workspace) or a workspace token of `mcp.api_tokens` (found by its SHA-256, unrevoked; it acts
//! in its workspace only). Anything else is 401 before a handler runs. A workspace caller's
//! workspace comes from its token, never from a query string or body: naming another is 403
//! `forbidden_workspace`, and another workspace's integration or endpoint is 404, as if it did
//! not exist. A token is never logged.

use mcp_queue::pg::{self, Db};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::api_tokens;

/// The caller of a management request, put into the request's extensions by `authorize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The gateway's token: every workspace.
    Gateway,
    /// A workspace token: this workspace only.
    Workspace(Uuid),
}

/// What `authorize` checks against.
#[derive(Clone)]
pub struct Keys {
    /// SHA-256 of the gateway's token; None when `http.api_token` is empty.
    pub gateway: Option<[u8; 32]>,
    pub pool: Db,
}

fn json_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, Json(json!({"error": kind, "message": message}))).into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(json!({"error": "unauthorized"})),
    )
        .into_response()
}

/// A workspace token named a workspace other than its own: 403 `forbidden_workspace`.
#[derive(Debug, Clone, Copy)]
pub struct ForbiddenWorkspace;

impl IntoResponse for ForbiddenWorkspace {
    fn into_response(self) -> Response {
        json_error(
            StatusCode::FORBIDDEN,
            "forbidden_workspace",
            "this token acts in its own workspace only",
        )
    }
}

/// 403 for what only the gateway's token may do.
pub fn gateway_only() -> Response {
    json_error(
        StatusCode::FORBIDDEN,
        "forbidden",
        "only the gateway's token (http.api_token) may do this",
    )
}

/// Lets the request through with its `Caller`, or answers 401 (503 when the database cannot
/// say whether a workspace token is valid), before any handler, and so any write, runs.
pub async fn authorize(State(keys): State<Arc<Keys>>, mut req: Request, next: Next) -> Response {
    let Some(token) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
    else {
        return unauthorized();
    };
    let presented = api_tokens::hash(token);
    let caller = if keys
        .gateway
        .is_some_and(|g| bool::from(presented.ct_eq(&g)))
    {
        Caller::Gateway
    } else if !token.starts_with(api_tokens::PREFIX) {
        return unauthorized();
    } else {
        match api_tokens::find(&keys.pool, &presented).await {
            Ok(Some(found)) => Caller::Workspace(found.workspace_id),
            Ok(None) => return unauthorized(),
            Err(e) => {
                tracing::error!(error = %e, "cannot check a workspace API token");
                return json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database does not answer",
                );
            }
        }
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

impl Caller {
    /// The workspace a request acts in, given the one it names (`workspace_id` of its query or
    /// body): the gateway must name one (`Ok(None)` then); a workspace token acts in its own,
    /// whether named or not, and naming another is 403.
    pub fn acting_in(self, named: Option<Uuid>) -> Result<Option<Uuid>, ForbiddenWorkspace> {
        match self {
            Caller::Gateway => Ok(named),
            Caller::Workspace(ws) if named.is_none_or(|n| n == ws) => Ok(Some(ws)),
            Caller::Workspace(_) => Err(ForbiddenWorkspace),
        }
    }

    /// The workspace this caller is confined to (None: every workspace).
    pub fn confined_to(self) -> Option<Uuid> {
        match self {
            Caller::Gateway => None,
            Caller::Workspace(ws) => Some(ws),
        }
    }

    /// Whether this caller may see integration `id`: always for the gateway (the handler then
    /// says whether it exists), only its own workspace's for a workspace token.
    pub async fn sees_integration(self, pool: &Db, id: Uuid) -> Result<bool, sqlx::Error> {
        let Caller::Workspace(ws) = self else {
            return Ok(true);
        };
        let owner: Option<Uuid> =
            pg::query_scalar("SELECT workspace_id FROM core.integrations WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
        Ok(owner == Some(ws))
    }

    /// Whether this caller may see notification endpoint `id`: always for the gateway; for a
    /// workspace token only its workspace's (not the endpoints of every workspace).
    pub async fn sees_endpoint(self, pool: &Db, id: Uuid) -> Result<bool, sqlx::Error> {
        let Caller::Workspace(ws) = self else {
            return Ok(true);
        };
        let owner: Option<Option<Uuid>> =
            pg::query_scalar("SELECT workspace_id FROM mcp.notification_endpoints WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
        Ok(owner.flatten() == Some(ws))
    }
}

/// The answer when the database could not say what a caller may see.
pub fn unavailable(e: &sqlx::Error) -> Response {
    tracing::error!(error = %e, "cannot check what the caller may see");
    json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the database does not answer",
    )
}

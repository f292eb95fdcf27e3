//! `/notifications/endpoints` on the management listener, behind the same `auth` as
//! `/integrations/*` (routes added by `integrations::routes`): add (answers the secret once),
//! list, remove, rotate the secret, send a test. The gateway's token sees every endpoint; a
//! workspace token only its workspace's (it adds endpoints in its own workspace, never one for
//! every workspace; another's, or one for every workspace, is 404 to it). The work is
//! `crate::notify::endpoints`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::api::{self, bad_request, ApiState, Fields};
use super::auth::{self, Caller};
use crate::notify::endpoints::{self as ep, NotifyError};

fn refused(e: &NotifyError) -> Response {
    let (status, kind) = match e {
        NotifyError::NotFound(_) => (StatusCode::NOT_FOUND, "unknown_endpoint"),
        NotifyError::UnknownWorkspace(_) => (StatusCode::NOT_FOUND, "unknown_workspace"),
        NotifyError::BadUrl | NotifyError::UnknownType(_) | NotifyError::PrivateDestination(_) => {
            (StatusCode::BAD_REQUEST, "bad_request")
        }
        NotifyError::Db(_) | NotifyError::Queue(_) | NotifyError::Vault(_) => {
            tracing::error!(error = %e, "notification endpoint request failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    };
    api::error(status, kind, e.to_string())
}

/// The endpoint the path names if the caller may see it; otherwise the answer to give.
async fn visible(s: &ApiState, caller: Caller, id: &str) -> Result<uuid::Uuid, Response> {
    let Ok(id) = uuid::Uuid::parse_str(id) else {
        return Err(bad_request("id", "must be a UUID"));
    };
    match caller.sees_endpoint(&s.pool, id).await {
        Ok(true) => Ok(id),
        Ok(false) => Err(refused(&NotifyError::NotFound(id))),
        Err(e) => Err(auth::unavailable(&e)),
    }
}

/// `POST /notifications/endpoints`: `{"url", "workspace_id"?, "event_types"?}` → 201 with the
/// endpoint and its `secret` (the only time it is shown).
pub async fn add(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Response> {
    let body = Fields::parse(&body)?;
    let Some(url) = body.get("url").and_then(Value::as_str) else {
        return Err(bad_request("url", "missing"));
    };
    let workspace = caller
        .acting_in(body.uuid("workspace_id")?)
        .map_err(IntoResponse::into_response)?;
    let types = body.strings("event_types", "must be an array of strings")?;
    ep::check_destination(url, s.config.notify.allow_private)
        .await
        .map_err(|e| refused(&e))?;
    let (e, secret) = ep::add(&s.pool, &s.vault, url, workspace, &types)
        .await
        .map_err(|e| refused(&e))?;
    let mut v = json!(e);
    v["secret"] = json!(secret.expose());
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `GET /notifications/endpoints`.
pub async fn list(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    match ep::list(&s.pool, caller.confined_to()).await {
        Ok(all) => Json(json!({"endpoints": all})).into_response(),
        Err(e) => refused(&e),
    }
}

/// `DELETE /notifications/endpoints/{id}`.
pub async fn remove(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let id = visible(&s, caller, &id).await?;
    Ok(match ep::remove(&s.pool, id).await {
        Ok(()) => Json(json!({"removed": id})).into_response(),
        Err(e) => refused(&e),
    })
}

/// `POST /notifications/endpoints/{id}/rotate-secret` → the new `secret`, once.
pub async fn rotate_secret(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let id = visible(&s, caller, &id).await?;
    Ok(
        match ep::rotate_secret(&s.pool, &s.vault, &s.config.notify, id).await {
            Ok(secret) => Json(json!({
                "id": id,
                "secret": secret.expose(),
                "previous_signs_for_s": s.config.notify.secret_overlap.as_secs(),
            }))
            .into_response(),
            Err(e) => refused(&e),
        },
    )
}

/// `POST /notifications/endpoints/{id}/test` → 202 with the notification's id (its webhook-id).
pub async fn test(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let id = visible(&s, caller, &id).await?;
    Ok(match ep::test(&s.pool, id).await {
        Ok(n) => (StatusCode::ACCEPTED, Json(json!({"notification_id": n}))).into_response(),
        Err(e) => refused(&e),
    })
}

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

use super::api::ApiState;
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
    (
        status,
        Json(json!({"error": kind, "message": e.to_string()})),
    )
        .into_response()
}

fn bad(field: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "bad_request", "field": field, "message": message})),
    )
        .into_response()
}

/// The endpoint the path names if the caller may see it; otherwise the answer to give.
async fn visible(s: &ApiState, caller: Caller, id: &str) -> Result<uuid::Uuid, Response> {
    let Ok(id) = uuid::Uuid::parse_str(id) else {
        return Err(bad("id", "must be a UUID"));
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
) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return bad("body", "must be a JSON object");
    };
    let Some(url) = body.get("url").and_then(Value::as_str) else {
        return bad("url", "missing");
    };
    let workspace = match body.get("workspace_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(w)) => match uuid::Uuid::parse_str(w) {
            Ok(w) => Some(w),
            Err(_) => return bad("workspace_id", "must be a UUID"),
        },
        Some(_) => return bad("workspace_id", "must be a UUID"),
    };
    let workspace = match caller.acting_in(workspace) {
        Ok(w) => w,
        Err(forbidden) => return forbidden.into_response(),
    };
    let types: Vec<String> = match body.get("event_types") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            let t: Vec<String> = a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            if t.len() != a.len() {
                return bad("event_types", "must be an array of strings");
            }
            t
        }
        Some(_) => return bad("event_types", "must be an array of strings"),
    };
    if let Err(e) = ep::check_destination(url, s.config.notify.allow_private).await {
        return refused(&e);
    }
    match ep::add(&s.pool, &s.vault, url, workspace, &types).await {
        Ok((e, secret)) => {
            let mut v = json!(e);
            v["secret"] = json!(secret.expose());
            (StatusCode::CREATED, Json(v)).into_response()
        }
        Err(e) => refused(&e),
    }
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

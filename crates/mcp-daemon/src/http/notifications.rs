//! `/notifications/endpoints` on the daemon's listener, behind the same bearer token as
//! `/integrations/*` (routes added by `integrations::routes`): add (answers the secret once),
//! list, remove, rotate the secret, send a test. The work is `crate::notify::endpoints`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::integrations::ApiState;
use crate::notify::endpoints::{self as ep, NotifyError};

fn refused(e: &NotifyError) -> Response {
    let (status, kind) = match e {
        NotifyError::NotFound(_) => (StatusCode::NOT_FOUND, "unknown_endpoint"),
        NotifyError::UnknownWorkspace(_) => (StatusCode::NOT_FOUND, "unknown_workspace"),
        NotifyError::BadUrl | NotifyError::UnknownType(_) => {
            (StatusCode::BAD_REQUEST, "bad_request")
        }
        NotifyError::Db(_) | NotifyError::Vault(_) => {
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

fn endpoint_id(v: &str) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(v).ok()
}

/// `POST /notifications/endpoints`: `{"url", "workspace_id"?, "event_types"?}` → 201 with the
/// endpoint and its `secret` (the only time it is shown).
pub async fn add(State(s): State<Arc<ApiState>>, body: Bytes) -> Response {
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
pub async fn list(State(s): State<Arc<ApiState>>) -> Response {
    match ep::list(&s.pool).await {
        Ok(all) => Json(json!({"endpoints": all})).into_response(),
        Err(e) => refused(&e),
    }
}

/// `DELETE /notifications/endpoints/{id}`.
pub async fn remove(State(s): State<Arc<ApiState>>, Path(id): Path<String>) -> Response {
    let Some(id) = endpoint_id(&id) else {
        return bad("id", "must be a UUID");
    };
    match ep::remove(&s.pool, id).await {
        Ok(()) => Json(json!({"removed": id})).into_response(),
        Err(e) => refused(&e),
    }
}

/// `POST /notifications/endpoints/{id}/rotate-secret` → the new `secret`, once.
pub async fn rotate_secret(State(s): State<Arc<ApiState>>, Path(id): Path<String>) -> Response {
    let Some(id) = endpoint_id(&id) else {
        return bad("id", "must be a UUID");
    };
    match ep::rotate_secret(&s.pool, &s.vault, &s.config.notify, id).await {
        Ok(secret) => Json(json!({
            "id": id,
            "secret": secret.expose(),
            "previous_signs_for_s": s.config.notify.secret_overlap.as_secs(),
        }))
        .into_response(),
        Err(e) => refused(&e),
    }
}

/// `POST /notifications/endpoints/{id}/test` → 202 with the notification's id (its webhook-id).
pub async fn test(State(s): State<Arc<ApiState>>, Path(id): Path<String>) -> Response {
    let Some(id) = endpoint_id(&id) else {
        return bad("id", "must be a UUID");
    };
    match ep::test(&s.pool, id).await {
        Ok(n) => (StatusCode::ACCEPTED, Json(json!({"notification_id": n}))).into_response(),
        Err(e) => refused(&e),
    }
}

//! `/integrations/{id}/webhooks` on the management listener (routes added by
//! `integrations::routes`, behind `auth`): register a webhook of its own for an integration
//! (the secret sealed, never returned), list them with the URLs to give the platforms, remove
//! one. A workspace token sees only its workspace's integrations (another's is 404). The work is
//! `crate::webhooks::registration`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::api::{bad_request, error, ApiState, Reject};
use super::auth::{self, Caller};
use crate::config::Config;
use mcp_platforms::secret::Secret;

/// The base of the URLs given to the platforms: `webhooks.public_base`, or the public listener.
pub fn public_base(config: &Config) -> String {
    if config.webhooks.public_base.is_empty() {
        format!("http://{}", config.http.listen)
    } else {
        config.webhooks.public_base.clone()
    }
}

fn webhook_refused(e: &crate::webhooks::WebhookError) -> Response {
    use crate::webhooks::WebhookError as W;
    match e {
        W::UnknownIntegration(_) => {
            error(StatusCode::NOT_FOUND, "unknown_integration", e.to_string())
        }
        W::NoWebhooks(_)
        | W::BadPublicKey
        | W::Missing(_)
        | W::NoPublicBase(_)
        | W::AppLevel { .. } => error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
        W::Db(_) | W::Vault(_) => {
            tracing::error!(error = %e, "webhook registration failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        }
    }
}

fn uuid_path(v: &str, field: &'static str) -> Result<uuid::Uuid, Reject> {
    uuid::Uuid::parse_str(v).map_err(|_| Reject::Field(field, "must be a UUID"))
}

/// The integration of the path, if the caller may see it; the answer to give otherwise (404
/// for another workspace's, as for one that does not exist).
async fn visible(s: &ApiState, caller: Caller, id: &str) -> Result<uuid::Uuid, Response> {
    let id = uuid_path(id, "id").map_err(IntoResponse::into_response)?;
    match caller.sees_integration(&s.pool, id).await {
        Ok(true) => Ok(id),
        Ok(false) => Err(webhook_refused(
            &crate::webhooks::WebhookError::UnknownIntegration(id),
        )),
        Err(e) => Err(auth::unavailable(&e)),
    }
}

/// `POST /integrations/{id}/webhooks`: `{"secret": …}` (Discord: `{"public_key": …}`; Gmail:
/// `{}`; an app-level platform's own app adds `"own_app": true`); answers the webhook with the
/// URL to give the platform. The secret is sealed and never returned.
pub async fn add(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let id = match visible(&s, caller, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return bad_request("body", "must be a JSON object"),
        }
    };
    let field = |k: &'static str| match body.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(v)) if !v.is_empty() => Ok(Some(v.clone())),
        Some(_) => Err(Reject::Field(k, "must be a non-empty string")),
    };
    let (secret, public_key) = match (field("secret"), field("public_key")) {
        (Ok(a), Ok(b)) => (a.map(Secret::new), b),
        (Err(r), _) | (_, Err(r)) => return r.into_response(),
    };
    let own_app = match body.get("own_app") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Reject::Field("own_app", "must be true or false").into_response(),
    };
    let req = crate::webhooks::registration::Request {
        secret: secret.as_ref(),
        public_key: public_key.as_deref(),
        own_app,
    };
    let listen = s.config.http.listen.to_string();
    match crate::webhooks::registration::add(
        &s.pool,
        &s.vault,
        &s.config.webhooks.public_base,
        &listen,
        id,
        req,
    )
    .await
    {
        Ok(w) => {
            tracing::info!(integration_id = %id, webhook_id = %w.id, "webhook registered");
            (StatusCode::CREATED, Json(json!(w))).into_response()
        }
        Err(e) => webhook_refused(&e),
    }
}

/// `GET /integrations/{id}/webhooks`: its webhooks with their URLs, no secret.
pub async fn list(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let id = match visible(&s, caller, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let base = public_base(&s.config);
    match crate::webhooks::registration::list(&s.pool, &base, Some(id)).await {
        Ok(all) => (StatusCode::OK, Json(json!({"webhooks": all}))).into_response(),
        Err(e) => webhook_refused(&e),
    }
}

/// `DELETE /integrations/{id}/webhooks/{webhook_id}`: disabled, its secret erased.
pub async fn remove(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Path((id, webhook_id)): Path<(String, String)>,
) -> Response {
    let webhook_id = match uuid_path(&webhook_id, "webhook_id") {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let id = match visible(&s, caller, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match crate::webhooks::registration::remove(&s.pool, webhook_id, Some(id)).await {
        Ok(true) => (StatusCode::OK, Json(json!({"removed": webhook_id}))).into_response(),
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            "unknown_webhook",
            "no such active webhook",
        ),
        Err(e) => webhook_refused(&e),
    }
}

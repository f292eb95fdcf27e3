//! The integration endpoints on the daemon's listener: connect (OAuth redirect and callback, or
//! an API key), disconnect and status. Every route requires `Authorization: Bearer
//! <http.api_token>` (compared in constant time); the company's gateway adds it, including on the
//! callback it forwards from the user's browser. The work itself is `crate::connections`.
//! A response here must never carry a token, key, state, verifier or ciphertext, and a refused
//! request (401, 400) must write nothing.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics::counter;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::initiator;
use crate::config::Config;
use crate::connections::{self, ConnectError, Flow};
use crate::metrics as m;
use crate::vault::Vault;
use mcp_platforms::connectors::{Connectors, Credentials, Platform};
use mcp_platforms::secret::Secret;

/// What the integration endpoints need.
#[derive(Clone)]
pub struct ApiState {
    pub pool: sqlx::PgPool,
    pub vault: Arc<Vault>,
    pub connectors: Arc<Connectors>,
    pub config: Arc<Config>,
}

impl ApiState {
    fn flow(&self) -> Flow<'_> {
        Flow {
            pool: &self.pool,
            vault: &self.vault,
            connectors: &self.connectors,
            oauth: &self.config.oauth,
        }
    }
}

/// The `/integrations/*` routes, behind the bearer check; `None` when `http.api_token` is empty
/// (the endpoints are then disabled and answer 404).
pub fn routes(state: ApiState) -> Option<Router> {
    if state.config.http.api_token.is_empty() {
        return None;
    }
    let expected: [u8; 32] = Sha256::digest(state.config.http.api_token.expose().as_bytes()).into();
    let state = Arc::new(state);
    Some(
        Router::new()
            .route("/integrations/connect/{platform}", get(connect))
            .route("/integrations/callback/{platform}", get(callback))
            .route("/integrations/{id}/disconnect", post(disconnect))
            .route(
                "/integrations/{id}/webhooks",
                get(list_webhooks).post(add_webhook),
            )
            .route(
                "/integrations/{id}/webhooks/{webhook_id}",
                axum::routing::delete(remove_webhook),
            )
            .route(
                "/notifications/endpoints",
                get(super::notifications::list).post(super::notifications::add),
            )
            .route(
                "/notifications/endpoints/{id}",
                axum::routing::delete(super::notifications::remove),
            )
            .route(
                "/notifications/endpoints/{id}/rotate-secret",
                post(super::notifications::rotate_secret),
            )
            .route(
                "/notifications/endpoints/{id}/test",
                post(super::notifications::test),
            )
            .route(
                "/notion/verification-token",
                get(super::notion::verification_token),
            )
            .route("/integrations/{key}", get(status).post(connect_with_key))
            .route_layer(middleware::from_fn(move |req: Request, next: Next| {
                authorized(expected, req, next)
            }))
            .with_state(state),
    )
}

/// Lets the request through only with the right bearer token; 401 otherwise, before any
/// handler (and so any write) runs.
async fn authorized(expected: [u8; 32], req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let ok = presented.is_some_and(|t| {
        let got: [u8; 32] = Sha256::digest(t.as_bytes()).into();
        bool::from(got.ct_eq(&expected))
    });
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"error": "unauthorized"})),
        )
            .into_response();
    }
    next.run(req).await
}

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": kind, "message": message.into()})),
    )
        .into_response()
}

fn bad_request(field: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "bad_request", "field": field, "message": message})),
    )
        .into_response()
}

/// A request refused before any work: a bad field, or an unknown platform.
enum Reject {
    Field(&'static str, &'static str),
    UnknownPlatform(String),
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        match self {
            Reject::Field(field, message) => bad_request(field, message),
            Reject::UnknownPlatform(name) => refused(&ConnectError::UnknownPlatform(name)),
        }
    }
}

/// A `ConnectError` as a response: its status, a stable `error` and a message safe to show.
fn refused(e: &ConnectError) -> Response {
    use ConnectError as E;
    let (status, kind) = match e {
        E::UnknownPlatform(_) => (StatusCode::NOT_FOUND, "unknown_platform"),
        E::UsesOAuth(_) | E::UsesApiKey(_) => (StatusCode::BAD_REQUEST, "wrong_connect_method"),
        E::NotConfigured(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_configured"),
        E::UnknownWorkspace(_) => (StatusCode::NOT_FOUND, "unknown_workspace"),
        E::UnknownIntegration(_) => (StatusCode::NOT_FOUND, "unknown_integration"),
        E::WrongState { .. } | E::Mismatch(_) => (StatusCode::CONFLICT, "conflict"),
        E::AccountTaken(_) => (StatusCode::CONFLICT, "account_taken"),
        E::InvalidState => (StatusCode::BAD_REQUEST, "invalid_state"),
        E::NotInitiator => (StatusCode::BAD_REQUEST, "not_initiator"),
        E::Exchange(ce) => {
            return (
                StatusCode::BAD_GATEWAY,
                Json(
                    json!({"error": "exchange_failed", "error_type": ce.error_type.as_str(),
                            "message": e.to_string()}),
                ),
            )
                .into_response()
        }
        E::Vault(_) | E::Integration(_) | E::Queue(_) | E::Db(_) => {
            tracing::error!(error = %e, "integration endpoint failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    };
    error(status, kind, e.to_string())
}

fn platform(name: &str) -> Result<Platform, Reject> {
    Platform::parse(name).ok_or_else(|| Reject::UnknownPlatform(name.into()))
}

fn uuid_field(
    q: &HashMap<String, String>,
    field: &'static str,
) -> Result<Option<uuid::Uuid>, Reject> {
    match q.get(field) {
        None => Ok(None),
        Some(v) => uuid::Uuid::parse_str(v)
            .map(Some)
            .map_err(|_| Reject::Field(field, "must be a UUID")),
    }
}

fn count(p: Platform, outcome: &'static str) {
    counter!(m::OAUTH_CONNECTS, "platform" => p.as_str(), "outcome" => outcome).increment(1);
}

async fn connect(
    State(s): State<Arc<ApiState>>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = match platform(&name) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let ws = match uuid_field(&q, "workspace_id") {
        Ok(Some(ws)) => ws,
        Ok(None) => return bad_request("workspace_id", "missing"),
        Err(r) => return r.into_response(),
    };
    let reuse = match uuid_field(&q, "integration_id") {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let chosen = match initiator::choose(&q) {
        Ok(c) => c,
        Err(why) => return bad_request(initiator::FIELD, why),
    };
    match connections::start(&s.flow(), p, ws, reuse, &chosen.binding).await {
        Ok(started) => {
            count(p, "started");
            tracing::info!(integration_id = %started.integration_id, platform = %p, "connect started");
            let to = [(header::LOCATION, started.authorize_url)];
            let resp = (StatusCode::FOUND, to).into_response();
            initiator::with_cookie(resp, &started.state_tag, &chosen, &s.config.oauth)
        }
        Err(e) => refused(&e),
    }
}

async fn callback(
    State(s): State<Arc<ApiState>>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
    Query(mut q): Query<HashMap<String, String>>,
) -> Response {
    let p = match platform(&name) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    // The user refused at the platform: say so; the state stays unused until it expires.
    if let Some(err) = q.get("error") {
        count(p, "denied");
        return error(
            StatusCode::BAD_REQUEST,
            "denied",
            format!("platform answered `{err}`"),
        );
    }
    let Some(state) = q.remove("state").map(Secret::new) else {
        return bad_request("state", "missing");
    };
    let Some(code) = q.remove("code").map(Secret::new) else {
        return bad_request("code", "missing");
    };
    let tag = connections::state_tag(&state);
    let binding = initiator::presented(&q, &headers, &tag);
    match connections::finish(&s.flow(), p, &code, &state, binding.as_ref()).await {
        Ok(done) => {
            count(p, "connected");
            tracing::info!(integration_id = %done.integration_id, platform = %p, "connected");
            let resp = (StatusCode::OK, Json(json!(done))).into_response();
            initiator::cleared(resp, &tag, &s.config.oauth.redirect_base)
        }
        Err(e) => {
            let outcome = match &e {
                ConnectError::InvalidState => "invalid_state",
                ConnectError::NotInitiator => "not_initiator",
                ConnectError::Exchange(_) => "exchange_failed",
                ConnectError::AccountTaken(_) => "account_taken",
                _ => "error",
            };
            count(p, outcome);
            tracing::warn!(platform = %p, outcome, error = %e, "connect callback refused");
            refused(&e)
        }
    }
}

async fn disconnect(State(s): State<Arc<ApiState>>, Path(id): Path<String>) -> Response {
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return bad_request("id", "must be a UUID");
    };
    match connections::disconnect(&s.flow(), id).await {
        Ok(d) => {
            tracing::info!(integration_id = %id, revoked = d.revoked_at_platform, cancelled = d.cancelled_jobs, "disconnected");
            (StatusCode::OK, Json(json!(d))).into_response()
        }
        Err(e) => refused(&e),
    }
}

async fn status(State(s): State<Arc<ApiState>>, Path(id): Path<String>) -> Response {
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return bad_request("id", "must be a UUID");
    };
    match connections::status(&s.pool, id).await {
        Ok(st) => (StatusCode::OK, Json(json!(st))).into_response(),
        Err(e) => refused(&e),
    }
}

/// A string field of a JSON body, or the 400 that names it.
fn text_field(body: &Value, field: &'static str) -> Result<String, Reject> {
    match body.get(field) {
        Some(Value::String(v)) if !v.trim().is_empty() => Ok(v.clone()),
        Some(_) => Err(Reject::Field(field, "must be a non-empty string")),
        None => Err(Reject::Field(field, "missing")),
    }
}

/// `POST /integrations/{platform}`: `{workspace_id, api_key}`, or for ZeroVoice
/// `{workspace_id, account_sid, auth_token}`.
async fn connect_with_key(
    State(s): State<Arc<ApiState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let p = match platform(&name) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("body", "must be a JSON object");
    };
    if !body.is_object() {
        return bad_request("body", "must be a JSON object");
    }
    let parsed = (|| {
        let ws = text_field(&body, "workspace_id")?;
        let ws = uuid::Uuid::parse_str(&ws)
            .map_err(|_| Reject::Field("workspace_id", "must be a UUID"))?;
        let creds = if p == Platform::ZeroVoice {
            Credentials::Basic {
                user: text_field(&body, "account_sid")?,
                secret: Secret::new(text_field(&body, "auth_token")?),
            }
        } else {
            Credentials::ApiKey(Secret::new(text_field(&body, "api_key")?))
        };
        Ok::<_, Reject>((ws, creds))
    })();
    let (ws, creds) = match parsed {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let threshold = s.config.health.breaker_threshold;
    match connections::connect_with_key(&s.flow(), p, ws, creds, threshold).await {
        Ok(done) => {
            tracing::info!(integration_id = %done.integration_id, platform = %p, state = %done.state, "API key connected");
            let mut out = json!({"integration_id": done.integration_id, "state": done.state});
            let status = match (&done.error, done.state.as_str()) {
                (None, _) => StatusCode::CREATED,
                (Some(e), st) => {
                    out["error_type"] = json!(e.error_type.as_str());
                    out["message"] = json!(e.to_string());
                    if matches!(st, "EXPIRED" | "REVOKED") {
                        StatusCode::UNPROCESSABLE_ENTITY
                    } else {
                        StatusCode::BAD_GATEWAY
                    }
                }
            };
            (status, Json(out)).into_response()
        }
        Err(e) => refused(&e),
    }
}

/// The base of the URLs given to the platforms: `webhooks.public_base`, or this listener.
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
        W::NoWebhooks(_) | W::BadPublicKey | W::Missing(_) => {
            error(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
        }
        W::Db(_) | W::Vault(_) => {
            tracing::error!(error = %e, "webhook registration failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        }
    }
}

fn uuid_path(v: &str, field: &'static str) -> Result<uuid::Uuid, Reject> {
    uuid::Uuid::parse_str(v).map_err(|_| Reject::Field(field, "must be a UUID"))
}

/// `POST /integrations/{id}/webhooks`: `{"secret": …}` (Discord: `{"public_key": …}`; Gmail:
/// `{}`); answers the webhook with the URL to give the platform. The secret is sealed and never
/// returned.
async fn add_webhook(
    State(s): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let id = match uuid_path(&id, "id") {
        Ok(v) => v,
        Err(r) => return r.into_response(),
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
    let base = public_base(&s.config);
    match crate::webhooks::registration::add(
        &s.pool,
        &s.vault,
        &base,
        id,
        secret.as_ref(),
        public_key.as_deref(),
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
async fn list_webhooks(State(s): State<Arc<ApiState>>, Path(id): Path<String>) -> Response {
    let id = match uuid_path(&id, "id") {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let base = public_base(&s.config);
    match crate::webhooks::registration::list(&s.pool, &base, Some(id)).await {
        Ok(all) => (StatusCode::OK, Json(json!({"webhooks": all}))).into_response(),
        Err(e) => webhook_refused(&e),
    }
}

/// `DELETE /integrations/{id}/webhooks/{webhook_id}`: disabled, its secret erased.
async fn remove_webhook(
    State(s): State<Arc<ApiState>>,
    Path((id, webhook_id)): Path<(String, String)>,
) -> Response {
    let (id, webhook_id) = match (uuid_path(&id, "id"), uuid_path(&webhook_id, "webhook_id")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(r), _) | (_, Err(r)) => return r.into_response(),
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

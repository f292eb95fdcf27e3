//! The integration endpoints on the management listener: connect (OAuth redirect and callback,
//! or an API key), disconnect and status; `routes` also mounts the webhook registrations
//! (`integration_webhooks.rs`), the notification endpoints (`notifications.rs`) and Notion's
//! verification token (`notion.rs`). Every route is behind `auth`: the gateway's token (every
//! workspace; it adds it on the callback it forwards from the user's browser too) or a workspace
//! token (its workspace only: the workspace of a connect is the token's, another workspace's
//! integration is 404). The work itself is `crate::connections`.
//! A response here must never carry a token, key, state, verifier or ciphertext, and a refused
//! request (401, 403, 400, 404) must write nothing.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use metrics::counter;
use serde_json::{json, Value};

use super::api::{bad_request, error, refused, ApiState, Reject};
use super::auth::{self, Caller};
use super::initiator;
use crate::connections::{self, ConnectError};
use crate::metrics as m;
use mcp_platforms::connectors::{Credentials, Platform};
use mcp_platforms::secret::Secret;

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

/// The integration `id` names if the caller may see it; otherwise the answer to give: 400 for
/// a malformed id, 404 for another workspace's integration (as for one that does not exist).
async fn visible(s: &ApiState, caller: Caller, id: &str) -> Result<uuid::Uuid, Response> {
    let Ok(id) = uuid::Uuid::parse_str(id) else {
        return Err(bad_request("id", "must be a UUID"));
    };
    match caller.sees_integration(&s.pool, id).await {
        Ok(true) => Ok(id),
        Ok(false) => Err(refused(&ConnectError::UnknownIntegration(id))),
        Err(e) => Err(auth::unavailable(&e)),
    }
}

/// `GET /integrations/connect/{platform}?workspace_id=…[&integration_id=…]`: the gateway names
/// the workspace; a workspace token connects in its own (naming another is 403).
pub(super) async fn connect(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = match platform(&name) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let ws = match uuid_field(&q, "workspace_id").map(|named| caller.acting_in(named)) {
        Ok(Ok(Some(ws))) => ws,
        Ok(Ok(None)) => return bad_request("workspace_id", "missing"),
        Ok(Err(forbidden)) => return forbidden.into_response(),
        Err(r) => return r.into_response(),
    };
    if s.config.oauth.redirect_base.is_empty() && s.connectors.get(p).oauth().is_some() {
        // Possible when only workspace tokens are in use (the config requires it with
        // http.api_token): there is nowhere to send the user back to.
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            "oauth.redirect_base is not set",
        );
    }
    let reuse = match uuid_field(&q, "integration_id") {
        Ok(None) => None,
        Ok(Some(id)) => match visible(&s, caller, &id.to_string()).await {
            Ok(id) => Some(id),
            Err(r) => return r,
        },
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

pub(super) async fn callback(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
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
    let confined = caller.confined_to();
    match connections::finish(&s.flow(), p, &code, &state, binding.as_ref(), confined).await {
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

pub(super) async fn disconnect(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let id = visible(&s, caller, &id).await?;
    Ok(match connections::disconnect(&s.flow(), id).await {
        Ok(d) => {
            tracing::info!(integration_id = %id, revoked = d.revoked_at_platform, cancelled = d.cancelled_jobs, "disconnected");
            (StatusCode::OK, Json(json!(d))).into_response()
        }
        Err(e) => refused(&e),
    })
}

pub(super) async fn status(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let id = visible(&s, caller, &id).await?;
    Ok(match connections::status(&s.pool, id).await {
        Ok(st) => (StatusCode::OK, Json(json!(st))).into_response(),
        Err(e) => refused(&e),
    })
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
/// `{workspace_id, account_sid, auth_token}`; a workspace token may leave `workspace_id` out
/// (naming another is 403).
pub(super) async fn connect_with_key(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
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
    let named = match body.get("workspace_id") {
        None => None,
        Some(_) => match text_field(&body, "workspace_id").and_then(|w| {
            uuid::Uuid::parse_str(&w).map_err(|_| Reject::Field("workspace_id", "must be a UUID"))
        }) {
            Ok(ws) => Some(ws),
            Err(r) => return r.into_response(),
        },
    };
    let ws = match caller.acting_in(named) {
        Ok(Some(ws)) => ws,
        Ok(None) => return bad_request("workspace_id", "missing"),
        Err(forbidden) => return forbidden.into_response(),
    };
    let parsed = (|| {
        let creds = if p == Platform::ZeroVoice {
            Credentials::Basic {
                user: text_field(&body, "account_sid")?,
                secret: Secret::new(text_field(&body, "auth_token")?),
            }
        } else {
            Credentials::ApiKey(Secret::new(text_field(&body, "api_key")?))
        };
        Ok::<_, Reject>(creds)
    })();
    let creds = match parsed {
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
                    use crate::integrations::IntegrationState as S;
                    if matches!(S::parse(st), Some(S::Expired | S::Revoked)) {
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

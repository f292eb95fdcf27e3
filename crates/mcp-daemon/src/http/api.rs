//! What every management endpoint shares: the state they are given (`ApiState`), the error
//! answers (`error`, `bad_request`, `Reject`), a `ConnectError` as a response (`refused`) and
//! the reading of a JSON object body (`Fields`).
//! The routes that use them are in `http/mod.rs` (`management`).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::connections::{ConnectError, Flow};
use crate::vault::Vault;
use mcp_platforms::connectors::Connectors;

/// What the integration endpoints need.
#[derive(Clone)]
pub struct ApiState {
    pub pool: mcp_queue::pg::Db,
    pub vault: Arc<Vault>,
    pub connectors: Arc<Connectors>,
    pub config: Arc<Config>,
}

impl ApiState {
    pub(super) fn flow(&self) -> Flow<'_> {
        Flow {
            pool: &self.pool,
            vault: &self.vault,
            connectors: &self.connectors,
            oauth: &self.config.oauth,
        }
    }
}

pub(super) fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": kind, "message": message.into()})),
    )
        .into_response()
}

pub(super) fn bad_request(field: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "bad_request", "field": field, "message": message})),
    )
        .into_response()
}

/// A request refused before any work: a bad field, or an unknown platform.
pub(super) enum Reject {
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
pub(super) fn refused(e: &ConnectError) -> Response {
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

/// A request body that must be a JSON object, read field by field; a field of the wrong type is
/// a 400 naming it.
pub(super) struct Fields(Map<String, Value>);

// The error is the answer itself, given once per request: boxing it would gain nothing.
#[allow(clippy::result_large_err)]
impl Fields {
    pub(super) fn parse(body: &[u8]) -> Result<Fields, Response> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(o)) => Ok(Fields(o)),
            _ => Err(bad_request("body", "must be a JSON object")),
        }
    }

    /// The field's value, `None` when absent or null.
    pub(super) fn get(&self, field: &str) -> Option<&Value> {
        self.0.get(field).filter(|v| !v.is_null())
    }

    /// A UUID field, if given.
    pub(super) fn uuid(&self, field: &'static str) -> Result<Option<uuid::Uuid>, Response> {
        self.get(field)
            .map(|v| {
                v.as_str()
                    .and_then(|w| uuid::Uuid::parse_str(w).ok())
                    .ok_or_else(|| bad_request(field, "must be a UUID"))
            })
            .transpose()
    }

    /// An array of strings (none when not given); otherwise `wrong` is the answer's message.
    pub(super) fn strings(
        &self,
        field: &'static str,
        wrong: &str,
    ) -> Result<Vec<String>, Response> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => Ok(a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()),
            Some(_) => Err(bad_request(field, wrong)),
        }
    }
}

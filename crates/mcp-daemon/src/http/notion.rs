//! `GET /notion/verification-token`, for the gateway's token only (mounted by `integrations.rs`;
//! a workspace token is 403: the token is the app's, not a workspace's):
//! the token Notion's subscription verification request brought, for the operator to paste into
//! Notion (`crate::webhooks::notion`). The only answer that carries it; never cached, never
//! logged.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;

use super::api::ApiState;
use super::auth::{self, Caller};
use crate::webhooks::notion;

pub async fn verification_token(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    if caller != Caller::Gateway {
        return auth::gateway_only();
    }
    match notion::load(&s.pool, &s.vault).await {
        Ok(Some((token, received_at))) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({
                "verification_token": token.expose(),
                "received_at": received_at,
            })),
        )
            .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({
                "error": "not_received",
                "message": "Notion has not sent a verification request to /webhooks/notion yet",
            })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read Notion's verification token");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": "unavailable"})),
            )
                .into_response()
        }
    }
}

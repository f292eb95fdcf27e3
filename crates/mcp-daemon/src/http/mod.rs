//! The daemon's two routers. The public one (`router`, plus the webhook intake of
//! `webhooks.rs`, which the platforms call and which trusts only verified signatures):
//! `/metrics` (Prometheus text), `/healthz` (the process is alive) and `/readyz` (the database
//! answers, its migrations are current, and the daemon is not draining; answered from the
//! readiness probe in `ready.rs`, never by waiting on the database), unauthenticated. The
//! management one (`management`: integrations, their webhooks, notification endpoints,
//! Notion's verification token), behind `auth.rs`, served on a listener of its own and never
//! beside the public intake. Serving them, with their limits, is `crate::listener`.
//! The unauthenticated handlers only read, except the webhook intake, which writes only events
//! whose signature it has verified (and their `webhook_process` jobs), and Notion's unsigned
//! subscription verification token (sealed; nothing else of that request).

pub mod api;
pub mod auth;
pub mod initiator;
pub mod integration_webhooks;
pub mod integrations;
pub mod mcp_tokens;
pub mod notifications;
pub mod notion;
pub mod ready;
pub mod webhooks;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;

pub use api::ApiState;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct AppState {
    readiness: ready::Readiness,
    metrics: PrometheusHandle,
    draining: CancellationToken,
}

/// The public listener's own routes (the webhook intake is merged beside them). `readiness` is
/// the probe `/readyz` answers from. Once `draining` is cancelled, `/readyz` answers 503 (a load
/// balancer stops sending work) while everything else still serves.
pub fn router(
    readiness: ready::Readiness,
    metrics: PrometheusHandle,
    draining: CancellationToken,
) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(Arc::new(AppState {
            readiness,
            metrics,
            draining,
        }))
}

async fn metrics_text(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

async fn ready(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    if s.draining.is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "draining: running jobs are finishing, no new claims\n".to_string(),
        );
    }
    match s.readiness.check() {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

/// The management API: `/integrations/*`, `/notifications/*` and `/notion/verification-token`,
/// every route behind `auth::authorize`. Served on the management listener only.
pub fn management(state: ApiState) -> Router {
    let token = &state.config.http.api_token;
    let keys = Arc::new(auth::Keys {
        gateway: (!token.is_empty()).then(|| crate::api_tokens::hash(token.expose())),
        pool: state.pool.clone(),
    });
    let state = Arc::new(state);
    Router::new()
        .route(
            "/integrations/connect/{platform}",
            get(integrations::connect),
        )
        .route(
            "/integrations/callback/{platform}",
            get(integrations::callback),
        )
        .route(
            "/integrations/{id}/disconnect",
            post(integrations::disconnect),
        )
        .route(
            "/integrations/{id}/webhooks",
            get(integration_webhooks::list).post(integration_webhooks::add),
        )
        .route(
            "/integrations/{id}/webhooks/{webhook_id}",
            axum::routing::delete(integration_webhooks::remove),
        )
        .route(
            "/notifications/endpoints",
            get(notifications::list).post(notifications::add),
        )
        .route(
            "/notifications/endpoints/{id}",
            axum::routing::delete(notifications::remove),
        )
        .route(
            "/notifications/endpoints/{id}/rotate-secret",
            post(notifications::rotate_secret),
        )
        .route(
            "/notifications/endpoints/{id}/test",
            post(notifications::test),
        )
        .route(
            "/mcp/tokens",
            get(mcp_tokens::list).post(mcp_tokens::create),
        )
        .route(
            "/mcp/tokens/{id}",
            axum::routing::delete(mcp_tokens::revoke),
        )
        .route(
            "/notion/verification-token",
            get(notion::verification_token),
        )
        .route(
            "/integrations/{key}",
            get(integrations::status).post(integrations::connect_with_key),
        )
        .route_layer(middleware::from_fn_with_state(keys, auth::authorize))
        .with_state(state)
}

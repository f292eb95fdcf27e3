//! The daemon's HTTP listener: `/metrics` (Prometheus text), `/healthz` (the process is alive)
//! and `/readyz` (the database answers, its migrations are current, and the daemon is not
//! draining; answered from the readiness probe in `ready.rs`, never by waiting on the database),
//! unauthenticated; and the
//! integration endpoints (`integrations.rs`, with `notifications.rs` and `notion.rs`), behind a
//! bearer token; and the webhook intake
//! (`webhooks.rs`), which the platforms call and which trusts only verified signatures.
//! The unauthenticated handlers only read, except the webhook intake, which writes only events
//! whose signature it has verified (and their `webhook_process` jobs), and Notion's unsigned
//! subscription verification token (sealed; nothing else of that request).

pub mod initiator;
pub mod integrations;
pub mod notifications;
pub mod notion;
pub mod ready;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

#[derive(Clone)]
struct AppState {
    readiness: ready::Readiness,
    metrics: PrometheusHandle,
    draining: CancellationToken,
}

/// The listener's routes. `readiness` is the probe `/readyz` answers from. `api` carries what
/// the integration endpoints need; they are mounted only when `http.api_token` is set (otherwise
/// `/integrations/*` answers 404). Once `draining` is cancelled, `/readyz` answers 503 (a load
/// balancer stops sending work) while everything else still serves.
pub fn router(
    readiness: ready::Readiness,
    metrics: PrometheusHandle,
    api: Option<integrations::ApiState>,
    draining: CancellationToken,
) -> Router {
    let base = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(Arc::new(AppState {
            readiness,
            metrics,
            draining,
        }));
    match api.and_then(integrations::routes) {
        Some(api) => base.merge(api),
        None => base,
    }
}

/// Binds `addr` and serves until `stop`; returns the bound address (port 0 picks one).
pub async fn serve(
    addr: &str,
    app: Router,
    stop: CancellationToken,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), HttpError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| HttpError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    // No Nagle delay on answers: a webhook platform waits for each one.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let task = tokio::spawn(async move {
        let shutdown = async move { stop.cancelled().await };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "HTTP listener stopped");
        }
    });
    Ok((local, task))
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

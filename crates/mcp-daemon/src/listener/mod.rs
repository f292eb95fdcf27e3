//! Serving a router on a TCP listener that strangers cannot exhaust: at most `max_connections`
//! open at once (one more is answered 503 and closed at once, and counted), the headers of each
//! request within `header_timeout` (hyper closes the connection without an answer otherwise;
//! an idle keep-alive connection too, since hyper times the wait for the next request's headers
//! from when it starts waiting), the whole request, body and handler included, within
//! `request_timeout` (408). TCP_NODELAY on every connection. On stop it accepts no more, lets
//! the requests in flight finish (idle connections close at once) and returns when every
//! connection has closed.
//! It never reads a body or looks at a route: that is the router's (`crate::http`). `[http]`,
//! the limits and the file-descriptor check live in `config.rs`.

pub mod config;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use metrics::{counter, gauge};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;

pub use config::{ensure_file_limit, FileLimitError, HttpConfig, Limits};

use crate::metrics as m;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// What a connection over the cap is told before it is closed (best effort: one write that
/// never waits).
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\
content-type: text/plain\r\ncontent-length: 25\r\nretry-after: 1\r\n\r\ntoo many open connections";

/// Binds `addr` and serves `app` under `limits` until `stop`; returns the bound address (port
/// 0 picks one) and the task, which ends once every connection has closed.
pub async fn serve(
    addr: &str,
    app: Router,
    limits: Limits,
    stop: CancellationToken,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ListenError> {
    let bind_error = |source| ListenError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    // Every series on the first scrape.
    gauge!(m::HTTP_CONNECTIONS, "listener" => limits.name).increment(0.0);
    counter!(m::HTTP_CONNECTIONS_REFUSED, "listener" => limits.name).increment(0);
    let app = app.layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    let task = tokio::spawn(accept_loop(listener, app, limits, stop));
    Ok((local, task))
}

async fn accept_loop(listener: TcpListener, app: Router, limits: Limits, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.cancelled() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, or the peer gave up before we took it: go on
                // after a pause rather than spin.
                tracing::warn!(listener = limits.name, error = %e, "cannot accept a connection");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    _ = stop.cancelled() => break,
                }
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse(tcp, limits.name);
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let conn = http.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app.clone()));
        let (stop, name) = (stop.clone(), limits.name);
        tokio::spawn(async move {
            gauge!(m::HTTP_CONNECTIONS, "listener" => name).increment(1.0);
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.cancelled() => {
                    // Answer what is in flight, then close; an idle connection closes now.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                // A header timeout, a client that went away, a malformed request: the
                // connection's own business, never the daemon's.
                tracing::debug!(listener = name, %peer, error = %e, "connection ended");
            }
            gauge!(m::HTTP_CONNECTIONS, "listener" => name).decrement(1.0);
            drop(slot);
        });
    }
    drop(listener);
    // Every connection gives its slot back when it ends.
    let _ = slots.acquire_many(limits.max_connections as u32).await;
}

/// A connection over the cap: told so if its socket takes the answer at once, then closed.
fn refuse(tcp: TcpStream, name: &'static str) {
    counter!(m::HTTP_CONNECTIONS_REFUSED, "listener" => name).increment(1);
    let _ = tcp.try_write(BUSY);
    drop(tcp);
}

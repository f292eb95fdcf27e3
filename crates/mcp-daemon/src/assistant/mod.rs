//! The assistant's door: a Model Context Protocol server (docs/MCP.md) with rmcp, the official
//! SDK. Over Streamable HTTP at `POST /mcp` on the public listener (stateless: any daemon
//! answers any request; both the 2026-07-28 revision's `server/discover` and the `initialize`
//! handshake of the earlier ones), behind `auth.rs`; and over stdio (`mcp-worker mcp stdio`)
//! for a desktop assistant that starts it as a command. The tools (`tools.rs`) read what the
//! daemon synced through SQL under row-level security (`queries.rs`), never another
//! workspace's rows; tokens are `tokens.rs`.

pub mod auth;
pub mod config;
pub mod feed;
pub mod queries;
pub mod tokens;
pub mod tools;
pub mod types;

use crate::replica::Reads;
use mcp_queue::pg::Db;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Json, Router};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::CallToolResult;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use config::McpConfig;
use tools::Assistant;

/// Tool calls by tool and outcome (`ok`, `tool_error`, `not_found`, `denied`, `rate_limited`,
/// `unavailable`).
pub const CALLS: &str = "mcp_mcp_calls_total";
/// Tool call durations in seconds, by tool.
pub const DURATION: &str = "mcp_mcp_call_duration_seconds";

/// The tools, as `tools/list` names them.
pub const TOOLS: [&str; 6] = [
    "get_changes",
    "get_item",
    "get_thread",
    "list_integrations",
    "request_sync",
    "search_items",
];
const OUTCOMES: [&str; 6] = [
    "ok",
    "tool_error",
    "not_found",
    "denied",
    "rate_limited",
    "unavailable",
];
const REFUSALS: [&str; 5] = ["missing", "unknown", "jwt", "host", "origin"];

/// Describes the server's series and exports each at zero (so that dashboards and alerts see
/// them before the first call).
pub fn register_metrics() {
    for t in TOOLS {
        for o in OUTCOMES {
            metrics::counter!(CALLS, "tool" => t, "outcome" => o).increment(0);
        }
        let _ = metrics::histogram!(DURATION, "tool" => t);
    }
    for r in REFUSALS {
        metrics::counter!(auth::REFUSED, "reason" => r).increment(0);
    }
    metrics::describe_counter!(CALLS, "MCP tool calls, by tool and outcome.");
    metrics::describe_histogram!(
        DURATION,
        metrics::Unit::Seconds,
        "MCP tool call durations, by tool."
    );
    metrics::describe_counter!(
        auth::REFUSED,
        "MCP requests refused, by reason (missing, unknown, jwt: credentials; host, origin: where it came from)."
    );
}

fn record(tool: &'static str, outcome: &'static str, secs: f64) {
    metrics::counter!(CALLS, "tool" => tool, "outcome" => outcome).increment(1);
    metrics::histogram!(DURATION, "tool" => tool).record(secs);
}

/// A tool error: what went wrong and what to do next, in words an assistant can act on.
#[derive(Debug)]
pub struct Failure {
    pub kind: &'static str,
    pub message: String,
    pub retry_after_s: Option<u64>,
}

impl Failure {
    fn new(kind: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
            retry_after_s: None,
        }
    }
    pub fn invalid(m: impl Into<String>) -> Failure {
        Failure::new("invalid_arguments", m)
    }
    pub fn not_found(m: impl Into<String>) -> Failure {
        Failure::new("not_found", m)
    }
    pub fn denied(m: impl Into<String>) -> Failure {
        Failure::new("denied", m)
    }
    pub fn unavailable(m: impl Into<String>) -> Failure {
        Failure::new("unavailable", m)
    }
    pub fn rate_limited(wait: Duration) -> Failure {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        Failure {
            kind: "rate_limited",
            message: format!(
                "too many calls with this token: wait {secs} s (retry_after_s), then call again"
            ),
            retry_after_s: Some(secs),
        }
    }

    fn outcome(&self) -> &'static str {
        match self.kind {
            "invalid_arguments" | "cursor_expired" => "tool_error",
            k => k,
        }
    }

    fn into_result(self) -> CallToolResult {
        let mut v = json!({"error": self.kind, "message": self.message});
        if let Some(s) = self.retry_after_s {
            v["retry_after_s"] = json!(s);
        }
        CallToolResult::structured_error(v)
    }
}

/// Database errors become tool errors: a bad argument the SQL refused says so; an expired
/// feed cursor says to start again; anything else is the server's, said without its details.
impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Failure {
        if let sqlx::Error::Database(d) = &e {
            match d.code().as_deref() {
                Some("MCP01") => {
                    return Failure::new(
                        "cursor_expired",
                        "this cursor is older than the changes kept: start again from a fresh \
                         search (search_items), then call get_changes without a cursor",
                    )
                }
                Some("22023") | Some("22P02") | Some("22007") | Some("22008") => {
                    let m = d.message().trim_start_matches("mcp.").to_string();
                    return Failure::invalid(m);
                }
                _ => {}
            }
        }
        tracing::warn!(error = %e, "MCP tool query failed");
        Failure::unavailable("the server could not answer this time; try again shortly")
    }
}

/// Each caller's token bucket (`[mcp] calls_per_minute`, `burst`), in this daemon.
pub struct Limiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    pub fn new(calls_per_minute: u32, burst: u32) -> Limiter {
        Limiter {
            per_sec: f64::from(calls_per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a call for `caller`; how long to wait when none is left.
    pub fn take(&self, caller: &str) -> Option<Duration> {
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if b.len() > 100_000 {
            b.retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(600));
        }
        let (tokens, at) = b.entry(caller.to_string()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_sec).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - *tokens) / self.per_sec))
        }
    }
}

/// What every request's server shares.
pub struct Inner {
    pool: Db,
    /// Where the reading tools read: `database.read_url`'s replica while it keeps up, or `pool`.
    reads: Reads,
    max_result_chars: usize,
    limiter: Limiter,
    /// stdio's caller (HTTP callers come with each request).
    fixed: Option<auth::Access>,
    router: ToolRouter<Assistant>,
}

impl Inner {
    fn new(pool: Db, reads: Reads, cfg: &McpConfig, fixed: Option<auth::Access>) -> Arc<Inner> {
        Arc::new(Inner {
            pool,
            reads,
            max_result_chars: cfg.max_result_chars,
            limiter: Limiter::new(cfg.calls_per_minute, cfg.burst),
            fixed,
            router: Assistant::router(),
        })
    }
}

/// `POST /mcp` (and its RFC 9728 document) for the public listener.
pub fn routes(
    pool: Db,
    reads: Reads,
    cfg: &McpConfig,
    public_base: &str,
    stop: CancellationToken,
) -> Result<Router, auth::AuthSetupError> {
    let inner = Inner::new(pool.clone(), reads, cfg, None);
    let auth = Arc::new(auth::AuthState::new(pool, cfg, public_base)?);
    let server = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(cfg.hosts(public_base))
        .with_allowed_origins(cfg.origins(public_base))
        .enforce_origin_validation()
        .with_cancellation_token(stop);
    let service = StreamableHttpService::new(
        move || Ok(Assistant::new(inner.clone())),
        LocalSessionManager::default().into(),
        server,
    );
    let doc = auth.metadata().clone();
    let well_known = Router::new()
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get({
                let doc = doc.clone();
                move || async move { Json(doc) }
            }),
        )
        .route(
            "/.well-known/oauth-protected-resource",
            get(move || async move { Json(doc) }),
        );
    let mcp = Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(auth, auth::authorize));
    Ok(mcp.merge(well_known))
}

/// Serves the tools over stdin/stdout for one workspace until the client closes them. Boxed,
/// so that the command line polls it through a pointer instead of compiling the MCP SDK's
/// server again (rustc builds an async function's body in each crate that awaits it).
#[inline(never)]
pub fn serve_stdio(
    pool: Db,
    reads: Reads,
    cfg: &McpConfig,
    workspace: Uuid,
) -> futures::future::BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(serve_stdio_unboxed(pool, reads, cfg.clone(), workspace))
}

async fn serve_stdio_unboxed(
    pool: Db,
    reads: Reads,
    cfg: McpConfig,
    workspace: Uuid,
) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let access = auth::Access {
        workspace,
        caller: format!("stdio:{workspace}"),
        scopes: tokens::SCOPES.iter().map(|s| s.to_string()).collect(),
    };
    let server = Assistant::new(Inner::new(pool, reads, &cfg, Some(access)));
    let running = server.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_past_its_burst_waits_and_others_do_not() {
        let l = Limiter::new(60, 3);
        assert!(l.take("a").is_none());
        assert!(l.take("a").is_none());
        assert!(l.take("a").is_none());
        let wait = l.take("a").expect("a's burst is spent");
        assert!(wait > Duration::from_millis(500) && wait <= Duration::from_secs(1));
        assert!(l.take("b").is_none(), "b has its own bucket");
        let f = Failure::rate_limited(wait);
        assert_eq!(f.retry_after_s, Some(1));
    }
}

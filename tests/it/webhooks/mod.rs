//! The webhook intake end to end: the real router on loopback, a real database, deliveries
//! signed as each platform signs them (fixtures: `mcp_testkit::webhooks`).

pub use mcp_testkit::webhooks::*;

mod app_level;
mod cli;
mod documented;
mod gmail_keys;
mod handshakes;
pub(crate) mod intake;
mod monday_secret;
mod notion_verification;
mod outlook_dedup;
mod replay;
mod signed;

use mcp_platforms::connectors::Platform;

/// Signs `body` with `secret` as `p` signs its deliveries and posts it to `path` as JSON.
pub async fn deliver(env: &Env, p: Platform, secret: &str, path: &str, body: &[u8]) -> Reply {
    let headers = sign(p, secret, body, now(), path);
    env.post(path, "application/json", &headers, body).await
}

/// Waits (up to 20 s) until `sql`, a boolean query, is true.
pub async fn settle(env: &Env, sql: &str) {
    env.db
        .wait_until(sql, std::time::Duration::from_secs(20))
        .await;
}

/// A fresh intake with one webhook of `p`: the intake, the webhook's path and `p`'s secret.
pub async fn hooked(p: Platform) -> (Env, String, String) {
    let env = env().await;
    let path = env.hook(p).await;
    (env, path, secret_of(p))
}

/// [`hooked`] with the webhook's integration made ACTIVE: also the integration's id.
pub async fn hooked_active(p: Platform) -> (Env, String, String, uuid::Uuid) {
    let (env, path, secret) = hooked(p).await;
    let integration = env.activate(&path).await;
    (env, path, secret, integration)
}

/// Checks a delivery's answer and what the intake holds (events, jobs) after it.
pub async fn assert_stored(env: &Env, r: &Reply, status: u16, counts: (i64, i64), what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    assert_eq!(env.counts().await, counts, "{what}");
}

/// Stops the worker, then tears the intake down.
pub async fn finish_with(env: Env, worker: mcp_queue::worker::RunningWorker) {
    worker.shutdown().await;
    env.finish().await;
}

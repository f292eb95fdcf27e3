//! Notification deliveries never go through a proxy: behind `HTTP(S)_PROXY` the destination's
//! name would reach the proxy instead of the guarded resolver that refuses private addresses.
//! Proxy settings are the process's, so the delivery runs in a child process (this test binary
//! running only `probe`) with them set, against a listener standing in for the proxy.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mcp_daemon::notify::endpoints as ep;

use crate::common::{test_vault, TestDb};

#[tokio::test]
async fn a_delivery_never_goes_through_the_environments_proxy() {
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = proxy.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let task = tokio::spawn(async move {
        while let Ok((conn, _)) = proxy.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    let proxy_url = format!("http://{addr}");
    let out = tokio::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["notify_proxy::probe", "--exact", "--ignored", "--nocapture"])
        .env("MCP_PROXY_PROBE", "1")
        .env("HTTP_PROXY", &proxy_url)
        .env("HTTPS_PROXY", &proxy_url)
        .env("ALL_PROXY", &proxy_url)
        .env("http_proxy", &proxy_url)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .await
        .expect("child");
    task.abort();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the probe ran: {text}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the proxy was asked: {text}"
    );
}

/// Run by the test above in a child process with a proxy in its environment: a delivery to a
/// name that resolves to a loopback address is refused without reaching the proxy.
#[tokio::test]
#[ignore = "run in a child process by a_delivery_never_goes_through_the_environments_proxy"]
async fn probe() {
    if std::env::var("MCP_PROXY_PROBE").is_err() {
        return;
    }
    let db = TestDb::new().await;
    let vault = test_vault();
    let (endpoint, _) = ep::add(&db.pool, &vault, "http://localhost:9/hook", None, &[])
        .await
        .expect("add");
    let n = ep::test(&db.pool, endpoint.id)
        .await
        .expect("test notification");
    let strict = mcp_daemon::notify::Deliverer::new(&mcp_daemon::notify::NotifyConfig::default())
        .expect("client");
    let out = strict
        .deliver(&db.pool, &vault, n, endpoint.id)
        .await
        .expect("deliver");
    assert!(
        !matches!(out, mcp_daemon::notify::Delivery::Delivered { .. }),
        "{out:?}"
    );
    db.drop_db().await;
}

//! `mcp-worker-lab bench --suite oauth`: OAuth connects end to end through the real daemon (a child
//! process) against the sandbox on loopback. Each round trip is what the gateway and the user's
//! browser do: `GET /integrations/connect/{platform}` (302 to the platform), the platform's
//! authorize page (302 back with code and state), then the callback forwarded to the daemon,
//! which answers once the integration is ACTIVE. Prints the median and p99 in ms; asserts
//! nothing.

use std::time::Instant;

use anyhow::{bail, Context};

use crate::bench::{machine, BenchArgs};
use mcp_daemon::vault::Vault;
use mcp_platforms::connectors::Platform;

/// The OAuth platforms the round trips cycle through.
const PLATFORMS: [Platform; 4] = [
    Platform::Gmail,
    Platform::Slack,
    Platform::Notion,
    Platform::Zoom,
];

#[derive(Debug, Default, serde::Serialize)]
pub struct OAuthReport {
    pub machine: String,
    pub round_trips: u32,
    pub median_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub async fn measure(args: &BenchArgs, db_url: &str) -> anyhow::Result<OAuthReport> {
    let n = args.oauth_round_trips.max(1);
    let sandbox = mcp_sandbox::start("127.0.0.1:0").await?;
    let keys = crate::bench::health::bench_keys()?;
    let token = Vault::generate_key();
    let redirect_base = "https://gateway.bench.invalid/mcp";
    let extra = format!(
        "[http]\napi_token = {token:?}\n\n[oauth]\nredirect_base = {redirect_base:?}\n\n{}",
        mcp_sandbox::overrides_toml(&sandbox)
    );
    let daemon = crate::bench::health::daemon_with(&keys, &extra, args, db_url).await?;
    let pool = mcp_queue::pg::Db::connect(db_url).await?;
    let ws = mcp_daemon::integrations::create_workspace(&pool, "bench").await?;
    let daemon_base = format!("http://127.0.0.1:{}", daemon.admin_port);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let bearer = format!("Bearer {token}");
    // The gateway's binding of each connect to its user's session, presented again on the callback.
    const SESSION: &str = "bench-gateway-session-0001";

    let mut samples = Vec::with_capacity(n as usize);
    for i in 0..n {
        let p = PLATFORMS[i as usize % PLATFORMS.len()];
        let t = Instant::now();
        let start = client
            .get(format!(
                "{daemon_base}/integrations/connect/{p}?workspace_id={ws}&binding={SESSION}"
            ))
            .header("authorization", &bearer)
            .send()
            .await?;
        let to_platform = location(&start, "connect")?;
        let back = client.get(&to_platform).send().await?;
        let to_us = location(&back, "sandbox authorize")?;
        // The gateway forwards the browser's callback to the daemon.
        let path = to_us
            .strip_prefix(redirect_base)
            .context("the platform redirected elsewhere than the redirect base")?;
        let done = client
            .get(format!("{daemon_base}{path}&binding={SESSION}"))
            .header("authorization", &bearer)
            .send()
            .await?;
        let status = done.status();
        let body: serde_json::Value = done.json().await?;
        if status != 200 || body["state"] != "ACTIVE" {
            bail!("callback answered {status}: {body}");
        }
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    let report = OAuthReport {
        machine: machine(),
        round_trips: n,
        median_ms: pick(0.5),
        p99_ms: pick(0.99),
        max_ms: pick(1.0),
    };
    println!("machine: {}", report.machine);
    println!(
        "oauth connect→callback→ACTIVE through the daemon, {n} round trips: median {:.2} ms, \
         p99 {:.2} ms, max {:.2} ms",
        report.median_ms, report.p99_ms, report.max_ms
    );
    daemon.stop().await;
    pool.close().await;
    Ok(report)
}

fn location(resp: &reqwest::Response, step: &str) -> anyhow::Result<String> {
    if resp.status() != 302 {
        bail!("{step} answered {} instead of a redirect", resp.status());
    }
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .with_context(|| format!("{step} redirect has no Location"))
}

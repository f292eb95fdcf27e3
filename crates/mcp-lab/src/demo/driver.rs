//! `mcp-worker-lab demo`: the daemon in-process against the sandbox and the demo workspace (see the
//! parent module), plus a driver that makes the rest of the story happen — a signed Slack event
//! and a forged one posted to the daemon's own webhook listener, sync sweeps once the first
//! health checks are in and again once a breaker has closed — and every 2 s reads what the
//! database and `/metrics` show. At the end (`--for` elapsed, or a signal) the daemon stops
//! gracefully and the seven-item checklist says what was seen.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::display::Display;
use super::facts::{self, Item, Tracker};
use super::{DemoError, DEMO_REFRESH_PLATFORM, DEMO_SLACK_SECRET, DEMO_SLACK_WEBHOOK};
use mcp_daemon::config::Config;
use mcp_platforms::connectors::Platform;

/// How often facts are read.
const READ_EVERY: Duration = Duration::from_secs(2);
/// How long the daemon may take to answer `/readyz`.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// The first sync sweep waits for every integration's first health check, or this long.
const FIRST_SYNC_AFTER: Duration = Duration::from_secs(8);
/// Deliveries of each webhook tried before giving up (a refused connection, a 503…).
const POST_TRIES: u32 = 5;

pub struct Options {
    /// Stop after this long (counted from the daemon's readiness); `None`: until a signal.
    pub run_for: Option<Duration>,
    /// Keep what the demo wrote in its database (cleared at the end otherwise).
    pub keep: bool,
}

/// What the demo showed.
pub struct Outcome {
    pub items: Vec<Item>,
}

impl Outcome {
    /// The items not seen.
    pub fn missing(&self) -> Vec<&'static str> {
        self.items
            .iter()
            .filter(|i| !i.done)
            .map(|i| i.label)
            .collect()
    }
}

/// A port 0 in `http.listen` or `http.admin_listen` becomes a free port now, so the driver
/// knows where the daemon is (and the OAuth redirect base is a real address).
fn concrete_listen(config: &mut Config) -> Result<(), DemoError> {
    for listen in [&mut config.http.listen, &mut config.http.admin_listen] {
        let Ok(addr) = listen.parse::<SocketAddr>() else {
            continue;
        };
        if addr.port() == 0 {
            let err = |source| DemoError::Listen {
                listen: listen.clone(),
                source,
            };
            let probe = std::net::TcpListener::bind(addr).map_err(err)?;
            *listen = probe.local_addr().map_err(err)?.to_string();
        }
    }
    Ok(())
}

/// The base URL the driver (and the newcomer) reaches the daemon at.
fn client_base(listen: &str) -> String {
    match listen.parse::<SocketAddr>() {
        Ok(a) if a.ip().is_unspecified() => {
            let host = if a.is_ipv4() { "127.0.0.1" } else { "[::1]" };
            format!("http://{host}:{}", a.port())
        }
        _ => format!("http://{listen}"),
    }
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// What the driver does to the running daemon, each thing once.
struct Actions {
    client: reqwest::Client,
    base: String,
    signed_event: String,
    forged_event: String,
    signed_tries: u32,
    signed_done: bool,
    forged_tries: u32,
    forged_done: bool,
    sync_sweeps: u8,
}

impl Actions {
    async fn step(&mut self, pool: &mcp_queue::pg::Db, t: &Tracker, elapsed: Duration) {
        if !self.signed_done && self.signed_tries < POST_TRIES {
            self.signed_tries += 1;
            let secret = DEMO_SLACK_SECRET.as_bytes();
            let status = self.post_slack(&self.signed_event, secret).await;
            self.signed_done = status.is_some_and(|s| s.is_success());
        }
        if !self.forged_done && self.forged_tries < POST_TRIES {
            self.forged_tries += 1;
            // Signed with a key that is not the webhook's: the daemon must refuse it.
            let status = self
                .post_slack(&self.forged_event, b"not-the-signing-secret")
                .await;
            self.forged_done = status.is_some_and(|s| !s.is_server_error());
        }
        let first_round = t.db.integrations > 0 && t.db.integrations_checked >= t.db.integrations;
        let sweep = match self.sync_sweeps {
            0 => first_round || elapsed >= FIRST_SYNC_AFTER,
            // Once a breaker has closed, its integration is back in service: sync it too.
            1 => !t.breakers_closed.is_empty(),
            _ => false,
        };
        if sweep {
            let r = sqlx::query("SELECT mcp.enqueue_job('sync_sweep', '{\"spread_s\": 0}')")
                .execute(pool)
                .await;
            match r {
                Ok(_) => self.sync_sweeps += 1,
                Err(e) => tracing::warn!(error = %e, "demo: cannot enqueue a sync sweep"),
            }
        }
    }

    /// Posts a Slack `event_callback` signed with `key`; the answer's status, if any.
    async fn post_slack(&self, event_id: &str, key: &[u8]) -> Option<reqwest::StatusCode> {
        let path = format!("/webhooks/slack/{DEMO_SLACK_WEBHOOK}");
        use mcp_sandbox::events::{slack_event, slack_message, SlackInstallation};
        let body = slack_event(
            event_id,
            "T0SANDBOX",
            &SlackInstallation::workspace("T0SANDBOX"),
            slack_message("C0DEMO", "1700000000.000100", "hello from the demo"),
        )
        .to_string();
        let headers = mcp_sandbox::sign_webhook(
            Platform::Slack,
            key,
            body.as_bytes(),
            chrono::Utc::now().timestamp(),
            &path,
        );
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        match req.send().await {
            Ok(r) => Some(r.status()),
            Err(e) => {
                tracing::warn!(error = %e.without_url(), "demo: webhook delivery failed");
                None
            }
        }
    }
}

async fn scrape(client: &reqwest::Client, url: &str) -> Option<String> {
    let r = client.get(url).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.text().await.ok()
}

/// Runs the demo until `--for` has elapsed or a signal arrives; the checklist says what was
/// seen. Errors are the demo's own (sandbox, seeding, daemon start), not items left unseen.
pub async fn run(mut config: Config, opts: Options) -> Result<Outcome, DemoError> {
    use tokio::signal::unix::{signal, SignalKind};
    concrete_listen(&mut config)?;
    mcp_handlers::preflight::listen_ports(&config)?;
    super::database::claim(&config.database.url).await?;
    let demo = super::prepare(&mut config).await?;
    super::quicken(&mut config);
    demo.seed(&config).await?;
    let mut small = config.database.clone();
    small.max_connections = 2;
    let pool = mcp_daemon::db::connect(&small).await?;
    let since: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT now()").fetch_one(&pool).await?;
    let base = client_base(&config.http.listen);
    let metrics_url = format!("{base}/metrics");
    let db_url = config.database.url.clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| DemoError::Client(e.to_string()))?;
    let mut term = signal(SignalKind::terminate()).map_err(DemoError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DemoError::Signals)?;

    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut display = Display::new(tty);
    let h = &config.health;
    display.header(&[
        format!(
            "mcp-worker-lab demo: the sandbox of the 13 platforms at {}, a demo workspace with one \
             integration per platform",
            demo.sandbox.base_url()
        ),
        format!(
            "  faults: discord answers 5xx until its breaker opens, zoom refuses its token, notion \
             rate-limits, monday times out; {}'s token expires within the hour",
            DEMO_REFRESH_PLATFORM.as_str()
        ),
        format!(
            "  the daemon: {metrics_url} · health sweep every 3 s · a breaker opens after {} failed \
             checks and half-opens after {} s",
            h.breaker_threshold,
            h.breaker_half_open_after.as_secs()
        ),
        match opts.run_for {
            Some(d) => format!(
                "  running for {} s; facts read from PostgreSQL and /metrics every {} s",
                d.as_secs(),
                READ_EVERY.as_secs()
            ),
            None => format!(
                "  running until Ctrl-C; facts read from PostgreSQL and /metrics every {} s",
                READ_EVERY.as_secs()
            ),
        },
    ]);

    let stop = CancellationToken::new();
    let mut daemon = tokio::spawn(mcp_handlers::daemon::run(config, stop.clone()));
    let ready_by = Instant::now() + READY_WITHIN;
    loop {
        if daemon.is_finished() {
            return match daemon.await {
                Ok(Err(e)) => Err(e.into()),
                _ => Err(DemoError::DaemonGone),
            };
        }
        let ready = client.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        if Instant::now() > ready_by {
            stop.cancel();
            let _ = daemon.await;
            return Err(DemoError::NotReady {
                url: format!("{base}/readyz"),
                secs: READY_WITHIN.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let started = Instant::now();
    let deadline = opts.run_for.map(|d| started + d);
    let stamp = since.timestamp_millis();
    let mut actions = Actions {
        client: client.clone(),
        base: base.clone(),
        signed_event: format!("EvDemo{stamp}"),
        forged_event: format!("EvDemoForged{stamp}"),
        signed_tries: 0,
        signed_done: false,
        forged_tries: 0,
        forged_done: false,
        sync_sweeps: 0,
    };
    let mut tracker = Tracker::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_read: Option<Instant> = None;
    let mut daemon_result = None;
    let why = loop {
        tokio::select! {
            _ = tick.tick() => {
                if last_read.is_none_or(|at| at.elapsed() >= READ_EVERY) {
                    last_read = Some(Instant::now());
                    let text = scrape(&client, &metrics_url).await;
                    tracker.update_metrics(text.as_deref());
                    match facts::read_db(&pool, since, &actions.signed_event, &actions.forged_event).await {
                        Ok(r) => tracker.update_db(r),
                        Err(e) => tracing::warn!(error = %e, "demo: cannot read the facts"),
                    }
                    actions.step(&pool, &tracker, started.elapsed()).await;
                }
                display.update(&tracker, started.elapsed(), opts.run_for);
            }
            _ = until(deadline) => break "--for elapsed",
            _ = term.recv() => break "stopped by SIGTERM",
            _ = int.recv() => break "stopped by Ctrl-C",
            r = &mut daemon => {
                daemon_result = Some(r);
                break "the daemon stopped";
            }
        }
    };
    let elapsed = started.elapsed();
    // The last look while the daemon still answers, then a graceful stop.
    if daemon_result.is_none() {
        let text = scrape(&client, &metrics_url).await;
        tracker.update_metrics(text.as_deref());
        stop.cancel();
        daemon_result = Some(daemon.await);
    }
    // After the stop: what the jobs that finished during the drain wrote, and the process's
    // own metrics (the same handle `/metrics` rendered).
    if let Ok(r) = facts::read_db(&pool, since, &actions.signed_event, &actions.forged_event).await
    {
        tracker.update_db(r);
    }
    if let Ok(handle) = mcp_daemon::metrics::install() {
        tracker.update_metrics(Some(&handle.render()));
    }
    pool.close().await;
    display.finish();
    display.summary(&tracker, elapsed, why, &metrics_url, &db_url);
    drop(demo);
    if !opts.keep {
        super::database::clear(&db_url).await?;
        println!(
            "the demo cleared what it wrote in its database; run it with --keep to look at it with \
             the queries above"
        );
    }
    match daemon_result {
        Some(Ok(Err(e))) => Err(e.into()),
        Some(Err(_)) => Err(DemoError::DaemonGone),
        _ => Ok(Outcome {
            items: tracker.checklist(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_reaches_an_unspecified_listen_address_on_loopback() {
        assert_eq!(client_base("0.0.0.0:9464"), "http://127.0.0.1:9464");
        assert_eq!(client_base("[::]:9464"), "http://[::1]:9464");
        assert_eq!(client_base("127.0.0.1:9464"), "http://127.0.0.1:9464");
        assert_eq!(client_base("localhost:9464"), "http://localhost:9464");
    }

    #[test]
    fn port_zero_becomes_a_free_port() {
        let mut c = Config::default();
        c.http.listen = "127.0.0.1:0".into();
        c.http.admin_listen = "127.0.0.1:0".into();
        concrete_listen(&mut c).expect("free port");
        let a: SocketAddr = c.http.listen.parse().expect("address");
        assert_ne!(a.port(), 0);
        let b: SocketAddr = c.http.admin_listen.parse().expect("address");
        assert_ne!(b.port(), 0);
    }
}

//! `mcp-worker-lab run`: the daemon against the sandbox, with a demo workspace of 13 integrations (one per
//! platform) and faults switched on, so that within a minute a newcomer sees health checks pass
//! and fail, an integration expire, one degrade on a rate limit, a circuit breaker open and close,
//! a token refreshed with rotation, and `/metrics` move. It never touches workspaces other than
//! its own. `mcp-worker-lab demo` (`driver`) runs the same story in-process, drives the rest of it
//! (webhooks, syncs) and reports what the database and the metrics show.

pub mod database;
mod display;
pub mod driver;
pub mod facts;

use std::time::Duration;

use mcp_daemon::config::{Config, KindOverride, ScheduleConfig};
use mcp_daemon::vault::Vault;
use mcp_platforms::connectors::Platform;
use mcp_sandbox::{FaultKind, Sandbox};

pub use mcp_sandbox::demo::{
    DEMO_API_TOKEN, DEMO_SLACK_SECRET, DEMO_SLACK_WEBHOOK, DEMO_WORKSPACE,
};
/// The platform (one that rotates refresh tokens) whose token the demo seeds as expiring within
/// the hour, so that the refresh sweep renews it and the platform rotates its refresh token.
pub const DEMO_REFRESH_PLATFORM: Platform = Platform::Outlook;
/// Synthetic items per account in the sandbox: more than one page on every list endpoint.
pub const DEMO_ITEMS_PER_ACCOUNT: u64 = 150;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Database(#[from] database::DemoDbError),
    #[error(transparent)]
    Config(#[from] mcp_daemon::config::ConfigError),
    /// A listen address in use: said before anything else starts.
    #[error(transparent)]
    Port(#[from] mcp_handlers::preflight::PortTaken),
    #[error("sandbox: {0}")]
    Sandbox(#[from] mcp_sandbox::SandboxError),
    #[error(transparent)]
    Db(#[from] mcp_daemon::db::DbError),
    #[error(transparent)]
    Integration(#[from] mcp_daemon::integrations::IntegrationError),
    #[error(transparent)]
    Vault(#[from] mcp_daemon::vault::VaultError),
    #[error("cannot write the demo's vault key: {0}")]
    Key(std::io::Error),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("demo webhook: {0}")]
    Webhook(#[from] mcp_daemon::webhooks::WebhookError),
    #[error(transparent)]
    Daemon(#[from] mcp_handlers::daemon::DaemonError),
    #[error("the daemon stopped before it was ready")]
    DaemonGone,
    #[error("the daemon did not answer /readyz at {url} within {secs} s")]
    NotReady { url: String, secs: u64 },
    #[error("cannot find a free port for {listen}: {source}")]
    Listen {
        listen: String,
        source: std::io::Error,
    },
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("HTTP client: {0}")]
    Client(String),
}

/// What must live as long as the daemon: the sandbox and the demo key's directory.
pub struct Demo {
    pub sandbox: Sandbox,
    _key_dir: Option<tempfile::TempDir>,
}

/// Starts the sandbox, points the config at it and makes the health monitor brisk:
/// a sweep every 15 s, quick retries, breakers that half-open after 20 s.
/// (`quicken` makes it brisker still for `mcp-worker-lab demo`.)
pub async fn prepare(config: &mut Config) -> Result<Demo, DemoError> {
    let sandbox = mcp_sandbox::start("127.0.0.1:0").await?;
    config.platforms = sandbox.config_overrides();
    config.http_client.timeout = Duration::from_secs(2);
    config.health.breaker_half_open_after = Duration::from_secs(20);
    config.schedules.insert(
        "health_sweep".into(),
        ScheduleConfig {
            cron: Some("*/15 * * * * *".into()),
            kind: None,
            payload: serde_json::json!({ "spread_s": 3 }),
            enabled: true,
        },
    );
    config.kinds.insert(
        "health_check".into(),
        KindOverride {
            max_attempts: Some(3),
            backoff_base: Some(Duration::from_secs(2)),
            backoff_max: Some(Duration::from_secs(5)),
            timeout: None,
            concurrency: None,
        },
    );
    if config.http.api_token.is_empty() {
        config.http.api_token = mcp_platforms::secret::Secret::new(DEMO_API_TOKEN);
    }
    if config.oauth.redirect_base.is_empty() {
        config.oauth.redirect_base = format!("http://{}", config.http.admin_listen);
    }
    let mut key_dir = None;
    if config.vault.key_files.is_empty() {
        // A throwaway key: the demo re-seeds its credentials on every start.
        let dir = tempfile::tempdir().map_err(DemoError::Key)?;
        let path = dir.path().join("demo.key");
        Vault::write_new_key_file(&path).map_err(DemoError::Key)?;
        config.vault.key_files.push(path);
        key_dir = Some(dir);
    }
    Ok(Demo {
        sandbox,
        _key_dir: key_dir,
    })
}

/// `mcp-worker-lab demo`: the same story within about 20 s: a health sweep every 3 s, retries after
/// 1–2 s, breakers that open after 3 failed checks in a row and half-open after 10 s.
pub fn quicken(config: &mut Config) {
    config.health.breaker_threshold = 3;
    config.health.breaker_half_open_after = Duration::from_secs(10);
    config.schedules.insert(
        "health_sweep".into(),
        ScheduleConfig {
            cron: Some("*/3 * * * * *".into()),
            kind: None,
            payload: serde_json::json!({ "spread_s": 1 }),
            enabled: true,
        },
    );
    config.kinds.insert(
        "health_check".into(),
        KindOverride {
            max_attempts: Some(3),
            backoff_base: Some(Duration::from_secs(1)),
            backoff_max: Some(Duration::from_secs(2)),
            timeout: None,
            concurrency: None,
        },
    );
}

impl Demo {
    /// Migrates, replaces the demo workspace with 13 fresh integrations, and arms the faults.
    pub async fn seed(&self, config: &Config) -> Result<(), DemoError> {
        let pool = mcp_daemon::db::connect(&config.database).await?;
        mcp_daemon::db::migrate(&pool, &mcp_handlers::catalog(config)?).await?;
        let vault = Vault::from_config(&config.vault)?;
        let ws = DEMO_WORKSPACE;
        sqlx::query("DELETE FROM core.workspaces WHERE id = $1")
            .bind(ws)
            .execute(&pool)
            .await?;
        sqlx::query("INSERT INTO core.workspaces (id, name) VALUES ($1, 'demo')")
            .bind(ws)
            .execute(&pool)
            .await?;
        for p in Platform::ALL {
            let (creds, refresh) = self.sandbox.mint_credentials(p, "demo");
            let id = mcp_daemon::integrations::create_active(&pool, &vault, ws, p, &creds).await?;
            if p == DEMO_REFRESH_PLATFORM {
                // The sandbox's access tokens live an hour: due for the refresh sweep (24 h ahead).
                let expires = chrono::Utc::now() + chrono::Duration::hours(1);
                mcp_daemon::integrations::store_credentials(
                    &pool,
                    &vault,
                    id,
                    &creds,
                    refresh.as_ref(),
                    Some(expires),
                )
                .await?;
            }
            if p == Platform::Slack {
                mcp_daemon::webhooks::register_with_id(
                    &pool,
                    &vault,
                    DEMO_SLACK_WEBHOOK,
                    id,
                    p,
                    Some(&mcp_platforms::secret::Secret::new(DEMO_SLACK_SECRET)),
                    None,
                )
                .await?;
            }
        }
        // Discord is a bot install: its account is the guild the sandbox's bot is in (the
        // demo login's), and it reads that guild's text channels.
        sqlx::query(
            "UPDATE core.integrations SET external_account_id = $2 \
             WHERE workspace_id = $1 AND platform = 'discord'",
        )
        .bind(ws)
        .bind(mcp_sandbox::account_of(Platform::Discord, "demo"))
        .execute(&pool)
        .await?;
        let sb = &self.sandbox;
        sb.set_items_per_account(DEMO_ITEMS_PER_ACCOUNT);
        // Discord fails until its breaker opens; the half-open probe finds it back.
        let threshold = u64::from(config.health.breaker_threshold.max(1));
        sb.fault(
            Platform::Discord,
            FaultKind::ServerError,
            Some(threshold),
            None,
        );
        // Zoom refuses the token: EXPIRED, the user would be asked to reconnect.
        sb.fault(Platform::Zoom, FaultKind::Unauthorized, None, None);
        // Notion rate-limits once: DEGRADED, snoozed for its Retry-After, then ACTIVE.
        sb.fault(
            Platform::Notion,
            FaultKind::RateLimitSeconds,
            Some(1),
            Some(10),
        );
        // Monday times out twice.
        sb.set_hang(Duration::from_secs(3));
        sb.fault(Platform::Monday, FaultKind::Timeout, Some(2), None);
        // A first health sweep and a refresh sweep at once, rather than at their next ticks.
        sqlx::query("SELECT mcp.enqueue_job('health_sweep', '{\"spread_s\": 0}')")
            .execute(&pool)
            .await?;
        sqlx::query("SELECT mcp.enqueue_job('token_refresh_sweep')")
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(())
    }
}

/// A database URL as the demo prints it: without its password (in the URL or its query).
pub fn url_without_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            let kept: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("password"))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            u.set_query(None);
            if !kept.is_empty() {
                u.query_pairs_mut().extend_pairs(kept);
            }
            u.to_string()
        }
        Err(_) => "<database url>".into(),
    }
}

/// What to tell the newcomer once the demo runs.
pub fn banner(demo: &Demo, http: &mcp_daemon::config::HttpConfig, db_url: &str) -> String {
    let (listen, admin) = (&http.listen, &http.admin_listen);
    format!(
        "demo: sandbox of the 13 platforms at {sandbox}\n\
         demo: workspace {DEMO_WORKSPACE} with one integration per platform; faults armed on \
         discord (5xx until its breaker opens), zoom (token refused), notion (429), monday (timeouts); \
         {refresh}'s token expires within the hour (refreshed, with rotation)\n\
         demo: health sweep every 15 s; a Slack webhook at http://{listen}/webhooks/slack/{DEMO_SLACK_WEBHOOK} \
         and the /integrations endpoints at http://{admin}/integrations/… (bearer token and signing secret: see docs/WEBHOOKS.md). Watch:\n\
         \x20 curl -s http://{listen}/metrics | grep -E 'mcp_(health_checks_total|circuit_breakers|integrations)'\n\
         \x20 psql \"{db}\" -c 'SELECT platform, state, health_status, consecutive_failures, circuit_breaker_state FROM mcp.v_integration_health_summary ORDER BY platform'\n",
        sandbox = demo.sandbox.base_url(),
        refresh = DEMO_REFRESH_PLATFORM.as_str(),
        db = url_without_password(db_url),
    )
}

#[cfg(test)]
mod tests {
    use super::url_without_password;

    #[test]
    fn the_printed_database_url_has_no_password() {
        let shown = url_without_password(
            "postgres://app:s3cret@db.internal:5432/mcp?password=other&sslmode=require",
        );
        assert!(
            !shown.contains("s3cret") && !shown.contains("other"),
            "{shown}"
        );
        assert_eq!(shown, "postgres://app@db.internal:5432/mcp?sslmode=require");
        assert_eq!(
            url_without_password("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
    }
}

//! Configuration: one typed struct with defaults in code, read from a TOML file and then from
//! environment variables (`MCP_WORKER__SECTION__KEY=value`, plus `DATABASE_URL`).
//! Unknown keys are an error, and every error names the key it is about.
//! This module never logs or prints a secret: `redacted()` is what leaves the process.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::credentials::RefreshConfig;
pub use crate::db::{redact_url, DatabaseConfig};
pub use crate::integrations::HealthConfig;
pub use crate::listener::HttpConfig;
pub use crate::telemetry::LogConfig;
pub use mcp_queue::config::{KindOverride, ScheduleConfig, SchedulerConfig, WorkerConfig};

/// Prefix of environment variables that override keys of the file: `MCP_WORKER__WORKER__CONCURRENCY=64`.
pub const ENV_PREFIX: &str = "MCP_WORKER__";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: String, message: String },
    #[error("invalid config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

/// A section's own check names the key and says what is wrong with it.
impl From<(String, String)> for ConfigError {
    fn from((key, message): (String, String)) -> Self {
        ConfigError::Invalid { key, message }
    }
}

impl ConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Deserialize, Serialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub worker: WorkerConfig,
    pub http: HttpConfig,
    pub scheduler: SchedulerConfig,
    pub retention: RetentionConfig,
    pub log: LogConfig,
    /// Per-kind overrides of the kinds' own policies.
    pub kinds: BTreeMap<String, KindOverride>,
    /// Cron schedules by name; they are added to the kinds' own default schedules.
    pub schedules: BTreeMap<String, ScheduleConfig>,
    /// The shared HTTP client that every connector uses.
    pub http_client: mcp_platforms::connectors::HttpClientConfig,
    /// Per-platform overrides (base URLs, OAuth client), keyed by platform name.
    pub platforms: BTreeMap<String, mcp_platforms::connectors::PlatformOverride>,
    /// Keys that encrypt stored tokens and secrets.
    pub vault: crate::vault::VaultConfig,
    /// The health monitor.
    pub health: HealthConfig,
    /// The OAuth connect flow of the integration endpoints.
    pub oauth: mcp_platforms::oauth::OAuthConfig,
    /// Token refresh.
    pub refresh: RefreshConfig,
    /// The webhook intake (`POST /webhooks/{platform}/{id}`).
    pub webhooks: crate::webhooks::WebhooksConfig,
    /// Sync: intervals, the polling fallback, per-platform rate limits.
    pub sync: crate::sync::config::SyncConfig,
    /// Notifications of critical changes to the product's endpoints.
    pub notify: crate::notify::NotifyConfig,
    /// Reconcile: the periodic full listing that finds what was deleted without an event.
    pub reconcile: crate::items::reconcile::ReconcileConfig,
    /// Items: the text they keep, per platform, and the content step's and backfill's batches.
    pub items: crate::items::config::ItemsConfig,
    /// The MCP server for assistants (`POST /mcp`, `mcp-worker mcp stdio`).
    pub mcp: crate::assistant::McpConfig,
}

#[derive(Clone, Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// `prune` deletes completed jobs finished longer ago than this.
    #[serde(with = "humantime_serde")]
    pub completed: Duration,
    #[serde(with = "humantime_serde")]
    pub cancelled: Duration,
    #[serde(with = "humantime_serde")]
    pub discarded: Duration,
    /// Rows deleted per statement (each its own short transaction).
    pub batch_size: u32,
    /// `prune` also deletes health checks, integration errors and processed webhook events
    /// older than these ages.
    #[serde(with = "humantime_serde")]
    pub health_checks: Duration,
    #[serde(with = "humantime_serde")]
    pub integration_errors: Duration,
    #[serde(with = "humantime_serde")]
    pub webhook_events: Duration,
    /// The dedup keys of the events of the platforms whose deliveries carry no signed time
    /// (`mcp.webhook_dedup`): kept this long, at least `webhook_events`, so that a delivery
    /// replayed after its event was pruned is still a duplicate.
    #[serde(with = "humantime_serde")]
    pub webhook_dedup: Duration,
    /// Notifications (`mcp.notifications`) created longer ago than this.
    #[serde(with = "humantime_serde")]
    pub notifications: Duration,
    /// The change feed (`mcp.item_changes`): changes older than this. A reader whose cursor
    /// is older is told to resync.
    #[serde(with = "humantime_serde")]
    pub item_changes: Duration,
    /// Tombstones (`mcp.synced_items` marked deleted) deleted longer ago than this; at least
    /// `item_changes`, so that a change the feed still holds can name its item's kind.
    #[serde(with = "humantime_serde")]
    pub tombstones: Duration,
}

impl RetentionConfig {
    /// The ages of the integrations' history tables.
    pub fn history(&self) -> crate::integrations::HistoryAges {
        crate::integrations::HistoryAges {
            health_checks: self.health_checks,
            integration_errors: self.integration_errors,
            webhook_events: self.webhook_events,
            webhook_dedup: self.webhook_dedup,
            notifications: self.notifications,
        }
    }
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            completed: Duration::from_secs(7 * 86_400),
            cancelled: Duration::from_secs(7 * 86_400),
            discarded: Duration::from_secs(30 * 86_400),
            batch_size: 5000,
            health_checks: Duration::from_secs(30 * 86_400),
            integration_errors: Duration::from_secs(90 * 86_400),
            webhook_events: Duration::from_secs(30 * 86_400),
            webhook_dedup: Duration::from_secs(400 * 86_400),
            notifications: Duration::from_secs(30 * 86_400),
            item_changes: Duration::from_secs(14 * 86_400),
            tombstones: Duration::from_secs(30 * 86_400),
        }
    }
}

impl Config {
    /// Reads the file (if any), then the environment, then checks every value.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut env: Vec<(String, String)> = std::env::vars().collect();
        // Under systemd, the database URL may come as a credential (LoadCredential=database-url).
        if !env
            .iter()
            .any(|(k, v)| k == "DATABASE_URL" && !v.is_empty())
        {
            if let Ok(dir) = std::env::var("CREDENTIALS_DIRECTORY") {
                let file = Path::new(&dir).join("database-url");
                if let Ok(url) = std::fs::read_to_string(&file) {
                    env.push(("DATABASE_URL".into(), url.trim().to_string()));
                }
            }
        }
        // And the app-level webhook secrets (LoadCredential=signing-secret-slack, …), below the
        // environment: a variable set for the process still wins.
        if let Ok(dir) = std::env::var("CREDENTIALS_DIRECTORY") {
            let mut from_files = credential_secrets(Path::new(&dir));
            from_files.retain(|(k, _)| !env.iter().any(|(e, v)| e == k && !v.is_empty()));
            env.splice(0..0, from_files);
        }
        let text = match path {
            Some(p) => Some(
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?,
            ),
            None => None,
        };
        let name = path.map(|p| p.display().to_string()).unwrap_or_default();
        Config::from_parts(text.as_deref(), &name, &env)
    }

    /// The pure part of `load`: a file's text and a set of environment variables.
    pub fn from_parts(
        text: Option<&str>,
        path_name: &str,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut root: toml::Table = match text {
            Some(t) => toml::from_str(t).map_err(|e| ConfigError::Syntax {
                path: path_name.to_string(),
                message: match e.span() {
                    // Where, as an editor counts: line and column from 1.
                    Some(span) => {
                        let before = &t[..span.start.min(t.len())];
                        let line = before.matches('\n').count() + 1;
                        let column =
                            before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                        format!("line {line}, column {column}: {}", e.message())
                    }
                    None => e.message().to_string(),
                },
            })?,
            None => toml::Table::new(),
        };
        for (name, value) in env {
            if let Some(rest) = name.strip_prefix(ENV_PREFIX) {
                let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
                set_path(&mut root, &path, parse_env_value(value))
                    .map_err(|m| ConfigError::invalid(path.join("."), m))?;
            } else if name == "DATABASE_URL" && !value.is_empty() {
                set_path(
                    &mut root,
                    &["database".into(), "url".into()],
                    toml::Value::String(value.clone()),
                )
                .map_err(|m| ConfigError::invalid("database.url", m))?;
            }
        }
        let de = toml::Value::Table(root);
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::invalid(key, e.into_inner().to_string())
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.webhooks.check()?;
        // Each section's own check names the key at fault.
        mcp_queue::config::check(&self.worker, &self.scheduler)?;
        if self.database.max_connections < 3 {
            return Err(ConfigError::invalid(
                "database.max_connections",
                "must be at least 3 (claim, complete and maintenance run side by side)",
            ));
        }
        if url::Url::parse(&self.database.url)
            .map(|u| !matches!(u.scheme(), "postgres" | "postgresql"))
            .unwrap_or(true)
        {
            return Err(ConfigError::invalid(
                "database.url",
                "must be a postgres:// URL",
            ));
        }
        self.http.check()?;
        self.oauth.validate(!self.http.api_token.is_empty())?;
        if !matches!(self.log.format.as_str(), "auto" | "json" | "text") {
            return Err(ConfigError::invalid(
                "log.format",
                "must be \"auto\", \"json\" or \"text\"",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| ConfigError::invalid("log.level", e.to_string()))?;
        if self.retention.batch_size == 0 {
            return Err(ConfigError::invalid(
                "retention.batch_size",
                "must be at least 1",
            ));
        }
        mcp_platforms::connectors::config::check(&self.http_client, &self.platforms)?;
        self.sync.check()?;
        self.reconcile.check()?;
        self.items.check()?;
        self.mcp.check()?;
        if self.retention.tombstones < self.retention.item_changes {
            return Err(ConfigError::invalid(
                "retention.tombstones",
                "must be at least retention.item_changes (a change the feed holds names its item)",
            ));
        }
        if self.retention.webhook_dedup < self.retention.webhook_events {
            return Err(ConfigError::invalid(
                "retention.webhook_dedup",
                "must be at least retention.webhook_events (a replayed delivery must stay a duplicate)",
            ));
        }
        // A data key must not seal before every daemon has reloaded the data keys.
        if self.vault.data_key_grace < self.vault.upkeep_interval * 2 {
            return Err(ConfigError::invalid(
                "vault.data_key_grace",
                "must be at least twice vault.upkeep_interval (every daemon loads a new data key before it seals)",
            ));
        }
        if self.vault.upkeep_interval.is_zero() {
            return Err(ConfigError::invalid(
                "vault.upkeep_interval",
                "must be longer than zero",
            ));
        }
        if self.vault.rotate_after <= self.vault.data_key_grace {
            return Err(ConfigError::invalid(
                "vault.rotate_after",
                "must be longer than vault.data_key_grace",
            ));
        }
        if self.vault.batch < 1 {
            return Err(ConfigError::invalid("vault.batch", "must be at least 1"));
        }
        if self.notify.timeout.is_zero() {
            return Err(ConfigError::invalid(
                "notify.timeout",
                "must be longer than zero",
            ));
        }
        if self.health.breaker_threshold == 0 {
            return Err(ConfigError::invalid(
                "health.breaker_threshold",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The 13 connectors with this config's `[http_client]` and `[platforms.*]`.
    pub fn connectors(
        &self,
    ) -> Result<mcp_platforms::connectors::Connectors, mcp_platforms::connectors::ConnectorBuildError>
    {
        mcp_platforms::connectors::Connectors::from_config(&self.http_client, &self.platforms)
    }

    /// The effective configuration as TOML with secrets replaced.
    pub fn redacted(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = redact_url(&self.database.url);
        shown.database.listen_url = self.database.listen_url.as_deref().map(redact_url);
        shown.database.read_url = self.database.read_url.as_deref().map(redact_url);
        match toml::Value::try_from(&shown) {
            Ok(mut v) => {
                exact_durations(&mut v);
                toml::to_string_pretty(&v).unwrap_or_else(|e| format!("# cannot render: {e}"))
            }
            Err(e) => format!("# cannot render: {e}"),
        }
    }
}

/// Durations as a person writes them (`90d`, `6h`, `30s`, `250ms`), not as humantime renders
/// them (`2months 29days 2h 52m 48s` for 90 days, its months being 30.44 days): every string
/// that is humantime's rendering of a duration is rewritten in the largest unit that holds it
/// exactly.
fn exact_durations(v: &mut toml::Value) {
    use humantime_serde::re::humantime::{format_duration, parse_duration};
    match v {
        toml::Value::String(s) => {
            if let Ok(d) = parse_duration(s) {
                if format_duration(d).to_string() == *s {
                    *s = exact(d);
                }
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(exact_durations),
        toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| exact_durations(v)),
        _ => {}
    }
}

fn exact(d: Duration) -> String {
    let (secs, nanos) = (d.as_secs(), d.subsec_nanos());
    if nanos != 0 {
        return if nanos % 1_000_000 == 0 {
            format!("{}ms", d.as_millis())
        } else {
            format!("{}ns", d.as_nanos())
        };
    }
    match secs {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The secrets of a systemd credentials directory, as the environment variables that set them:
/// `api-token` (`[http] api_token`), and per platform `signing-secret-<platform>`,
/// `previous-signing-secret-<platform>`, `bot-token-<platform>` and `client-secret-<platform>`
/// (`[platforms.<platform>] signing_secret`, `previous_signing_secret`, `bot_token`,
/// `client_secret`).
fn credential_secrets(dir: &Path) -> Vec<(String, String)> {
    let read = |file: &str| {
        std::fs::read_to_string(dir.join(file))
            .ok()
            .map(|s| s.trim().to_string())
    };
    let fields = [
        ("signing-secret", "SIGNING_SECRET"),
        ("previous-signing-secret", "PREVIOUS_SIGNING_SECRET"),
        ("bot-token", "BOT_TOKEN"),
        ("client-secret", "CLIENT_SECRET"),
    ];
    let platforms = mcp_platforms::connectors::Platform::ALL
        .iter()
        .flat_map(|p| fields.iter().map(move |f| (p, f)))
        .filter_map(|(p, (file, field))| {
            let secret = read(&format!("{file}-{p}"))?;
            let key = format!(
                "{ENV_PREFIX}PLATFORMS__{}__{field}",
                p.as_str().to_ascii_uppercase()
            );
            Some((key, secret))
        });
    read("api-token")
        .map(|t| (format!("{ENV_PREFIX}HTTP__API_TOKEN"), t))
        .into_iter()
        .chain(platforms)
        .collect()
}

fn parse_env_value(raw: &str) -> toml::Value {
    // A number, boolean or array is read as TOML; anything else is a string.
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").unwrap_or(toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

fn set_path(root: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut table = root;
    for p in parents {
        let entry = table
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` is not a table"))?;
    }
    table.insert(last.clone(), value);
    Ok(())
}

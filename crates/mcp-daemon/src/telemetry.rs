//! Logging setup: `tracing` events as JSON lines when stderr is not a terminal (journald,
//! files), readable text on a terminal. `RUST_LOG` overrides the configured level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use serde::{Deserialize, Serialize};

/// Below this, sqlx's relays of the server's notices are not logged.
const QUIET_NOTICES: &str = "sqlx::postgres::notice=warn";

pub fn init(cfg: &LogConfig) {
    let mut filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(&cfg.level));
    // PostgreSQL's NOTICEs (`relation "_sqlx_migrations" already exists, skipping` at every
    // start) are for whoever wrote the statement, not for an operator; its warnings stay.
    if let Ok(quiet) = QUIET_NOTICES.parse() {
        filter = filter.add_directive(quiet);
    }
    let json = match cfg.format.as_str() {
        "json" => true,
        "text" => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

#[derive(Clone, Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `tracing` filter, e.g. "info" or "mcp_worker=debug". `RUST_LOG` overrides it.
    pub level: String,
    /// "auto" (JSON unless stderr is a terminal), "json" or "text".
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "auto".into(),
        }
    }
}

/// A command-line program's main: logging set up from `log`, then `work` on a multi-threaded
/// runtime; its exit code, or failure (1) with the error and its causes after `program: `.
pub fn main_on_runtime<F>(program: &str, log: &LogConfig, work: F) -> std::process::ExitCode
where
    F: std::future::Future<Output = anyhow::Result<std::process::ExitCode>>,
{
    init(log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{program}: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{program}: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! The command-line arguments the shipped binary and the lab share: the global `--config`, and
//! the listeners a daemon-running command may move.

use std::path::PathBuf;

use crate::config::Config;

/// Arguments every command takes.
#[derive(clap::Args)]
pub struct Global {
    /// TOML config file (see config/mcp-worker.example.toml).
    #[arg(long, global = true, env = "MCP_WORKER_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Where a daemon listens, when not where the config says.
#[derive(clap::Args)]
pub struct Listeners {
    /// Address of the public listener (overrides http.listen).
    #[arg(long)]
    pub listen: Option<String>,
    /// Address of the management listener (overrides http.admin_listen).
    #[arg(long)]
    pub admin_listen: Option<String>,
}

impl Listeners {
    /// `config` with these listeners in place of its own (checked again by the daemon at start).
    pub fn apply(self, config: &mut Config) {
        if let Some(l) = self.listen {
            config.http.listen = l;
        }
        if let Some(a) = self.admin_listen {
            config.http.admin_listen = a;
        }
    }
}

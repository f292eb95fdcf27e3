//! What `run` needs of its configuration beyond what parsing checks: the files it reads (vault
//! keys, Gmail's and the MCP identity provider's JWKS files) exist and parse, the connectors
//! build, the listen addresses resolve, and the process may open as many files as its listeners
//! and pool can use. `check-config` runs it so that a configuration it passes starts; `run`
//! runs it first. Touches no database and opens no socket.

use std::net::ToSocketAddrs;

use crate::config::Config;

/// The first thing `run` would fail on, naming the key to change.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("vault.key_files: {0}")]
    Vault(#[from] crate::vault::VaultError),
    #[error("platforms: {0}")]
    Connectors(mcp_platforms::connectors::ConnectorBuildError),
    #[error("webhooks.gmail_jwks_file: {0}")]
    GmailKeys(#[from] crate::webhooks::KeysError),
    #[error(transparent)]
    McpKeys(#[from] crate::assistant::auth::AuthSetupError),
    #[error("{key} = {addr:?} is not an address this machine can listen on ({why})")]
    Listen {
        key: &'static str,
        addr: String,
        why: String,
    },
    #[error(transparent)]
    FileLimit(#[from] crate::listener::FileLimitError),
}

/// Runs every check; the first failure.
pub fn check(config: &Config) -> Result<(), PreflightError> {
    crate::vault::Vault::from_config(&config.vault)?;
    config.connectors().map_err(PreflightError::Connectors)?;
    mcp_platforms::webhooks::GmailKeys::load(&config.webhooks.gmail_keys())?;
    if config.mcp.enabled {
        crate::assistant::auth::check_keys(&config.mcp)?;
    }
    for (key, addr) in [
        ("http.listen", &config.http.listen),
        ("http.admin_listen", &config.http.admin_listen),
    ] {
        let resolved = addr.to_socket_addrs().map(|mut a| a.next().is_some());
        if !matches!(resolved, Ok(true)) {
            return Err(PreflightError::Listen {
                key,
                addr: addr.clone(),
                why: resolved
                    .err()
                    .map_or("it names no address".into(), |e| e.to_string()),
            });
        }
    }
    crate::listener::ensure_file_limit(&config.http, config.database.max_connections)?;
    Ok(())
}

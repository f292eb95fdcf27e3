//! What `run` needs of its configuration beyond what parsing checks: the files it reads (vault
//! keys, Gmail's and the MCP identity provider's JWKS files) exist and parse, the connectors
//! build, the listen addresses resolve, and the process may open as many files as its listeners
//! and pool can use. `check-config` runs it so that a configuration it passes starts; `run`
//! runs it first. Touches no database and opens no socket.

use std::net::ToSocketAddrs;

use mcp_daemon::config::Config;

/// The first thing `run` would fail on, naming the key to change.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(transparent)]
    Config(#[from] mcp_daemon::config::ConfigError),
    #[error("vault.key_files: {0}")]
    Vault(#[from] mcp_daemon::vault::VaultError),
    #[error("platforms: {0}")]
    Connectors(mcp_platforms::connectors::ConnectorBuildError),
    #[error("webhooks.gmail_jwks_file: {0}")]
    GmailKeys(#[from] mcp_daemon::webhooks::KeysError),
    #[error(transparent)]
    McpKeys(#[from] mcp_daemon::assistant::auth::AuthSetupError),
    #[error("{key} = {addr:?} is not an address this machine can listen on ({why})")]
    Listen {
        key: &'static str,
        addr: String,
        why: String,
    },
    #[error(transparent)]
    FileLimit(#[from] mcp_daemon::listener::FileLimitError),
}

/// Runs every check; the first failure.
pub fn check(config: &Config) -> Result<(), PreflightError> {
    crate::catalog(config)?;
    mcp_daemon::vault::Vault::from_config(&config.vault)?;
    config.connectors().map_err(PreflightError::Connectors)?;
    mcp_platforms::webhooks::GmailKeys::load(&config.webhooks.gmail_keys())?;
    if config.mcp.enabled {
        mcp_daemon::assistant::auth::check_keys(&config.mcp)?;
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
    mcp_daemon::listener::ensure_file_limit(&config.http, config.database.max_connections)?;
    Ok(())
}

/// A listen address already taken, with who holds it when this machine says.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen on {addr} ({key}): {why}{holder}. Stop it (a `scripts/run` left running keeps \
     the daemon on 127.0.0.1:9464 and its PostgreSQL on 127.0.0.1:54329: Ctrl-C it, or \
     `pg_ctl -D /tmp/mcp-worker-pg stop` for the cluster), or give this one other ports \
     (--listen, --admin-listen)"
)]
pub struct PortTaken {
    pub key: &'static str,
    pub addr: String,
    pub why: String,
    /// `: process 1234 (mcp-worker) holds it`, when /proc says.
    pub holder: String,
}

/// Binds each listen address for a moment, before anything else of `run` starts, so that a
/// port in use is said first and plainly (not after the database, the migrations and the
/// worker). Not part of `check`: `check-config` next to a running daemon must pass.
pub fn listen_ports(config: &Config) -> Result<(), PortTaken> {
    for (key, addr) in [
        ("http.listen", &config.http.listen),
        ("http.admin_listen", &config.http.admin_listen),
    ] {
        if let Err(e) = std::net::TcpListener::bind(addr.as_str()) {
            let holder = match (e.kind(), port_of(addr)) {
                (std::io::ErrorKind::AddrInUse, Some(port)) => holder_of(port)
                    .map(|(pid, name)| format!(": process {pid} ({name}) holds it"))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            return Err(PortTaken {
                key,
                addr: addr.clone(),
                why: e.to_string(),
                holder,
            });
        }
    }
    Ok(())
}

fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

/// The process listening on TCP `port`, from /proc (Linux; `None` elsewhere or when the
/// process is another user's).
fn holder_of(port: u16) -> Option<(u32, String)> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local address "IP:PORT" in hex, state 0A = LISTEN, inode in column 10.
            let listening = f.get(3) == Some(&"0A");
            let on_port = f
                .get(1)
                .and_then(|a| a.rsplit_once(':'))
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                == Some(port);
            if listening && on_port {
                if let Some(inode) = f.get(9) {
                    inodes.push(format!("socket:[{inode}]"));
                }
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for proc_dir in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = proc_dir
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(proc_dir.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let target = std::fs::read_link(fd.path()).ok();
            if target.is_some_and(|t| inodes.iter().any(|i| t.as_os_str() == i.as_str())) {
                let name = std::fs::read_to_string(proc_dir.path().join("comm"))
                    .map(|c| c.trim().to_string())
                    .unwrap_or_else(|_| "?".into());
                return Some((pid, name));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_names_its_holder() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = taken.local_addr().expect("addr").to_string();
        let mut config = Config::default();
        config.http.listen = addr.clone();
        config.http.admin_listen = "127.0.0.1:0".into();
        let e = listen_ports(&config).expect_err("the port is taken");
        let said = e.to_string();
        assert!(
            said.contains(&addr) && said.contains("http.listen"),
            "{said}"
        );
        assert!(
            said.contains(&format!("process {}", std::process::id())),
            "{said}"
        );
        drop(taken);
        assert!(listen_ports(&config).is_ok());
    }
}

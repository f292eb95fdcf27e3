//! The systemd notify protocol (`Type=notify`): datagrams such as `READY=1`, `STOPPING=1`,
//! `WATCHDOG=1` sent to the unix socket named by `$NOTIFY_SOCKET`. Without that variable every
//! call is a no-op, so the daemon runs the same outside systemd.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot send to NOTIFY_SOCKET {socket}: {source}")]
    Send {
        socket: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct Notifier {
    socket: Option<String>,
}

impl Notifier {
    pub fn from_env() -> Notifier {
        Notifier {
            socket: std::env::var("NOTIFY_SOCKET")
                .ok()
                .filter(|s| !s.is_empty()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// Sends one message (lines of `KEY=VALUE`).
    pub fn notify(&self, state: &str) -> Result<(), NotifyError> {
        let Some(path) = &self.socket else {
            return Ok(());
        };
        let err = |source| NotifyError::Send {
            socket: path.clone(),
            source,
        };
        let sock = UnixDatagram::unbound().map_err(err)?;
        if let Some(abstract_name) = path.strip_prefix('@') {
            send_abstract(&sock, abstract_name, state.as_bytes()).map_err(err)?;
        } else {
            sock.send_to(state.as_bytes(), path).map_err(err)?;
        }
        Ok(())
    }

    pub fn ready(&self, status: &str) -> Result<(), NotifyError> {
        self.notify(&format!(
            "READY=1\nSTATUS={status}\nMAINPID={}",
            std::process::id()
        ))
    }

    pub fn stopping(&self, status: &str) -> Result<(), NotifyError> {
        self.notify(&format!("STOPPING=1\nSTATUS={status}"))
    }

    pub fn watchdog(&self) -> Result<(), NotifyError> {
        self.notify("WATCHDOG=1")
    }
}

#[cfg(target_os = "linux")]
fn send_abstract(sock: &UnixDatagram, name: &str, msg: &[u8]) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    sock.send_to_addr(msg, &addr).map(|_| ())
}

#[cfg(not(target_os = "linux"))]
fn send_abstract(_: &UnixDatagram, _: &str, _: &[u8]) -> std::io::Result<()> {
    Err(std::io::Error::other("abstract sockets need Linux"))
}

/// How often to ping the watchdog: half of `$WATCHDOG_USEC` when it is set for this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

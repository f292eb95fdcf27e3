//! The one launcher of the real daemon as a child process (`mcp-worker run`), used by the tests
//! and by `mcp-worker-lab bench`: it picks two free ports (the public listener's and the management
//! listener's), starts the binary with the given arguments and environment, waits for `/readyz`
//! and hands back the child. Stopping reads the peak RSS.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::http::{free_port, http_get};

/// Upkeep quick enough for tests: claims poll, rescues and samples run every 100–200 ms.
pub const QUICK_UPKEEP: &[(&str, &str)] = &[
    ("MCP_WORKER__WORKER__POLL_INTERVAL", "100ms"),
    ("MCP_WORKER__WORKER__RESCUE_INTERVAL", "100ms"),
    ("MCP_WORKER__WORKER__STATS_INTERVAL", "200ms"),
];

/// Where the daemon's standard error goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stderr {
    /// Passed through (the benches: whoever runs them reads the daemon's warnings).
    Inherit,
    /// Collected for `Daemon::stderr_log`.
    Capture,
    /// Kept in a file, shown only when the test holding the daemon fails.
    Held,
}

/// How to start one daemon.
pub struct Launcher {
    bin: PathBuf,
    db_url: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stderr: Stderr,
}

impl Launcher {
    /// `bin run --listen 127.0.0.1:<free port> --admin-listen 127.0.0.1:<another>` on
    /// `db_url`, logging at `warn`, with no config file and no systemd socket from the caller's
    /// environment.
    pub fn new(bin: impl AsRef<Path>, db_url: &str) -> Launcher {
        Launcher {
            bin: bin.as_ref().to_path_buf(),
            db_url: db_url.to_string(),
            args: Vec::new(),
            env: vec![("MCP_WORKER__LOG__LEVEL".into(), "warn".into())],
            stderr: Stderr::Inherit,
        }
    }

    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> Launcher {
        self.args
            .extend(args.iter().map(|a| a.as_ref().to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Launcher {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn envs(mut self, pairs: &[(&str, &str)]) -> Launcher {
        for (k, v) in pairs {
            self = self.env(k, v);
        }
        self
    }

    /// Quick polling and upkeep (`QUICK_UPKEEP`), as the tests want.
    pub fn quick(self) -> Launcher {
        self.envs(QUICK_UPKEEP)
    }

    /// Collects the daemon's standard error (read from the start, so a chatty log never blocks
    /// it) for `Daemon::stderr_log` instead of passing it through.
    pub fn capture_stderr(mut self) -> Launcher {
        self.stderr = Stderr::Capture;
        self
    }

    /// Keeps the daemon's standard error in a file and prints it only if the thread holding the
    /// `Daemon` panics (a failing test): a passing test's expected warnings (forged webhooks,
    /// refused tokens) stay out of the test run's output.
    pub fn hold_stderr(mut self) -> Launcher {
        self.stderr = Stderr::Held;
        self
    }

    /// Starts the daemon and returns once `/readyz` answers 200 (at most 30 s).
    pub async fn start(self) -> anyhow::Result<Daemon> {
        let port = free_port()?;
        let mut admin_port = free_port()?;
        while admin_port == port {
            admin_port = free_port()?;
        }
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.arg("run")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--admin-listen")
            .arg(format!("127.0.0.1:{admin_port}"))
            .args(&self.args)
            .env("DATABASE_URL", &self.db_url)
            .env_remove("MCP_WORKER_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        let held = match self.stderr {
            Stderr::Inherit => {
                cmd.stderr(Stdio::inherit());
                None
            }
            Stderr::Capture => {
                cmd.stderr(Stdio::piped());
                None
            }
            Stderr::Held => {
                let file = tempfile::NamedTempFile::new().context("daemon log file")?;
                cmd.stderr(Stdio::from(file.reopen().context("daemon log file")?));
                Some(file)
            }
        };
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        let pid = child.id().context("daemon has no pid")?;
        let stderr = child.stderr.take().map(|mut err| {
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = Vec::new();
                let _ = err.read_to_end(&mut buf).await;
                String::from_utf8_lossy(&buf).into_owned()
            })
        });
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                // What it said before it exited, where it was held in a file (a piped one is
                // the caller's to read).
                let said = held
                    .as_ref()
                    .and_then(|f| std::fs::read_to_string(f.path()).ok())
                    .unwrap_or_default();
                bail!("daemon exited early: {status}\n{said}");
            }
            if let Ok((200, _)) = http_get(&format!("127.0.0.1:{port}"), "/readyz").await {
                break;
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!("daemon not ready after 30 s");
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        Ok(Daemon {
            child,
            pid,
            port,
            admin_port,
            stderr,
            held,
        })
    }
}

/// A running daemon; killed when dropped.
pub struct Daemon {
    pub child: tokio::process::Child,
    pub pid: u32,
    /// The public listener: webhooks, probes, `/metrics`.
    pub port: u16,
    /// The management listener: `/integrations/*`, `/notifications/*`, …
    pub admin_port: u16,
    /// Its standard error until it exits, when the launcher captured it.
    pub stderr: Option<tokio::task::JoinHandle<String>>,
    /// The file its standard error goes to, when the launcher holds it.
    held: Option<tempfile::NamedTempFile>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let (true, Some(file)) = (std::thread::panicking(), &self.held) {
            let log = std::fs::read_to_string(file.path()).unwrap_or_default();
            eprintln!(
                "--- daemon {} standard error ---\n{log}--- end ---",
                self.pid
            );
        }
    }
}

impl Daemon {
    pub fn pid(&self) -> i32 {
        self.pid as i32
    }

    /// `http://127.0.0.1:<port>`: the public listener.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<admin port>`: the management listener.
    pub fn admin_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// Sends `sig` to the daemon.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe {
            libc::kill(self.pid as i32, sig);
        }
    }

    /// What it wrote to standard error until it exited (call after `wait`); empty when the
    /// launcher passed it through.
    pub async fn stderr_log(&mut self) -> String {
        match (self.stderr.take(), &self.held) {
            (Some(task), _) => task.await.unwrap_or_default(),
            (None, Some(file)) => std::fs::read_to_string(file.path()).unwrap_or_default(),
            (None, None) => String::new(),
        }
    }

    /// Waits at most `limit` for the process to exit and returns its status.
    pub async fn wait(&mut self, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .context("daemon did not exit in time")??;
        Ok(status)
    }

    /// Reads the peak RSS, sends SIGTERM and waits (30 s at most) for the exit; returns the
    /// peak RSS in MB.
    pub async fn stop(mut self) -> f64 {
        let rss = peak_rss_mb(self.pid).unwrap_or(f64::NAN);
        self.signal(libc::SIGTERM);
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        rss
    }
}

/// The peak resident set (VmHWM) of a process, in MB.
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// This machine in one line: cores, CPU model, memory.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_gb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cores} cores ({model}), {mem_gb:.0} GiB")
}

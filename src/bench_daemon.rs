//! The real daemon as a child process for the benchmarks (`BenchDaemon`), and what the suites
//! read of it and of the machine: `/readyz` and `/metrics` over a minimal HTTP client, peak RSS,
//! the machine's description. It measures nothing itself.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The real daemon as a child process, for the benchmarks.
pub struct BenchDaemon {
    child: tokio::process::Child,
    pub pid: u32,
    pub port: u16,
}

impl BenchDaemon {
    /// `mcp-worker run` on `db_url` with `args`, quiet logs, `env` and the user's `--daemon-env`;
    /// returns once `/readyz` answers 200.
    pub async fn start(
        db_url: &str,
        args: &[String],
        env: &[(&str, &str)],
        daemon_env: &[String],
    ) -> anyhow::Result<BenchDaemon> {
        let port = free_port()?;
        let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
        cmd.arg("run")
            .args(args)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", db_url)
            .env("MCP_WORKER__LOG__LEVEL", "warn")
            .env_remove("MCP_WORKER_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        for kv in daemon_env {
            let (k, v) = kv.split_once('=').context("--daemon-env takes KEY=VALUE")?;
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().context("cannot start the daemon")?;
        let pid = child.id().context("daemon has no pid")?;
        wait_ready(port, &mut child).await?;
        Ok(BenchDaemon { child, pid, port })
    }

    /// Reads the peak RSS, sends SIGTERM and waits for the exit; returns the peak RSS in MB.
    pub async fn stop(mut self) -> f64 {
        let rss = peak_rss_mb(self.pid).unwrap_or(f64::NAN);
        println!("daemon peak RSS (VmHWM): {rss:.1} MB");
        // SAFETY-free: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.pid as i32, libc::SIGTERM);
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        rss
    }
}

async fn wait_ready(port: u16, child: &mut tokio::process::Child) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Some(status) = child.try_wait()? {
            bail!("daemon exited early: {status}");
        }
        if let Ok((200, _)) = http_get(&format!("127.0.0.1:{port}"), "/readyz").await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("daemon not ready after 30 s")
}

/// A minimal HTTP/1.1 GET, enough to read our own endpoints.
pub async fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

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

//! The real daemon as a child process for the benchmarks: the test kit's launcher with this
//! binary, the suite's environment and the user's `--daemon-env`. It measures nothing itself.

use anyhow::Context;

/// The shipped daemon, `mcp-worker`, built beside this binary (`cargo build --release --workspace`
/// builds both).
fn daemon_exe() -> anyhow::Result<std::path::PathBuf> {
    let me = std::env::current_exe()?;
    let exe = me.with_file_name(format!("mcp-worker{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        exe.exists(),
        "{} not found: build the daemon too (cargo build --release --workspace)",
        exe.display()
    );
    Ok(exe)
}

/// The real daemon as a child process, for the benchmarks.
pub struct BenchDaemon {
    inner: mcp_testkit::Daemon,
    pub pid: u32,
    /// The public listener (webhooks, probes, `/metrics`).
    pub port: u16,
    /// The management listener (`/integrations/*`, …).
    pub admin_port: u16,
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
        let mut launcher = mcp_testkit::Launcher::new(daemon_exe()?, db_url)
            .args(args)
            .envs(env);
        for kv in daemon_env {
            let (k, v) = kv.split_once('=').context("--daemon-env takes KEY=VALUE")?;
            launcher = launcher.env(k, v);
        }
        let inner = launcher.start().await?;
        Ok(BenchDaemon {
            pid: inner.pid,
            port: inner.port,
            admin_port: inner.admin_port,
            inner,
        })
    }

    /// Reads the peak RSS, sends SIGTERM and waits for the exit; returns the peak RSS in MB.
    pub async fn stop(self) -> f64 {
        let rss = self.inner.stop().await;
        println!("daemon peak RSS (VmHWM): {rss:.1} MB");
        rss
    }
}

//! Test helpers: the test kit (`mcp_testkit`: a database per test, in-process workers, the daemon
//! launcher) with this package's binary, as the tests call them.

use std::time::Duration;

pub use mcp_testkit::http::parse_metrics;
pub use mcp_testkit::worker::{
    start_builtin_worker, start_configured_worker, start_worker, test_config, test_vault,
};
pub use mcp_testkit::TestDb;

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mcp-worker")
}

/// `mcp-worker-lab` (crates/mcp-lab: the demo, the sandbox, the benchmarks), built beside the
/// daemon by `cargo test --workspace` (scripts/test).
pub fn lab_bin() -> String {
    let exe = std::path::Path::new(bin())
        .with_file_name(format!("mcp-worker-lab{}", std::env::consts::EXE_SUFFIX));
    assert!(
        exe.exists(),
        "{} not built: run the tests with --workspace (scripts/test) or cargo build -p mcp-lab",
        exe.display()
    );
    exe.display().to_string()
}

/// The real daemon binary as a child process, started by the test kit's launcher.
pub struct Daemon {
    inner: mcp_testkit::Daemon,
    /// The public listener.
    pub port: u16,
    /// The management listener.
    pub admin_port: u16,
}

impl Daemon {
    pub async fn start(url: &str, env: &[(&str, &str)]) -> Daemon {
        Self::start_with(url, &[], env).await
    }

    /// `run` with extra arguments.
    pub async fn start_with(url: &str, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        Self::launch(bin(), url, args, env).await
    }

    /// `mcp-worker-lab run`: the daemon with the sandbox and the demo workspace.
    pub async fn start_demo(url: &str, env: &[(&str, &str)]) -> Daemon {
        Self::launch(&lab_bin(), url, &[], env).await
    }

    async fn launch(exe: &str, url: &str, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let inner = mcp_testkit::Launcher::new(exe, url)
            .quick()
            .hold_stderr()
            .args(args)
            .envs(env)
            .start()
            .await
            .expect("start the daemon");
        Daemon {
            port: inner.port,
            admin_port: inner.admin_port,
            inner,
        }
    }

    pub fn pid(&self) -> i32 {
        self.inner.pid()
    }

    pub fn signal(&self, sig: i32) {
        self.inner.signal(sig)
    }

    /// Waits for the process to exit and returns its status.
    pub async fn wait(mut self, limit: Duration) -> std::process::ExitStatus {
        self.inner.wait(limit).await.expect("daemon exit")
    }
}

pub async fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    mcp_testkit::http_get(&format!("127.0.0.1:{port}"), path).await
}

/// A loopback port free at the time of asking (for a child process to listen on).
pub fn free_port() -> u16 {
    mcp_testkit::free_port().expect("free port")
}

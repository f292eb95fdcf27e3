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

/// Checks each `(sql, expected, what)`: the count `sql` answers is `expected`.
pub async fn assert_counts(db: &TestDb, checks: &[(&str, i64, &str)]) {
    for (sql, expected, what) in checks {
        assert_eq!(db.scalar_i64(sql).await, *expected, "{what}: {sql}");
    }
}

/// Moves the integration to `to` with `reason` by plain SQL, as any client of the database may.
pub async fn transition<'e>(ex: impl sqlx::PgExecutor<'e>, id: uuid::Uuid, to: &str, reason: &str) {
    sqlx::query("SELECT mcp.transition_integration_state($1, $2, $3)")
        .bind(id)
        .bind(to)
        .bind(reason)
        .execute(ex)
        .await
        .expect("transition");
}

/// Stops the worker, then drops the test database.
pub async fn finish(db: TestDb, worker: mcp_queue::worker::RunningWorker) {
    worker.shutdown().await;
    db.drop_db().await;
}

/// The binary under test run with `args` and the variables `set`, without `MCP_WORKER_CONFIG`
/// nor the variables `unset`: its output.
pub async fn run_bin(args: &[&str], set: &[(&str, &str)], unset: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args(args)
        .envs(set.iter().copied())
        .env_remove("MCP_WORKER_CONFIG");
    for name in unset {
        cmd.env_remove(name);
    }
    cmd.output().await.expect("run")
}

/// The binary under test run with `args` on the database `url` (warnings only in its log): did
/// it succeed, its stdout, its stderr.
pub async fn cli(url: &str, args: &[&str]) -> (bool, String, String) {
    run_exe(bin(), url, args).await
}

/// [`cli`] for the program `exe`.
pub async fn run_exe(exe: &str, url: &str, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(exe)
        .args(args)
        .env("DATABASE_URL", url)
        .env("MCP_WORKER__LOG__LEVEL", "warn")
        .env_remove("MCP_WORKER_CONFIG")
        .output()
        .await
        .expect("run cli");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A schedule switched off.
pub fn schedule_off() -> mcp_daemon::config::ScheduleConfig {
    mcp_daemon::config::ScheduleConfig {
        cron: None,
        kind: None,
        payload: serde_json::json!({}),
        enabled: false,
    }
}

/// A scheduler of `schedules` over the built-in kinds, on `pool`.
pub fn scheduler(
    pool: mcp_queue::pg::Db,
    schedules: &std::collections::BTreeMap<String, mcp_daemon::config::ScheduleConfig>,
) -> mcp_queue::scheduler::Scheduler {
    mcp_queue::scheduler::Scheduler::from_config(pool, schedules, mcp_handlers::builtin_catalog())
        .expect("scheduler")
}

/// `n` schedulers of `schedules`, each on a pool of its own as separate daemons would be.
pub async fn schedulers(
    url: &str,
    schedules: &std::collections::BTreeMap<String, mcp_daemon::config::ScheduleConfig>,
    n: usize,
) -> Vec<mcp_queue::scheduler::Scheduler> {
    let mut all = Vec::new();
    for _ in 0..n {
        let pool = mcp_queue::pg::Db::connect(url).await.expect("pool");
        all.push(scheduler(pool, schedules));
    }
    all
}

//! Test helpers: a fresh database per test on the real PostgreSQL named by DATABASE_URL, the
//! daemon binary as a child process, and a minimal HTTP client for its endpoints.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_worker::catalog::Catalog;
use mcp_worker::config::Config;
use mcp_worker::handlers::{Registry, Services};
use mcp_worker::queue::Queue;
use mcp_worker::worker::{RunningWorker, Worker};
use sqlx::{Connection, PgConnection, PgPool};

pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    /// A new database with migrations applied and the built-in catalogue written.
    pub async fn new() -> TestDb {
        Self::with_catalog(Catalog::builtin()).await
    }

    pub async fn with_catalog(catalog: &Catalog) -> TestDb {
        let db = Self::empty().await;
        mcp_worker::db::migrate(&db.pool, catalog)
            .await
            .expect("migrate");
        db
    }

    /// A new database without migrations.
    pub async fn empty() -> TestDb {
        let name = format!(
            "mcp_t_{}_{}_{:04x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            rand::random::<u16>()
        );
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .expect("connect admin");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create database");
        let mut url = url::Url::parse(&admin_url()).expect("url");
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await
            .expect("connect test db");
        TestDb { name, url, pool }
    }

    pub async fn drop_db(self) {
        self.pool.close().await;
        if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut admin)
            .await;
        }
    }

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Waits until `sql` (a boolean query) is true.
    pub async fn wait_until(&self, sql: &str, limit: Duration) {
        let start = Instant::now();
        loop {
            let ok: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_one(&self.pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            if ok {
                return;
            }
            if start.elapsed() > limit {
                panic!("not true after {limit:?}: {sql}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A config for in-process workers in tests: quick polling and upkeep.
pub fn test_config(url: &str) -> Config {
    let mut c = Config::default();
    c.database.url = url.to_string();
    c.worker.concurrency = 64;
    c.worker.fetch_batch = 32;
    c.worker.poll_interval = Duration::from_millis(100);
    c.worker.rescue_interval = Duration::from_millis(100);
    c.worker.stats_interval = Duration::from_millis(200);
    c.worker.shutdown_grace = Duration::from_millis(500);
    c
}

/// Starts an in-process worker on `db` with the given catalogue and handlers.
/// A worker with the default test config, the effective catalogue and every built-in handler.
pub async fn start_builtin_worker(db: &TestDb) -> RunningWorker {
    let cfg = test_config(&db.url);
    let catalog = Catalog::effective(&cfg);
    start_worker(db, cfg, &catalog, &Registry::builtin()).await
}

pub async fn start_worker(
    db: &TestDb,
    config: Config,
    catalog: &Catalog,
    registry: &Registry,
) -> RunningWorker {
    mcp_worker::metrics::install().expect("metrics");
    let queue = Queue::new(
        db.pool.clone(),
        mcp_worker::queue::new_worker_id(),
        catalog,
        config.worker.lease_grace,
        config.worker.queues.clone(),
    );
    let services = Arc::new(Services {
        queue: queue.clone(),
        connectors: Arc::new(
            mcp_worker::connectors::Connectors::from_config(&config).expect("connectors"),
        ),
        vault: Arc::new(test_vault()),
        config: Arc::new(config.clone()),
        webhook_events: Default::default(),
    });
    Worker::new(queue, catalog, registry, services, config.worker.clone())
        .expect("worker")
        .start()
        .await
        .expect("start worker")
}

/// A vault with one fixed test key (id `test-key`), the same in every test process.
pub fn test_vault() -> mcp_worker::vault::Vault {
    mcp_worker::vault::Vault::from_keys(vec![(
        "test-key".to_string(),
        zeroize::Zeroizing::new([7u8; 32]),
    )])
}

/// The real daemon binary as a child process.
pub struct Daemon {
    pub child: tokio::process::Child,
    pub port: u16,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mcp-worker")
}

impl Daemon {
    pub async fn start(url: &str, env: &[(&str, &str)]) -> Daemon {
        Self::start_with(url, &[], env).await
    }

    /// `run` with extra arguments (e.g. `--demo`).
    pub async fn start_with(url: &str, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let mut cmd = tokio::process::Command::new(bin());
        cmd.arg("run")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .env("DATABASE_URL", url)
            .env("MCP_WORKER__LOG__LEVEL", "warn")
            .env("MCP_WORKER__WORKER__POLL_INTERVAL", "100ms")
            .env("MCP_WORKER__WORKER__RESCUE_INTERVAL", "100ms")
            .env("MCP_WORKER__WORKER__STATS_INTERVAL", "200ms")
            .env_remove("MCP_WORKER_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn daemon");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!("daemon exited early: {status}");
            }
            if let Ok((200, _)) = http_get(port, "/readyz").await {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "daemon not ready"
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        Daemon { child, port }
    }

    pub fn pid(&self) -> i32 {
        self.child.id().expect("pid") as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// Waits for the process to exit and returns its status.
    pub async fn wait(mut self, limit: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("daemon did not exit in time")
            .expect("wait")
    }
}

pub async fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    mcp_worker::bench::http_get(&format!("127.0.0.1:{port}"), path).await
}

/// Parses Prometheus text into `name{labels}` → value.
pub fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// A loopback port free at the time of asking (for a child process to listen on).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

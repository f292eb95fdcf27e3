//! In-process workers for tests: a config with quick polling and upkeep, and a worker started on
//! a test database with the catalogue that config makes (so `[kinds.*]` overrides reach it).

use std::sync::Arc;
use std::time::Duration;

use mcp_daemon::config::Config;
use mcp_handlers::Services;
use mcp_queue::catalog::Catalog;
use mcp_queue::worker::{RunningWorker, Worker};
use mcp_queue::{Queue, Registry};

use crate::db::TestDb;

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

/// A worker with the default test config, its catalogue and every built-in job.
pub async fn start_builtin_worker(db: &TestDb) -> RunningWorker {
    start_configured_worker(db, test_config(&db.url)).await
}

/// A worker with `config`, the catalogue `config` makes (its `[kinds.*]` overrides applied) and
/// every built-in job.
pub async fn start_configured_worker(db: &TestDb, config: Config) -> RunningWorker {
    // Unchecked, unlike the daemon's: a test may hold a kind back with `concurrency = 0`.
    let catalog = mcp_handlers::builtin_catalog().with_overrides(&config.kinds);
    start_worker(db, config, &catalog, &mcp_handlers::registry()).await
}

/// A worker with `config`, the given catalogue (e.g. test kinds) and jobs.
pub async fn start_worker(
    db: &TestDb,
    config: Config,
    catalog: &Catalog,
    registry: &Registry<Services>,
) -> RunningWorker {
    let connectors = config.connectors().expect("connectors");
    start_worker_with_connectors(db, config, catalog, registry, connectors).await
}

/// A worker with `config`, its catalogue and every built-in job, calling the platforms through
/// `connectors` (the config's, some replaced by a test's own: `Connectors::with_connector`).
pub async fn start_configured_worker_with(
    db: &TestDb,
    config: Config,
    connectors: mcp_platforms::connectors::Connectors,
) -> RunningWorker {
    // Unchecked, unlike the daemon's: a test may hold a kind back with `concurrency = 0`.
    let catalog = mcp_handlers::builtin_catalog().with_overrides(&config.kinds);
    let registry = mcp_handlers::registry();
    start_worker_with_connectors(db, config, &catalog, &registry, connectors).await
}

async fn start_worker_with_connectors(
    db: &TestDb,
    config: Config,
    catalog: &Catalog,
    registry: &Registry<Services>,
    connectors: mcp_platforms::connectors::Connectors,
) -> RunningWorker {
    mcp_daemon::metrics::install().expect("metrics");
    let queue = Queue::new(
        db.pool.clone(),
        mcp_queue::new_worker_id(),
        catalog,
        config.worker.lease_grace,
        config.worker.queues.clone(),
    );
    let services = Arc::new(Services {
        queue: queue.clone(),
        connectors: Arc::new(connectors),
        vault: Arc::new(test_vault()),
        config: Arc::new(config.clone()),
        webhook_events: Default::default(),
        notifier: Default::default(),
        feed: Default::default(),
    });
    Worker::new(queue, catalog, registry, services, config.worker.clone())
        .expect("worker")
        .start()
        .await
        .expect("start worker")
}

/// A vault with one fixed test key (id `test-key`), the same in every test process.
pub fn test_vault() -> mcp_daemon::vault::Vault {
    mcp_daemon::vault::Vault::from_keys(vec![(
        "test-key".to_string(),
        zeroize::Zeroizing::new([7u8; 32]),
    )])
}

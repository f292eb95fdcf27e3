//! `mcp-worker run`: wires the pool, migrations, catalogue, worker, scheduler, the two HTTP
//! listeners (public and management) and systemd notifications together, and takes them down in
//! order on SIGTERM or SIGINT.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::Services;
use mcp_daemon::config::Config;
use mcp_daemon::sdnotify::{watchdog_interval, Notifier};
use mcp_queue::scheduler::Scheduler;
use mcp_queue::worker::Worker;
use mcp_queue::{new_worker_id, Queue};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Db(#[from] mcp_daemon::db::DbError),
    #[error(transparent)]
    Worker(#[from] mcp_queue::worker::WorkerError),
    #[error(transparent)]
    Scheduler(#[from] mcp_queue::scheduler::SchedulerError),
    #[error(transparent)]
    Listen(#[from] mcp_daemon::listener::ListenError),
    #[error("invalid config key `{0}`: {1}")]
    Config(String, String),
    #[error(transparent)]
    Settings(#[from] mcp_daemon::config::ConfigError),
    #[error(transparent)]
    FileLimit(#[from] mcp_daemon::listener::FileLimitError),
    #[error(transparent)]
    Metrics(#[from] mcp_daemon::metrics::MetricsError),
    #[error("migrations are not current and database.migrate_on_start is false: run `mcp-worker migrate`")]
    NotMigrated,
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Vault(#[from] mcp_daemon::vault::VaultError),
    #[error("vault keys: {0}")]
    Credentials(String),
    #[error("connectors: {0}")]
    Connectors(mcp_platforms::connectors::ConnectorBuildError),
    #[error(transparent)]
    WebhookKeys(#[from] mcp_daemon::webhooks::KeysError),
    #[error("mcp: {0}")]
    Mcp(String),
    #[error(transparent)]
    Preflight(#[from] crate::preflight::PreflightError),
    #[error(transparent)]
    PortTaken(#[from] crate::preflight::PortTaken),
    #[error("cannot enqueue the items backfill: {0}")]
    Backfill(#[from] mcp_queue::QueueError),
}

/// Runs until SIGTERM/SIGINT (or `stop` is cancelled), then shuts down gracefully. Boxed, so
/// that the binaries poll it through a pointer instead of compiling the whole daemon again
/// (rustc builds an async function's body, and every body it awaits, in each crate that awaits
/// it): a change to a handler then rebuilds this crate and relinks, no more.
#[inline(never)]
pub fn run(
    config: Config,
    stop: CancellationToken,
) -> futures::future::BoxFuture<'static, Result<(), DaemonError>> {
    Box::pin(run_unboxed(config, stop))
}

async fn run_unboxed(config: Config, stop: CancellationToken) -> Result<(), DaemonError> {
    // Checked again: `--listen` and `--admin-listen` may have changed the addresses.
    config
        .http
        .check()
        .map_err(|(key, message)| DaemonError::Config(key, message))?;
    // A port in use first, then what `check-config` checks.
    crate::preflight::listen_ports(&config)?;
    crate::preflight::check(&config)?;
    let files =
        mcp_daemon::listener::ensure_file_limit(&config.http, config.database.max_connections)?;
    tracing::debug!(files, "open file limit");
    let notifier = Notifier::from_env();
    let metrics = mcp_daemon::metrics::install()?;
    let catalog = crate::catalog(&config)?;
    let registry = crate::registry();
    let pool = mcp_daemon::db::connect(&config.database).await?;
    if config.database.migrate_on_start {
        mcp_daemon::db::migrate(&pool, &catalog).await?;
    } else if !mcp_daemon::db::migrations_current(&pool).await? {
        return Err(DaemonError::NotMigrated);
    } else {
        catalog
            .sync_to_db(&pool)
            .await
            .map_err(mcp_daemon::db::DbError::from)?;
    }
    mcp_daemon::metrics::register_kinds(catalog.iter().map(|k| k.kind.as_str()));
    // Rows stored before the current item model get it in the background.
    if let Some(job) = mcp_daemon::items::backfill::enqueue_if_needed(&pool).await? {
        tracing::info!(job_id = job, "items backfill enqueued");
    }

    let worker_id = new_worker_id();
    let queue = Queue::new(
        pool.clone(),
        worker_id.clone(),
        &catalog,
        config.worker.lease_grace,
        config.worker.queues.clone(),
    );
    let connectors = Arc::new(config.connectors().map_err(DaemonError::Connectors)?);
    let vault = Arc::new(mcp_daemon::vault::Vault::from_config(&config.vault)?);
    if vault.newest_key_id().is_none() {
        tracing::warn!("no vault key configured: stored credentials cannot be read or written");
    }
    mcp_daemon::keys::register_keys(&pool, &vault)
        .await
        .map_err(|e| DaemonError::Credentials(e.to_string()))?;
    // The data keys made so far, before any secret is read.
    mcp_daemon::keys::load_data_keys(&pool, &vault)
        .await
        .map_err(|e| DaemonError::Credentials(e.to_string()))?;
    mcp_daemon::metrics::register_platforms();
    mcp_daemon::sync::register_metrics();
    mcp_daemon::items::register_metrics();
    mcp_daemon::items::reconcile::register_metrics();
    let config = Arc::new(config);
    let api = mcp_daemon::http::api::ApiState {
        pool: pool.clone(),
        vault: vault.clone(),
        connectors: connectors.clone(),
        config: config.clone(),
    };
    let services = Arc::new(Services {
        queue: queue.clone(),
        config: config.clone(),
        connectors,
        vault,
        webhook_events: Default::default(),
        notifier: Default::default(),
        feed: Default::default(),
    });
    let worker = Worker::new(
        queue,
        &catalog,
        &registry,
        services.clone(),
        config.worker.clone(),
    )?
    .start()
    .await?;
    let hooks = mcp_daemon::http::webhooks::WebhookState::new(
        pool.clone(),
        services.vault.clone(),
        &config.webhooks,
        mcp_daemon::webhooks::AppSecrets::from_platforms(&config.platforms),
        Some(mcp_queue::QuietWake::start(pool.clone(), worker.waker())),
    )?;

    let background = CancellationToken::new();
    // The scheduler stops first; the listeners (/metrics, /readyz, webhooks; the management
    // API) and the gauges keep serving while running jobs drain.
    let stop_scheduler = CancellationToken::new();
    let mut scheduler_task = None;
    if config.scheduler.enabled {
        let scheduler = Scheduler::from_config(pool.clone(), &config.schedules, &catalog)?;
        mcp_daemon::metrics::register_schedules(
            scheduler.schedules().iter().map(|s| s.name.as_str()),
        );
        scheduler_task = Some(tokio::spawn(
            scheduler.run(config.scheduler.interval, stop_scheduler.clone()),
        ));
    }
    // The vault's data keys: made, rotated when due, re-encrypted to, retired (every daemon
    // takes part; the statements make each step happen once).
    let key_upkeep = {
        let (pool, vault, cfg) = (pool.clone(), services.vault.clone(), config.vault.clone());
        let schedule = mcp_queue::periodic::Schedule::every(cfg.upkeep_interval).staggered();
        tokio::spawn(mcp_queue::periodic::run(
            schedule,
            background.clone(),
            move || {
                let (pool, vault, cfg) = (pool.clone(), vault.clone(), cfg.clone());
                async move {
                    match mcp_daemon::keys::upkeep(&pool, &vault, &cfg).await {
                        Ok(true) => mcp_queue::periodic::Step::More,
                        Ok(false) => mcp_queue::periodic::Step::Done,
                        Err(e) => {
                            tracing::warn!(error = %e, "vault key upkeep failed");
                            mcp_queue::periodic::Step::Done
                        }
                    }
                }
            },
        ))
    };
    let gauges = tokio::spawn(gauges_loop(
        pool.clone(),
        services.vault.clone(),
        config.worker.stats_interval,
        background.clone(),
    ));
    let draining = CancellationToken::new();
    let readiness =
        mcp_daemon::http::ready::Readiness::start(&pool.connect_options(), background.clone());
    let mut public = mcp_daemon::http::router(readiness, metrics, draining.clone())
        .merge(mcp_daemon::http::webhooks::routes(hooks));
    if config.mcp.enabled {
        mcp_daemon::assistant::register_metrics();
        public = public.merge(
            mcp_daemon::assistant::routes(
                pool.clone(),
                mcp_daemon::db::connect_reads(&config.database, &pool, background.clone()).await?,
                &config.mcp,
                &config.webhooks.public_base,
                background.clone(),
            )
            .map_err(|e| DaemonError::Mcp(e.to_string()))?,
        );
    }
    let (addr, public_task) = mcp_daemon::listener::serve(
        &config.http.listen,
        public,
        config.http.public(),
        background.clone(),
    )
    .await?;
    let (admin_addr, admin_task) = mcp_daemon::listener::serve(
        &config.http.admin_listen,
        mcp_daemon::http::management(api),
        config.http.admin(),
        background.clone(),
    )
    .await?;
    tracing::info!(%worker_id, listen = %addr, admin_listen = %admin_addr, concurrency = config.worker.concurrency, "mcp-worker running");
    if let Err(e) = notifier.ready(&format!("running as {worker_id}")) {
        tracing::warn!(error = %e, "sd_notify READY failed");
    }
    if let Some(every) = watchdog_interval() {
        let n = notifier.clone();
        let stop_dog = background.clone();
        let live = worker.liveness();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    // No ping once the claim or completion loop has died: systemd restarts us.
                    _ = tick.tick() => if live.is_alive() {
                        let _ = n.watchdog();
                    } else {
                        tracing::error!("worker loop ended unexpectedly; withholding the watchdog ping");
                    },
                    _ = stop_dog.cancelled() => return,
                }
            }
        });
    }

    wait_for_signal(&stop).await?;
    draining.cancel();
    tracing::info!("stopping: no new claims; waiting for running jobs");
    let _ = notifier.stopping("draining running jobs");
    if let Some(t) = scheduler_task {
        stop_scheduler.cancel();
        let _ = t.await;
    }
    worker.shutdown().await;
    background.cancel();
    let _ = gauges.await;
    let _ = key_upkeep.await;
    let _ = public_task.await;
    let _ = admin_task.await;
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal(stop: &CancellationToken) -> Result<(), DaemonError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
        _ = stop.cancelled() => {}
    }
    Ok(())
}

/// Samples the integration, credential and change-feed gauges every `every` until `stop`.
async fn gauges_loop(
    pool: mcp_queue::pg::Db,
    vault: std::sync::Arc<mcp_daemon::vault::Vault>,
    every: std::time::Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    mcp_queue::periodic::every(every, stop, || async {
        if let Err(e) = mcp_daemon::integrations::sample_gauges(&pool).await {
            tracing::warn!(error = %e, "sampling integration gauges failed");
        }
        if let Err(e) = mcp_daemon::keys::sample_gauges(&pool, &vault).await {
            tracing::warn!(error = %e, "sampling credential gauges failed");
        }
        if let Err(e) = mcp_daemon::items::feed_lag::sample_gauges(&pool).await {
            tracing::warn!(error = %e, "sampling the change feed's lag failed");
        }
    })
    .await
}

//! `cargo bench --bench runtime`: what the apalis runtime costs. The same drain is measured on
//! two runners over the same claim and acknowledge queries of `mcp.sync_jobs`:
//!
//! - `engine`: the daemon's own worker (`mcp_queue::worker::Worker`): an apalis 1.0 `Worker`
//!   over the engine's custom backend (batched claims into a local buffer, one tokio task per
//!   attempt, a batched completer);
//! - `direct`: a plain tokio loop written here for comparison: claim a batch under a semaphore,
//!   spawn the same `noop` handler per job, send outcomes to the same batched `Queue::complete`.
//!
//! Each runner gets a fresh database; rounds alternate between them; completed rows are kept, so
//! later rounds run against a bigger table, as in `mcp-worker bench`. It prints figures, asserts
//! nothing. `DATABASE_URL` names the server (default postgres://postgres@127.0.0.1:5432/postgres).
//! `BENCH_JOBS` (default 100000) and `BENCH_ROUNDS` (default 3) size it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_daemon::config::Config;
use mcp_handlers::{JobError, Services};
use mcp_queue::job::Attempt;
use mcp_queue::worker::Worker;
use mcp_queue::Registry;
use mcp_queue::{ClaimedJob, Outcome, OutcomeRow, Queue};
use sqlx::{Connection, PgConnection};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Res<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> Res<()> {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let jobs: i64 = env_or("BENCH_JOBS", 100_000);
    let rounds: u32 = env_or("BENCH_ROUNDS", 3);
    let defaults = Config::default();
    println!(
        "drain of {jobs} noop jobs per round, {rounds} rounds, concurrency {}, fetch batch {}, complete batch {}",
        defaults.worker.concurrency, defaults.worker.fetch_batch, defaults.worker.complete_batch
    );

    let engine_db = fresh_db(&server, "engine").await?;
    let direct_db = fresh_db(&server, "direct").await?;
    let mut figures: Vec<(&str, Vec<f64>)> = vec![("engine", vec![]), ("direct", vec![])];
    for round in 1..=rounds {
        let e = drain_engine(&engine_db, jobs).await?;
        println!("round {round}: engine (apalis runtime) {e:>9.0} jobs/s");
        figures[0].1.push(e);
        let d = drain_direct(&direct_db, jobs).await?;
        println!("round {round}: direct tokio loop       {d:>9.0} jobs/s");
        figures[1].1.push(d);
    }
    for (name, v) in &figures {
        println!("{name:>6}: median {:>9.0} jobs/s", median(v));
    }
    let (e, d) = (median(&figures[0].1), median(&figures[1].1));
    println!(
        "engine on the apalis runtime: {:.0} % of the direct tokio loop's throughput",
        100.0 * e / d
    );
    for db in [&engine_db, &direct_db] {
        drop_db(&server, db).await?;
    }
    Ok(())
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

struct Db {
    name: String,
    url: String,
}

async fn fresh_db(server: &str, tag: &str) -> Res<Db> {
    let name = format!("mcp_bench_rt_{tag}_{}", std::process::id());
    let mut admin = PgConnection::connect(server).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let mut url = url::Url::parse(server)?;
    url.set_path(&format!("/{name}"));
    let url = url.to_string();
    let pool = mcp_queue::pg::Db::connect(&url).await?;
    mcp_daemon::db::migrate(&pool, mcp_handlers::builtin_catalog()).await?;
    pool.close().await;
    Ok(Db { name, url })
}

async fn drop_db(server: &str, db: &Db) -> Res<()> {
    let mut admin = PgConnection::connect(server).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        db.name
    )))
    .execute(&mut admin)
    .await?;
    Ok(())
}

/// A pool, queue and services set up the way `mcp-worker run` sets them up.
async fn setup(db: &Db) -> Res<(Config, Queue, Arc<Services>)> {
    let mut config = Config::default();
    config.database.url = db.url.clone();
    let pool = mcp_daemon::db::connect(&config.database).await?;
    let catalog = mcp_handlers::builtin_catalog();
    let queue = Queue::new(
        pool,
        mcp_queue::new_worker_id(),
        catalog,
        config.worker.lease_grace,
        vec![],
    );
    let services = Arc::new(Services {
        queue: queue.clone(),
        connectors: Arc::new(config.connectors()?),
        vault: Arc::new(mcp_daemon::vault::Vault::from_keys(vec![])),
        config: Arc::new(config.clone()),
        webhook_events: Default::default(),
        notifier: Default::default(),
        feed: Default::default(),
    });
    Ok((config, queue, services))
}

async fn insert(queue: &Queue, jobs: i64) -> Res<()> {
    sqlx::query("INSERT INTO mcp.sync_jobs (kind) SELECT 'noop' FROM generate_series(1, $1)")
        .bind(jobs)
        .execute(queue.pool())
        .await?;
    Ok(())
}

async fn wait_drained(queue: &Queue) -> Res<()> {
    let start = Instant::now();
    loop {
        let busy: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM mcp.sync_jobs \
             WHERE state IN ('available', 'scheduled', 'retryable', 'running'))",
        )
        .fetch_one(queue.pool())
        .await?;
        if !busy {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(600) {
            return Err("queue not drained after 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn drain_engine(db: &Db, jobs: i64) -> Res<f64> {
    let (config, queue, services) = setup(db).await?;
    insert(&queue, jobs).await?;
    let start = Instant::now();
    let worker = Worker::new(
        queue.clone(),
        mcp_handlers::builtin_catalog(),
        &mcp_handlers::registry(),
        services,
        config.worker.clone(),
    )?
    .start()
    .await?;
    wait_drained(&queue).await?;
    let rate = jobs as f64 / start.elapsed().as_secs_f64();
    worker.shutdown().await;
    queue.pool().close().await;
    Ok(rate)
}

/// The baseline: a direct tokio loop over the same queries and the same handler.
async fn drain_direct(db: &Db, jobs: i64) -> Res<f64> {
    let (config, queue, services) = setup(db).await?;
    insert(&queue, jobs).await?;
    let start = Instant::now();
    let registry = Arc::new(mcp_handlers::registry());
    let (tx, mut rx) = mpsc::unbounded_channel::<(OutcomeRow, OwnedSemaphorePermit)>();
    let completer_queue = queue.clone();
    let hooks = registry.discard_hooks();
    let complete_batch = config.worker.complete_batch;
    let completer = tokio::spawn(async move {
        let mut buf = Vec::with_capacity(complete_batch);
        while rx.recv_many(&mut buf, complete_batch).await > 0 {
            let rows: Vec<OutcomeRow> = buf.iter().map(|(r, _)| r.clone()).collect();
            if let Err(e) = completer_queue.complete(&rows, &hooks).await {
                eprintln!("complete failed: {e}");
            }
            buf.clear();
        }
    });
    let semaphore = Arc::new(Semaphore::new(config.worker.concurrency));
    let want = config.worker.fetch_batch.min(config.worker.concurrency) as u32;
    let stop = tokio_util::sync::CancellationToken::new();
    let producer = {
        let (queue, stop) = (queue.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let Ok(mut permits) = semaphore.clone().acquire_many_owned(want / 2).await else {
                    return;
                };
                let extra = (want - want / 2).min(semaphore.available_permits() as u32);
                if let Ok(more) = semaphore.clone().try_acquire_many_owned(extra) {
                    permits.merge(more);
                }
                let n = permits.num_permits();
                let caps = vec![n as i32; queue.kinds().len()];
                let claimed = match queue.claim(n, &caps).await {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("claim failed: {e}");
                        return;
                    }
                };
                if claimed.is_empty() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                for job in claimed {
                    let Some(permit) = permits.split(1) else {
                        break;
                    };
                    let (registry, services, tx) = (registry.clone(), services.clone(), tx.clone());
                    tokio::spawn(async move {
                        let row = run_job(&registry, services, job).await;
                        let _ = tx.send((row, permit));
                    });
                }
            }
        })
    };
    wait_drained(&queue).await?;
    let rate = jobs as f64 / start.elapsed().as_secs_f64();
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), producer).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), completer).await;
    queue.pool().close().await;
    Ok(rate)
}

/// The same handler and outcome mapping as the engine's, for one attempt.
async fn run_job(
    registry: &Registry<Services>,
    services: Arc<Services>,
    job: ClaimedJob,
) -> OutcomeRow {
    let (id, attempt, max_attempts) = (job.id, job.attempt, job.max_attempts);
    let outcome = match registry.bind(&job.kind, services) {
        None => Outcome::Discard {
            error: format!("no handler for kind {}", job.kind),
        },
        Some(run) => {
            let a = Attempt {
                id,
                kind: job.kind,
                attempt,
                max_attempts,
            };
            match run(a, job.payload).await {
                Ok(()) => Outcome::Completed,
                Err(JobError::Snooze(delay)) => Outcome::Snooze { delay },
                Err(JobError::Discard(error)) => Outcome::Discard { error },
                Err(JobError::Retry(error)) if attempt < max_attempts => Outcome::Retry {
                    error,
                    delay: Duration::from_secs(1),
                },
                Err(JobError::Retry(error)) => Outcome::Discard { error },
                Err(JobError::RetryAfter(delay, error)) if attempt < max_attempts => {
                    Outcome::Retry { error, delay }
                }
                Err(JobError::RetryAfter(_, error)) => Outcome::Discard { error },
            }
        }
    };
    OutcomeRow {
        id,
        attempt,
        outcome,
    }
}

//! The runner: an apalis 1.0 worker over the engine's own backend. The backend's fetcher claims
//! jobs in batches into free slots (a semaphore of `concurrency` permits), apalis hands each to
//! the service, which runs the attempt on its own tokio task, and a completer writes outcomes in
//! batches. A permit is held from claim until the outcome is written, so a daemon never holds
//! more than `concurrency` running rows. Each kind also has its own slots (`[kinds.<kind>]
//! concurrency`, else `concurrency`): a claim asks for at most the free slots of each kind, so a
//! sweep of thousands of one kind never takes the slots (and pool connections) that webhook
//! processing or token refresh need. Also hosts the rescuer, the depth sampler and the vacuumer
//! of the live partition.
//! It never decides policy on its own: attempts and backoff come from the catalogue.
//!
//! Files: `fetcher.rs` (claims into free slots), `attempt.rs` (runs one job, decides its
//! outcome), `completer.rs` (writes outcomes in batches), `upkeep.rs` (LISTEN, rescuer, depth and
//! pool sampler, live-partition vacuumer, each over `crate::periodic`).

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis_core::backend::custom::BackendBuilder;
use apalis_core::error::BoxDynError;
use apalis_core::task::data::Data;
use apalis_core::task::Task;
use apalis_core::worker::builder::WorkerBuilder;
use apalis_core::worker::context::WorkerContext;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use metrics::{counter, gauge, histogram};
use sqlx::postgres::PgListener;
use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, RetryPolicy};
use crate::config::WorkerConfig;
use crate::hooks::DiscardHooks;
use crate::job::{Attempt, Bound, JobError, Registry};
use crate::metrics as m;
use crate::{retry, ClaimedJob, Outcome, OutcomeRow, Queue, NOTIFY_CHANNEL};

mod attempt;
mod completer;
mod fetcher;
mod upkeep;

use crate::maintenance::{rescue_loop, sample_loop, vacuum_loop, KindSlots};
use attempt::{run_attempt, Runtime};
use completer::complete_loop;
use fetcher::{Claimed, Fetcher};
use upkeep::listen_loop;
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("job kind `{0}` is in the catalogue but has no handler")]
    NoHandler(String),
    #[error("cannot listen for new jobs: {0}")]
    Listen(sqlx::Error),
    #[error("cannot build the worker runtime: {0}")]
    Runtime(String),
}

/// A finished attempt on its way to the completer, with the permits it holds.
struct Done {
    row: OutcomeRow,
    _permit: OwnedSemaphorePermit,
    _kind_permit: KindPermit,
}

/// A slot of one kind. Freeing it tells the fetcher, which may have left that kind out of its
/// last claim because too few of its slots were free.
struct KindPermit {
    _permit: OwnedSemaphorePermit,
    wake: Arc<Notify>,
}

impl Drop for KindPermit {
    fn drop(&mut self) {
        self.wake.notify_one();
    }
}

struct KindRuntime {
    policy: RetryPolicy,
    /// This kind's slots: `[kinds.<kind>] concurrency`, else the daemon's `concurrency`.
    slots: Arc<Semaphore>,
    limit: usize,
    schema: crate::schema::Schema,
    job: Bound,
    name: Arc<str>,
}

pub struct Worker {
    queue: Queue,
    hooks: DiscardHooks,
    kinds: Arc<std::collections::HashMap<String, KindRuntime>>,
    cfg: WorkerConfig,
}

/// What `Worker::start` leaves running; `shutdown` stops it in order.
/// Shared view of the worker's loops, for the systemd watchdog.
#[derive(Clone)]
pub struct Liveness {
    producer: Arc<AtomicBool>,
    completer: Arc<AtomicBool>,
}

impl Liveness {
    pub fn is_alive(&self) -> bool {
        self.producer.load(Ordering::Relaxed) && self.completer.load(Ordering::Relaxed)
    }
}

/// Clears its flag when the loop that owns it ends, however it ends (return or panic).
struct AliveGuard(Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

pub struct RunningWorker {
    producer_alive: Arc<AtomicBool>,
    completer_alive: Arc<AtomicBool>,
    stop_claiming: CancellationToken,
    hard_stop: CancellationToken,
    producer: JoinHandle<()>,
    completer: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
    semaphore: Arc<Semaphore>,
    concurrency: usize,
    grace: Duration,
    wake: Arc<Notify>,
}

impl Worker {
    /// A worker for every kind of `catalog`, each run by its job in `registry` with `services`.
    pub fn new<S: Send + Sync + 'static>(
        queue: Queue,
        catalog: &Catalog,
        registry: &Registry<S>,
        services: Arc<S>,
        cfg: WorkerConfig,
    ) -> Result<Worker, WorkerError> {
        let mut kinds = std::collections::HashMap::new();
        for spec in catalog.iter() {
            let job = registry
                .bind(&spec.kind, services.clone())
                .ok_or_else(|| WorkerError::NoHandler(spec.kind.clone()))?;
            let limit = spec
                .concurrency
                .unwrap_or(cfg.concurrency)
                .min(cfg.concurrency);
            kinds.insert(
                spec.kind.clone(),
                KindRuntime {
                    policy: spec.policy,
                    slots: Arc::new(Semaphore::new(limit)),
                    limit,
                    schema: spec.schema.clone(),
                    job,
                    name: Arc::from(spec.kind.as_str()),
                },
            );
        }
        Ok(Worker {
            queue,
            hooks: registry.discard_hooks(),
            kinds: Arc::new(kinds),
            cfg,
        })
    }

    /// Starts listening, claiming, completing, rescuing and sampling.
    pub async fn start(self) -> Result<RunningWorker, WorkerError> {
        let wake = Arc::new(Notify::new());
        let listener = self.listener().await?;

        let stop_claiming = CancellationToken::new();
        let hard_stop = CancellationToken::new();
        let semaphore = Arc::new(Semaphore::new(self.cfg.concurrency));
        let (tx, rx) = mpsc::unbounded_channel::<Done>();

        let mut background = vec![
            tokio::spawn(rescue_loop(
                self.queue.clone(),
                self.hooks.clone(),
                self.cfg.rescue_interval,
                wake.clone(),
                stop_claiming.clone(),
            )),
            tokio::spawn(sample_loop(
                self.queue.clone(),
                self.kinds
                    .iter()
                    .map(|(kind, kr)| KindSlots {
                        kind: kind.clone(),
                        limit: kr.limit,
                        slots: kr.slots.clone(),
                    })
                    .collect(),
                self.cfg.stats_interval,
                stop_claiming.clone(),
            )),
            tokio::spawn(vacuum_loop(
                self.queue.clone(),
                self.cfg.vacuum_interval,
                self.cfg.vacuum_dead_rows,
                stop_claiming.clone(),
            )),
        ];
        if let Some(listener) = listener {
            background.push(tokio::spawn(listen_loop(
                listener,
                wake.clone(),
                stop_claiming.clone(),
            )));
        }
        let producer_alive = Arc::new(AtomicBool::new(true));
        let completer_alive = Arc::new(AtomicBool::new(true));
        let completer_guard = AliveGuard(completer_alive.clone());
        let producer_guard = AliveGuard(producer_alive.clone());
        let completer = tokio::spawn(complete_loop(
            completer_guard,
            self.queue.clone(),
            self.hooks.clone(),
            rx,
            self.cfg.complete_batch,
        ));
        let grace = self.cfg.shutdown_grace;
        let concurrency = self.cfg.concurrency;
        let (ended_tx, ended_rx) = oneshot::channel::<()>();
        let runtime = Arc::new(Runtime {
            kinds: self.kinds.clone(),
            tx: tx.clone(),
            hard_stop: hard_stop.clone(),
        });
        let kind_slots = self
            .queue
            .kinds()
            .iter()
            .map(|k| self.kinds.get(k).map(|kr| (kr.slots.clone(), kr.limit)))
            .collect::<Vec<_>>();
        let n_kinds = self.queue.kinds().len();
        let slot_freed = Arc::new(Notify::new());
        let fetcher = Fetcher {
            kind_slots,
            kind_backlog: vec![false; n_kinds],
            kind_blocked: vec![false; n_kinds],
            slot_freed,
            queue: self.queue.clone(),
            cfg: self.cfg.clone(),
            semaphore: semaphore.clone(),
            wake: wake.clone(),
            stop: stop_claiming.clone(),
            buffer: VecDeque::new(),
            backlog: false,
            failures: 0,
            ended: Some(ended_tx),
            tx,
        };
        let backend = BackendBuilder::new()
            .database(Some(fetcher))
            .fetcher(
                |f: &mut Option<Fetcher>, _: &(), _: &WorkerContext| match f.take() {
                    Some(f) => f.into_stream(),
                    None => futures::stream::empty().boxed(),
                },
            )
            .sink(|_: &mut Option<Fetcher>, _: &()| {
                futures::sink::unfold((), |(), _task: Task<Claimed>| {
                    async move { Err::<(), BoxDynError>("jobs are enqueued with SQL".into()) }
                        .boxed()
                })
            })
            .build()
            .map_err(|e| WorkerError::Runtime(e.to_string()))?;
        let apalis_worker = WorkerBuilder::new(self.queue.worker_id().to_string())
            .backend(backend)
            .data(runtime)
            .build(run_attempt);
        let run: futures::future::BoxFuture<'static, Result<(), apalis_core::error::WorkerError>> =
            Box::pin(apalis_worker.run_until(async move {
                // Stop apalis once the fetcher has ended; it then waits for attempts in flight.
                let _ = ended_rx.await;
                Ok::<(), apalis_core::error::WorkerError>(())
            }));
        let producer = tokio::spawn(async move {
            let _alive = producer_guard;
            if let Err(e) = run.await {
                tracing::error!(error = %e, "worker runtime ended with an error");
            }
        });
        Ok(RunningWorker {
            producer_alive,
            completer_alive,
            stop_claiming,
            hard_stop,
            producer,
            completer,
            background,
            semaphore,
            concurrency,
            grace,
            wake,
        })
    }
}

impl RunningWorker {
    /// Wakes this worker's claim loop at once, as a NOTIFY would: for code in the same process
    /// that enqueued jobs without one (`mcp.skip_notify`, see `queue::QuietWake`).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// A handle that tells whether the claim and completion loops are still alive.
    pub fn liveness(&self) -> Liveness {
        Liveness {
            producer: self.producer_alive.clone(),
            completer: self.completer_alive.clone(),
        }
    }

    /// Stops claiming, lets running jobs finish for up to the grace period, puts the rest back
    /// (`available`, attempt not spent), writes every outcome, then returns.
    pub async fn shutdown(self) {
        self.stop_claiming.cancel();
        let all = self.concurrency as u32;
        let drained = tokio::time::timeout(self.grace, self.semaphore.acquire_many(all)).await;
        if drained.is_err() {
            let left = self.concurrency - self.semaphore.available_permits();
            tracing::warn!(
                jobs = left,
                "shutdown grace over: putting unfinished jobs back"
            );
            self.hard_stop.cancel();
        }
        // The fetcher has ended; the apalis worker returns once its last attempt has.
        let _ = self.producer.await;
        // The producer held the only sender besides the job tasks; once they are all done the
        // channel closes and the completer ends after its last write.
        let _ = self.completer.await;
        for b in self.background {
            b.abort();
        }
    }
}

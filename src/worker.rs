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
use crate::handlers::{JobContext, JobError, Registry, Services};
use crate::metrics as m;
use crate::queue::{retry, ClaimedJob, Outcome, OutcomeRow, Queue, NOTIFY_CHANNEL};

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
    handler: Arc<dyn crate::handlers::Handler>,
    name: Arc<str>,
}

pub struct Worker {
    queue: Queue,
    services: Arc<Services>,
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
    pub fn new(
        queue: Queue,
        catalog: &Catalog,
        registry: &Registry,
        services: Arc<Services>,
        cfg: WorkerConfig,
    ) -> Result<Worker, WorkerError> {
        let mut kinds = std::collections::HashMap::new();
        for spec in catalog.iter() {
            let handler = registry
                .get(&spec.kind)
                .ok_or_else(|| WorkerError::NoHandler(spec.kind.clone()))?
                .clone();
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
                    handler,
                    name: Arc::from(spec.kind.as_str()),
                },
            );
        }
        Ok(Worker {
            queue,
            services,
            kinds: Arc::new(kinds),
            cfg,
        })
    }

    /// Starts listening, claiming, completing, rescuing and sampling.
    pub async fn start(self) -> Result<RunningWorker, WorkerError> {
        let wake = Arc::new(Notify::new());
        let mut listener = PgListener::connect_with(self.queue.pool())
            .await
            .map_err(WorkerError::Listen)?;
        listener
            .listen(NOTIFY_CHANNEL)
            .await
            .map_err(WorkerError::Listen)?;

        let stop_claiming = CancellationToken::new();
        let hard_stop = CancellationToken::new();
        let semaphore = Arc::new(Semaphore::new(self.cfg.concurrency));
        let (tx, rx) = mpsc::unbounded_channel::<Done>();

        let background = vec![
            tokio::spawn(listen_loop(listener, wake.clone(), stop_claiming.clone())),
            tokio::spawn(rescue_loop(
                self.queue.clone(),
                self.cfg.rescue_interval,
                wake.clone(),
                stop_claiming.clone(),
            )),
            tokio::spawn(stats_loop(
                self.queue.clone(),
                self.kinds.clone(),
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
        let producer_alive = Arc::new(AtomicBool::new(true));
        let completer_alive = Arc::new(AtomicBool::new(true));
        let completer_guard = AliveGuard(completer_alive.clone());
        let producer_guard = AliveGuard(producer_alive.clone());
        let completer = tokio::spawn(complete_loop(
            completer_guard,
            self.queue.clone(),
            rx,
            self.cfg.complete_batch,
        ));
        let grace = self.cfg.shutdown_grace;
        let concurrency = self.cfg.concurrency;
        let (ended_tx, ended_rx) = oneshot::channel::<()>();
        let runtime = Arc::new(Runtime {
            kinds: self.kinds.clone(),
            services: self.services.clone(),
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

/// One claimed attempt on its way through the apalis worker, holding its slots.
pub struct Claimed {
    job: ClaimedJob,
    permit: OwnedSemaphorePermit,
    kind_permit: KindPermit,
}

/// What every attempt needs: handlers and policies by kind, services, the completer's inbox.
struct Runtime {
    kinds: Arc<std::collections::HashMap<String, KindRuntime>>,
    services: Arc<Services>,
    tx: mpsc::UnboundedSender<Done>,
    hard_stop: CancellationToken,
}

/// The apalis backend's fetcher: claims batches from `mcp.sync_jobs` into a local buffer while
/// free slots exist, and hands them to the apalis worker one by one. It ends (the apalis worker
/// then drains what is in flight and returns) once `stop` is cancelled and its buffer is empty.
struct Fetcher {
    queue: Queue,
    /// Each claimed kind's slots and their number, in the order of `Queue::kinds`.
    kind_slots: Vec<Option<(Arc<Semaphore>, usize)>>,
    /// Per kind: its last claim filled every slot it was offered (more are likely waiting).
    kind_backlog: Vec<bool>,
    /// Per kind: the last round left it out for want of free slots.
    kind_blocked: Vec<bool>,
    /// Notified when a slot of some kind is freed.
    slot_freed: Arc<Notify>,
    cfg: WorkerConfig,
    semaphore: Arc<Semaphore>,
    wake: Arc<Notify>,
    stop: CancellationToken,
    buffer: VecDeque<Claimed>,
    backlog: bool,
    failures: u32,
    /// Fired when the fetcher has ended, so the apalis worker is stopped only then: by that
    /// time nothing claimed is left in the buffer.
    ended: Option<oneshot::Sender<()>>,
    /// For the buffer's jobs if the fetcher is dropped with some still in it.
    tx: mpsc::UnboundedSender<Done>,
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        // Claimed but never started: give them back at once without spending the attempt.
        for c in self.buffer.drain(..) {
            let _ = self.tx.send(Done {
                row: OutcomeRow {
                    id: c.job.id,
                    attempt: c.job.attempt,
                    outcome: Outcome::Return,
                },
                _permit: c.permit,
                _kind_permit: c.kind_permit,
            });
        }
    }
}

impl Fetcher {
    fn into_stream(self) -> FetchStream {
        futures::stream::unfold(self, |mut f| async move {
            let next = f.next().await?;
            Some((Ok(Some(Task::new(next))), f))
        })
        .boxed()
    }

    async fn next(&mut self) -> Option<Claimed> {
        loop {
            if let Some(c) = self.buffer.pop_front() {
                return Some(c);
            }
            if self.stop.is_cancelled() {
                if let Some(ended) = self.ended.take() {
                    let _ = ended.send(());
                }
                return None;
            }
            if self.fill().await.is_none() {
                continue;
            }
        }
    }

    /// One claim round; `None` once stopping.
    async fn fill(&mut self) -> Option<()> {
        let want = self.cfg.fetch_batch.min(self.cfg.concurrency).max(1);
        // With a backlog, wait for a worthwhile batch of free slots; when idle, one will do.
        let need = if self.backlog { (want / 2).max(1) } else { 1 } as u32;
        let mut permits = tokio::select! {
            p = self.semaphore.clone().acquire_many_owned(need) => p.ok()?,
            _ = self.stop.cancelled() => return None,
        };
        let extra = (want as u32)
            .saturating_sub(need)
            .min(self.semaphore.available_permits() as u32);
        if extra > 0 {
            if let Ok(more) = self.semaphore.clone().try_acquire_many_owned(extra) {
                permits.merge(more);
            }
        }
        let limit = permits.num_permits();
        // Each kind's share: its free slots, at most the batch. A kind with a backlog waits for
        // a worthwhile number of free slots (a quarter of its limit) rather than being claimed
        // a job or two at a time as each one finishes.
        let mut caps = Vec::with_capacity(self.kind_slots.len());
        let mut kind_permits = Vec::with_capacity(self.kind_slots.len());
        for (i, slots) in self.kind_slots.iter().enumerate() {
            let (free, threshold) = match slots {
                Some((s, n)) => (
                    s.available_permits().min(limit),
                    self.threshold(i, *n, want),
                ),
                None => (0, 1),
            };
            let taken = match slots {
                Some((s, _)) if free >= threshold => {
                    s.clone().try_acquire_many_owned(free as u32).ok()
                }
                _ => None,
            };
            self.kind_blocked[i] = slots.is_some() && taken.is_none();
            caps.push(taken.as_ref().map(|p| p.num_permits() as i32).unwrap_or(0));
            kind_permits.push(taken);
        }
        if caps.iter().all(|&c| c == 0) {
            // Every kind is at its limit: wait for slots to free.
            drop(permits);
            self.idle_wait().await;
            return Some(());
        }
        let jobs = match self.queue.claim(limit, &caps).await {
            Ok(jobs) => {
                self.failures = 0;
                jobs
            }
            Err(e) => {
                self.failures += 1;
                counter!(m::DB_ERRORS, "op" => "claim").increment(1);
                tracing::warn!(error = %e, "claim failed; backing off");
                drop(permits);
                drop(kind_permits);
                let pause = Duration::from_millis(100 * 2u64.pow(self.failures.min(6)));
                tokio::select! {
                    _ = tokio::time::sleep(pause) => return Some(()),
                    _ = self.stop.cancelled() => return None,
                }
            }
        };
        histogram!(m::CLAIM_BATCH).record(jobs.len() as f64);
        self.backlog = jobs.len() == limit;
        let mut per_kind = vec![0i32; caps.len()];
        for job in &jobs {
            if let Some(i) = self.queue.kinds().iter().position(|k| *k == job.kind) {
                per_kind[i] += 1;
            }
        }
        for (i, &cap) in caps.iter().enumerate() {
            if cap > 0 {
                self.kind_backlog[i] = per_kind[i] >= cap;
            }
        }
        for job in jobs {
            let i = self.queue.kinds().iter().position(|k| *k == job.kind);
            let kind_permit = i
                .and_then(|i| kind_permits.get_mut(i))
                .and_then(|p| p.as_mut())
                .and_then(|p| p.split(1));
            let (Some(permit), Some(kind_permit)) = (permits.split(1), kind_permit) else {
                // Cannot happen: the claim takes at most the permits asked for. Leave the row
                // to the rescuer rather than run it without a slot.
                tracing::error!(job_id = job.id, kind = %job.kind, "claimed beyond the free slots");
                continue;
            };
            self.buffer.push_back(Claimed {
                job,
                permit,
                kind_permit: KindPermit {
                    _permit: kind_permit,
                    wake: self.slot_freed.clone(),
                },
            });
        }
        drop(permits);
        drop(kind_permits);
        gauge!(m::IN_FLIGHT)
            .set((self.cfg.concurrency - self.semaphore.available_permits()) as f64);
        if self.buffer.is_empty() {
            self.idle_wait().await;
        }
        Some(())
    }

    /// Free slots kind `i` (of `n` slots) needs before it is claimed again.
    fn threshold(&self, i: usize, n: usize, want: usize) -> usize {
        if self.kind_backlog[i] {
            (n.min(want) / 4).max(1)
        } else {
            1
        }
    }

    /// Waits for new jobs (a NOTIFY or an in-process wake), the poll interval, or enough freed
    /// slots of a kind that the last round left out.
    async fn idle_wait(&mut self) {
        let deadline = tokio::time::Instant::now() + self.cfg.poll_interval;
        let want = self.cfg.fetch_batch.min(self.cfg.concurrency).max(1);
        loop {
            tokio::select! {
                _ = self.wake.notified() => return,
                _ = tokio::time::sleep_until(deadline) => return,
                _ = self.stop.cancelled() => return,
                _ = self.slot_freed.notified() => {
                    let ready = self.kind_slots.iter().enumerate().any(|(i, slots)| {
                        match slots {
                            Some((s, n)) if self.kind_blocked[i] => {
                                s.available_permits() >= self.threshold(i, *n, want)
                            }
                            _ => false,
                        }
                    });
                    if ready {
                        return;
                    }
                }
            }
        }
    }
}

type FetchStream = BoxStream<'static, Result<Option<Task<Claimed>>, BoxDynError>>;

/// The apalis service: runs one attempt on its own tokio task (so attempts use every core and a
/// panic stays inside its job) and waits for it.
async fn run_attempt(c: Claimed, rt: Data<Arc<Runtime>>) -> Result<(), BoxDynError> {
    if let Some(handle) = start_attempt(&rt, c) {
        // A JoinError means the runtime itself is going away; the row keeps its lease and the
        // rescuer takes it back.
        let _ = handle.await;
    }
    Ok(())
}

fn start_attempt(rt: &Runtime, c: Claimed) -> Option<JoinHandle<()>> {
    let Claimed {
        job,
        permit,
        kind_permit,
    } = c;
    let Some(kr) = rt.kinds.get(&job.kind) else {
        // Cannot happen: the claim only asks for kinds in this map. Leave the row to the
        // rescuer rather than guess.
        tracing::error!(job_id = job.id, kind = %job.kind, "claimed a kind without handler");
        return None;
    };
    let handler = kr.handler.clone();
    let policy = kr.policy;
    let kind = kr.name.clone();
    let checked = kr.schema.validate(&job.payload);
    let services = rt.services.clone();
    let tx = rt.tx.clone();
    let hard_stop = rt.hard_stop.clone();
    Some(tokio::spawn(async move {
        counter!(m::JOBS_STARTED, "kind" => kind.to_string()).increment(1);
        tracing::debug!(job_id = job.id, kind = %kind, attempt = job.attempt, "job started");
        let started = Instant::now();
        let (id, attempt, max_attempts) = (job.id, job.attempt, job.max_attempts);
        let outcome = match checked {
            Err(reason) => Outcome::Discard {
                error: format!("invalid payload: {reason}"),
            },
            Ok(()) => {
                let ctx = JobContext {
                    id,
                    kind: kind.to_string(),
                    attempt,
                    max_attempts,
                    payload: job.payload,
                    integration_id: job.integration_id,
                    services,
                };
                let run = AssertUnwindSafe(handler.run(ctx)).catch_unwind();
                tokio::select! {
                    r = tokio::time::timeout(policy.timeout, run) => decide(r, &policy, attempt, max_attempts),
                    _ = hard_stop.cancelled() => Outcome::Return,
                }
            }
        };
        histogram!(m::JOB_DURATION, "kind" => kind.to_string())
            .record(started.elapsed().as_secs_f64());
        record(&kind, id, attempt, &outcome);
        let _ = tx.send(Done {
            row: OutcomeRow {
                id,
                attempt,
                outcome,
            },
            _permit: permit,
            _kind_permit: kind_permit,
        });
    }))
}

type RunResult = Result<
    Result<Result<(), JobError>, Box<dyn std::any::Any + Send>>,
    tokio::time::error::Elapsed,
>;

/// Turns what the handler did into the job's next state.
fn decide(r: RunResult, policy: &RetryPolicy, attempt: i16, max_attempts: i16) -> Outcome {
    let failure = |error: String| {
        if attempt >= max_attempts {
            Outcome::Discard { error }
        } else {
            Outcome::Retry {
                error,
                delay: retry::backoff_random(policy, attempt.max(1) as u32),
            }
        }
    };
    match r {
        Err(_) => failure(format!("timed out after {:?}", policy.timeout)),
        Ok(Err(panic)) => failure(format!("handler panicked: {}", panic_text(&panic))),
        Ok(Ok(Ok(()))) => Outcome::Completed,
        Ok(Ok(Err(JobError::Retry(e)))) => failure(e),
        Ok(Ok(Err(JobError::Discard(e)))) => Outcome::Discard { error: e },
        Ok(Ok(Err(JobError::Snooze(delay)))) => Outcome::Snooze { delay },
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}

/// One metric and one log event per state change.
fn record(kind: &Arc<str>, id: i64, attempt: i16, outcome: &Outcome) {
    let k = kind.to_string();
    match outcome {
        Outcome::Completed => {
            counter!(m::JOBS_COMPLETED, "kind" => k).increment(1);
            tracing::debug!(job_id = id, kind = %kind, attempt, "job completed");
        }
        Outcome::Retry { error, delay } => {
            counter!(m::JOBS_FAILED, "kind" => k.clone()).increment(1);
            counter!(m::JOBS_RETRIED, "kind" => k).increment(1);
            tracing::info!(job_id = id, kind = %kind, attempt, retry_in_ms = delay.as_millis() as u64, error = %error, "job failed; will retry");
        }
        Outcome::Discard { error } => {
            counter!(m::JOBS_FAILED, "kind" => k.clone()).increment(1);
            counter!(m::JOBS_DISCARDED, "kind" => k).increment(1);
            tracing::warn!(job_id = id, kind = %kind, attempt, error = %error, "job discarded");
        }
        Outcome::Snooze { delay } => {
            counter!(m::JOBS_SNOOZED, "kind" => k).increment(1);
            tracing::info!(job_id = id, kind = %kind, attempt, snooze_ms = delay.as_millis() as u64, "job snoozed");
        }
        Outcome::Return => {
            counter!(m::JOBS_RETURNED, "kind" => k).increment(1);
            tracing::info!(job_id = id, kind = %kind, attempt, "job put back unfinished (shutdown)");
        }
    }
}

async fn complete_loop(
    _alive: AliveGuard,
    queue: Queue,
    mut rx: mpsc::UnboundedReceiver<Done>,
    max_batch: usize,
) {
    let mut batch: Vec<Done> = Vec::with_capacity(max_batch);
    let mut rows: Vec<OutcomeRow> = Vec::with_capacity(max_batch);
    loop {
        match rx.recv().await {
            Some(d) => batch.push(d),
            None => return,
        }
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(d) => batch.push(d),
                Err(_) => break,
            }
        }
        rows.clear();
        rows.extend(batch.iter().map(|d| d.row.clone()));
        let mut failures: u32 = 0;
        loop {
            match queue.complete(&rows).await {
                Ok(written) => {
                    histogram!(m::COMPLETE_BATCH).record(rows.len() as f64);
                    if (written as usize) < rows.len() {
                        tracing::debug!(
                            skipped = rows.len() - written as usize,
                            "outcomes for jobs no longer ours were dropped (cancelled or rescued)"
                        );
                    }
                    break;
                }
                Err(e) => {
                    failures += 1;
                    counter!(m::DB_ERRORS, "op" => "complete").increment(1);
                    // The rows stay `running`; if this never succeeds their leases run out and
                    // the rescuer of some daemon takes them back. Nothing is lost either way.
                    if failures >= 30 && rx.is_closed() {
                        tracing::error!(error = %e, jobs = rows.len(), "giving up writing outcomes at shutdown; the rescuer will take these jobs back");
                        break;
                    }
                    tracing::warn!(error = %e, jobs = rows.len(), "writing outcomes failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50 * 2u64.pow(failures.min(6)))).await;
                }
            }
        }
        // Dropping the batch releases its permits: those slots may be claimed again.
        batch.clear();
    }
}

async fn listen_loop(mut listener: PgListener, wake: Arc<Notify>, stop: CancellationToken) {
    loop {
        tokio::select! {
            n = listener.try_recv() => match n {
                Ok(Some(_)) => wake.notify_one(),
                // Connection lost: sqlx reconnects on the next call; claim once in case a
                // notification was missed meanwhile.
                Ok(None) => wake.notify_one(),
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection failed; polling until it is back");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            _ = stop.cancelled() => return,
        }
    }
}

/// Vacuums the live partition soon after a burst has left dead rows in it (autovacuum visits a
/// database at most once a minute): claims then never step over dead index entries for long.
async fn vacuum_loop(queue: Queue, every: Duration, dead_rows: i64, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        match queue.vacuum_live_if_dead(dead_rows).await {
            Ok(true) => {
                counter!(m::QUEUE_VACUUMS).increment(1);
                tracing::debug!("vacuumed the live jobs partition");
            }
            Ok(false) => {}
            Err(e) => {
                counter!(m::DB_ERRORS, "op" => "vacuum").increment(1);
                tracing::warn!(error = %e, "vacuuming the live jobs partition failed");
            }
        }
    }
}

async fn rescue_loop(queue: Queue, every: Duration, wake: Arc<Notify>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        loop {
            match queue.rescue(1000).await {
                Ok(rescued) => {
                    for r in &rescued {
                        counter!(m::JOBS_RESCUED, "kind" => r.kind.clone()).increment(1);
                        tracing::warn!(job_id = r.id, kind = %r.kind, state = %r.state, "lease expired; job taken back");
                    }
                    if !rescued.is_empty() {
                        wake.notify_one();
                    }
                    if rescued.len() < 1000 {
                        break;
                    }
                }
                Err(e) => {
                    counter!(m::DB_ERRORS, "op" => "rescue").increment(1);
                    tracing::warn!(error = %e, "rescue failed");
                    break;
                }
            }
        }
    }
}

async fn stats_loop(
    queue: Queue,
    kind_rt: Arc<std::collections::HashMap<String, KindRuntime>>,
    every: Duration,
    stop: CancellationToken,
) {
    let kinds: Vec<String> = kind_rt.keys().cloned().collect();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let pool = queue.pool();
        let idle = pool.num_idle() as f64;
        gauge!(m::POOL_CONNECTIONS, "state" => "idle").set(idle);
        gauge!(m::POOL_CONNECTIONS, "state" => "in_use").set(pool.size() as f64 - idle);
        gauge!(m::POOL_MAX).set(pool.options().get_max_connections() as f64);
        for (kind, kr) in kind_rt.iter() {
            gauge!(m::KIND_IN_FLIGHT, "kind" => kind.clone())
                .set((kr.limit - kr.slots.available_permits()) as f64);
        }
        // What any statement would wait for a connection right now.
        let waited = Instant::now();
        match tokio::time::timeout(every, pool.acquire()).await {
            Ok(Ok(conn)) => {
                histogram!(m::DB_POOL_WAIT, "op" => "probe").record(waited.elapsed().as_secs_f64());
                drop(conn);
            }
            Ok(Err(_)) | Err(_) => {
                histogram!(m::DB_POOL_WAIT, "op" => "probe").record(waited.elapsed().as_secs_f64());
            }
        }
        match queue.depth().await {
            Ok(rows) => {
                for kind in &kinds {
                    let mut oldest: f64 = 0.0;
                    for state in ["available", "scheduled", "retryable", "running"] {
                        let row = rows.iter().find(|r| &r.kind == kind && r.state == state);
                        let n = row.map(|r| r.count).unwrap_or(0);
                        gauge!(m::QUEUE_DEPTH, "kind" => kind.clone(), "state" => state)
                            .set(n as f64);
                        if state != "running" {
                            if let Some(age) = row.and_then(|r| r.oldest_due_age) {
                                oldest = oldest.max(age);
                            }
                        }
                    }
                    gauge!(m::OLDEST_AVAILABLE_AGE, "kind" => kind.clone()).set(oldest);
                }
            }
            Err(e) => {
                counter!(m::DB_ERRORS, "op" => "stats").increment(1);
                tracing::warn!(error = %e, "reading queue depth failed");
            }
        }
    }
}

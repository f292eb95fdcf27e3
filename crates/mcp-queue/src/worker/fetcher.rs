//! The apalis backend's fetcher: claims due jobs into the daemon's free slots, global and per
//! kind, and hands them to the apalis worker one by one. It never runs a job.

use super::*;

/// One claimed attempt on its way through the apalis worker, holding its slots.
pub struct Claimed {
    pub(super) job: ClaimedJob,
    pub(super) permit: OwnedSemaphorePermit,
    pub(super) kind_permit: KindPermit,
}

/// The apalis backend's fetcher: claims batches from `mcp.sync_jobs` into a local buffer while
/// free slots exist, and hands them to the apalis worker one by one. It ends (the apalis worker
/// then drains what is in flight and returns) once `stop` is cancelled and its buffer is empty.
pub(super) struct Fetcher {
    pub(super) queue: Queue,
    /// Each claimed kind's slots and their number, in the order of `Queue::kinds`.
    pub(super) kind_slots: Vec<Option<(Arc<Semaphore>, usize)>>,
    /// Per kind: its last claim filled every slot it was offered (more are likely waiting).
    pub(super) kind_backlog: Vec<bool>,
    /// Per kind: the last round left it out for want of free slots.
    pub(super) kind_blocked: Vec<bool>,
    /// Notified when a slot of some kind is freed.
    pub(super) slot_freed: Arc<Notify>,
    pub(super) cfg: WorkerConfig,
    pub(super) semaphore: Arc<Semaphore>,
    pub(super) wake: Arc<Notify>,
    pub(super) stop: CancellationToken,
    pub(super) buffer: VecDeque<Claimed>,
    pub(super) backlog: bool,
    pub(super) failures: u32,
    /// Fired when the fetcher has ended, so the apalis worker is stopped only then: by that
    /// time nothing claimed is left in the buffer.
    pub(super) ended: Option<oneshot::Sender<()>>,
    /// For the buffer's jobs if the fetcher is dropped with some still in it.
    pub(super) tx: mpsc::UnboundedSender<Done>,
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
    pub(super) fn into_stream(self) -> FetchStream {
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
        // A kind whose offered slots were all taken has more waiting, most likely.
        for (i, taken) in kind_permits.iter().enumerate() {
            if let Some(left) = taken {
                self.kind_backlog[i] = left.num_permits() == 0;
            }
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

pub(super) type FetchStream = BoxStream<'static, Result<Option<Task<Claimed>>, BoxDynError>>;

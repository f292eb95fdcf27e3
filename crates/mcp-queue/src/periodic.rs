//! The one driver of the daemon's periodic services (rescuer, samplers, vacuumer, cron, gauges),
//! in the manner of River's maintenance services: start, run a step every period until stopped,
//! each wait jittered so that daemons started together drift apart, an optional stagger of the
//! first run, and a rest between back-to-back batches when a step says more work is waiting.
//! A step reports its own errors; this module never decides what a failure means.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// What a step reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing left: wait for the next period.
    Done,
    /// A full batch was done and more is waiting: run again after a rest of twice the step's
    /// time (at least `MIN_REST`, at most the period), so a backlog is worked off steadily
    /// without taking every connection and core from the jobs.
    More,
}

/// The shortest rest between two batches of one service.
pub const MIN_REST: Duration = Duration::from_millis(10);

/// How a periodic service is paced.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    period: Duration,
    jitter: f64,
    stagger: bool,
}

impl Schedule {
    /// Every `period`, each wait jittered by ±10 %, the first run at once.
    pub fn every(period: Duration) -> Schedule {
        Schedule {
            period,
            jitter: 0.1,
            stagger: false,
        }
    }

    /// Jitter of each wait as a fraction of the period (0 to 0.5).
    pub fn jitter(mut self, fraction: f64) -> Schedule {
        self.jitter = fraction.clamp(0.0, 0.5);
        self
    }

    /// The first run after a random part of one period instead of at once: daemons that start
    /// together (a deploy) do not all run the service at the same moment.
    pub fn staggered(mut self) -> Schedule {
        self.stagger = true;
        self
    }

    /// The wait before the next run: the period, jittered.
    fn next_wait(&self) -> Duration {
        let spread = (rand::random::<f64>() * 2.0 - 1.0) * self.jitter;
        self.period.mul_f64((1.0 + spread).max(0.0))
    }

    fn first_wait(&self) -> Duration {
        if self.stagger {
            self.period.mul_f64(rand::random::<f64>())
        } else {
            Duration::ZERO
        }
    }
}

/// Runs `step` on `schedule` until `stop` is cancelled (a step in progress finishes first).
pub async fn run<F, Fut>(schedule: Schedule, stop: CancellationToken, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Step>,
{
    let mut wait = schedule.first_wait();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return,
        }
        let started = Instant::now();
        wait = match step().await {
            Step::Done => schedule.next_wait().saturating_sub(started.elapsed()),
            Step::More => (started.elapsed() * 2).clamp(MIN_REST, schedule.period.max(MIN_REST)),
        };
    }
}

/// Runs `step` at once and then about every `period` (±10 %) until `stop` is cancelled.
pub async fn every<F, Fut>(period: Duration, stop: CancellationToken, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    run(Schedule::every(period), stop, || {
        let f = step();
        async move {
            f.await;
            Step::Done
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_stay_within_the_jitter() {
        let s = Schedule::every(Duration::from_secs(10));
        for _ in 0..1000 {
            let w = s.next_wait();
            assert!(
                w >= Duration::from_secs(9) && w <= Duration::from_secs(11),
                "{w:?}"
            );
        }
        assert_eq!(s.first_wait(), Duration::ZERO);
        let st = s.staggered();
        let firsts: Vec<Duration> = (0..200).map(|_| st.first_wait()).collect();
        assert!(firsts.iter().all(|w| *w < Duration::from_secs(10)));
        assert!(
            firsts.iter().any(|w| *w > Duration::from_secs(1)),
            "staggered"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_with_more_work_runs_again_after_a_rest_not_a_period() {
        let stop = CancellationToken::new();
        let runs = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let r = runs.clone();
        let task = tokio::spawn(run(
            Schedule::every(Duration::from_secs(60)),
            stop.clone(),
            move || {
                let n = r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if n < 3 {
                        Step::More
                    } else {
                        Step::Done
                    }
                }
            },
        ));
        // Four batches: 50 ms each plus 100 ms rests, well inside one period.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 4);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(
            runs.load(std::sync::atomic::Ordering::SeqCst),
            4,
            "then waits a period"
        );
        stop.cancel();
        let _ = task.await;
    }
}

//! The worker's background services: LISTEN, the rescuer, the depth and pool sampler and the
//! live-partition vacuumer. Each is safe on every daemon at once.

use super::*;
use crate::periodic::{self, Schedule, Step};

pub(super) async fn listen_loop(
    mut listener: PgListener,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
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
pub(super) async fn vacuum_loop(
    queue: Queue,
    every: Duration,
    dead_rows: i64,
    stop: CancellationToken,
) {
    periodic::every(every, stop, || async {
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
    })
    .await
}

pub(super) async fn rescue_loop(
    queue: Queue,
    every: Duration,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    let schedule = Schedule::every(every).staggered();
    periodic::run(schedule, stop, || async {
        // A full batch says more is waiting: the driver runs the next one after a short rest,
        // so a daemon that died with thousands of jobs is taken back within seconds, not a
        // thousand per period, without starving the claims.
        match queue.rescue(RESCUE_BATCH).await {
            Ok(rescued) => {
                for r in &rescued {
                    counter!(m::JOBS_RESCUED, "kind" => r.kind.clone()).increment(1);
                    tracing::warn!(job_id = r.id, kind = %r.kind, state = %r.state, "lease expired; job taken back");
                }
                if !rescued.is_empty() {
                    wake.notify_one();
                }
                if rescued.len() >= RESCUE_BATCH as usize {
                    Step::More
                } else {
                    Step::Done
                }
            }
            Err(e) => {
                counter!(m::DB_ERRORS, "op" => "rescue").increment(1);
                tracing::warn!(error = %e, "rescue failed");
                Step::Done
            }
        }
    })
    .await
}

/// Most jobs one rescue statement takes back.
const RESCUE_BATCH: i64 = 1000;

pub(super) async fn stats_loop(
    queue: Queue,
    kind_rt: Arc<std::collections::HashMap<String, KindRuntime>>,
    every: Duration,
    stop: CancellationToken,
) {
    periodic::every(every, stop, || sample(&queue, &kind_rt, every)).await
}

/// One sample: pool gauges and wait, per-kind slots in use, queue depth by kind and state.
async fn sample(
    queue: &Queue,
    kind_rt: &std::collections::HashMap<String, KindRuntime>,
    every: Duration,
) {
    let pool = queue.pool();
    let idle = pool.num_idle() as f64;
    gauge!(m::POOL_CONNECTIONS, "state" => "idle").set(idle);
    gauge!(m::POOL_CONNECTIONS, "state" => "in_use").set(pool.size() as f64 - idle);
    gauge!(m::POOL_MAX).set(pool.options().get_max_connections() as f64);
    for (kind, kr) in kind_rt {
        gauge!(m::KIND_IN_FLIGHT, "kind" => kind.clone())
            .set((kr.limit - kr.slots.available_permits()) as f64);
    }
    // What any statement would wait for a connection right now (a failed or timed-out acquire
    // counts its wait too).
    let waited = Instant::now();
    let _ = tokio::time::timeout(every, pool.acquire()).await;
    histogram!(m::DB_POOL_WAIT, "op" => "probe").record(waited.elapsed().as_secs_f64());
    let rows = match queue.depth().await {
        Ok(rows) => rows,
        Err(e) => {
            counter!(m::DB_ERRORS, "op" => "stats").increment(1);
            tracing::warn!(error = %e, "reading queue depth failed");
            return;
        }
    };
    for kind in kind_rt.keys() {
        let mut oldest: f64 = 0.0;
        for state in crate::JobState::LIVE.map(crate::JobState::as_str) {
            let row = rows.iter().find(|r| &r.kind == kind && r.state == state);
            gauge!(m::QUEUE_DEPTH, "kind" => kind.clone(), "state" => state)
                .set(row.map(|r| r.count).unwrap_or(0) as f64);
            if let Some(age) = row.and_then(|r| r.oldest_due_age) {
                oldest = oldest.max(age);
            }
        }
        gauge!(m::OLDEST_AVAILABLE_AGE, "kind" => kind.clone()).set(oldest);
    }
}

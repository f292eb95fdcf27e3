//! Where the MCP server's reading tools read: `database.read_url`'s replica while its replay
//! keeps within `database.read_max_lag` of the primary, the primary otherwise.
//!
//! A watcher samples both servers every `read_max_lag / 4` (between 100 ms and 2 s): the
//! replica's last replayed WAL position, then the primary's current one. The lag in seconds is
//! how long ago the primary first stood at a position the replica has not replayed yet, so an
//! idle primary reads as no lag (nothing to replay), and a paused or stuck replay grows by the
//! wall clock. Past the bound, or when the replica cannot be asked, reads move to the primary;
//! they come back once the lag is under half the bound. A `read_url` that is not a standby (no
//! replay position) is read as it is, without a lag.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_queue::pg::{self, Db};
use tokio_util::sync::CancellationToken;

/// `mcp_db_replica_lag_seconds`: how far the replica's replay is behind the primary.
pub const LAG_SECONDS: &str = "mcp_db_replica_lag_seconds";
/// `mcp_db_replica_lag_bytes`: WAL the primary has written that the replica has not replayed.
pub const LAG_BYTES: &str = "mcp_db_replica_lag_bytes";
/// `mcp_db_reads_on_replica`: 1 while the reading tools read the replica, 0 on the primary.
pub const ON_REPLICA: &str = "mcp_db_reads_on_replica";

/// The replica's replay position (`None` when it is not a standby).
const REPLAY_SQL: &str =
    "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::int8 AS replayed";
/// The primary's current WAL position.
const CURRENT_SQL: &str = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::int8";

/// The reading tools' database: the primary, or the replica while it keeps up.
#[derive(Clone)]
pub struct Reads {
    primary: Db,
    replica: Option<Db>,
    on_replica: Arc<AtomicBool>,
}

impl Reads {
    /// No replica: every read goes to `primary` (the gauges say so, at zero).
    pub fn primary(primary: Db) -> Reads {
        describe();
        for g in [LAG_SECONDS, LAG_BYTES, ON_REPLICA] {
            metrics::gauge!(g).set(0.0);
        }
        Reads {
            primary,
            replica: None,
            on_replica: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Reads on `replica` while it keeps within `max_lag` of `primary`, watched until `stop`.
    pub fn watched(primary: Db, replica: Db, max_lag: Duration, stop: CancellationToken) -> Reads {
        describe();
        let on_replica = Arc::new(AtomicBool::new(true));
        metrics::gauge!(ON_REPLICA).set(1.0);
        tokio::spawn(watch(
            primary.clone(),
            replica.clone(),
            on_replica.clone(),
            max_lag,
            stop,
        ));
        Reads {
            primary,
            replica: Some(replica),
            on_replica,
        }
    }

    /// Where a read goes now.
    pub fn db(&self) -> &Db {
        match &self.replica {
            Some(replica) if self.on_replica.load(Ordering::Relaxed) => replica,
            _ => &self.primary,
        }
    }
}

fn describe() {
    metrics::describe_gauge!(
        LAG_SECONDS,
        metrics::Unit::Seconds,
        "How far database.read_url's replay is behind the primary (0 when caught up, or without read_url)."
    );
    metrics::describe_gauge!(
        LAG_BYTES,
        metrics::Unit::Bytes,
        "WAL written on the primary and not yet replayed on database.read_url (0 without read_url)."
    );
    metrics::describe_gauge!(
        ON_REPLICA,
        "1 while the MCP reading tools read database.read_url, 0 while they read the primary."
    );
}

/// The primary's positions sampled while the replica had not replayed them, oldest first.
#[derive(Default)]
struct Behind {
    samples: VecDeque<(Instant, i64)>,
}

impl Behind {
    /// Records the primary at `current` (at `now`) with the replica at `replayed`; the lag is
    /// the age of the oldest sample the replica has not reached.
    fn lag(&mut self, now: Instant, replayed: i64, current: i64) -> Duration {
        self.samples.push_back((now, current));
        while self
            .samples
            .front()
            .is_some_and(|(_, lsn)| *lsn <= replayed)
        {
            self.samples.pop_front();
        }
        self.samples
            .front()
            .map(|(at, _)| now.saturating_duration_since(*at))
            .unwrap_or_default()
    }
}

/// What one sample says.
enum Sample {
    /// A standby `lag` behind, `bytes` of WAL short.
    Behind { lag: Duration, bytes: i64 },
    /// Not a standby: nothing to wait for.
    NotStandby,
}

async fn sample(primary: &Db, replica: &Db, behind: &mut Behind) -> Result<Sample, sqlx::Error> {
    let replayed: Option<i64> = pg::query_scalar(REPLAY_SQL).fetch_one(replica).await?;
    let Some(replayed) = replayed else {
        return Ok(Sample::NotStandby);
    };
    let current: i64 = pg::query_scalar(CURRENT_SQL).fetch_one(primary).await?;
    let lag = behind.lag(Instant::now(), replayed, current);
    Ok(Sample::Behind {
        lag,
        bytes: (current - replayed).max(0),
    })
}

/// Samples every quarter of `max_lag` and points `on_replica` at the replica or the primary.
async fn watch(
    primary: Db,
    replica: Db,
    on_replica_now: Arc<AtomicBool>,
    max_lag: Duration,
    stop: CancellationToken,
) {
    let every = (max_lag / 4).clamp(Duration::from_millis(100), Duration::from_secs(2));
    let mut behind = Behind::default();
    loop {
        let was = on_replica_now.load(Ordering::Relaxed);
        let (on_replica, lag) = match sample(&primary, &replica, &mut behind).await {
            Ok(Sample::NotStandby) => (true, Duration::ZERO),
            Ok(Sample::Behind { lag, bytes }) => {
                metrics::gauge!(LAG_SECONDS).set(lag.as_secs_f64());
                metrics::gauge!(LAG_BYTES).set(bytes as f64);
                // Back only once well under the bound, so a lag near it does not flap.
                let bound = if was { max_lag } else { max_lag / 2 };
                (lag <= bound, lag)
            }
            Err(e) => {
                if was {
                    tracing::warn!(error = %e, "cannot ask database.read_url how far behind it is; reads go to the primary");
                }
                (false, Duration::ZERO)
            }
        };
        on_replica_now.store(on_replica, Ordering::Relaxed);
        if on_replica && !was {
            tracing::info!(
                lag_s = lag.as_secs_f64(),
                "database.read_url caught up; reads go to it again"
            );
        } else if was && !on_replica && lag > max_lag {
            tracing::warn!(
                lag_s = lag.as_secs_f64(),
                max_lag_s = max_lag.as_secs_f64(),
                "database.read_url is behind the primary past database.read_max_lag; reads go to the primary"
            );
        }
        metrics::gauge!(ON_REPLICA).set(if on_replica { 1.0 } else { 0.0 });
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_is_the_age_of_the_oldest_position_not_replayed() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut b = Behind::default();
        // Caught up: no lag, however much the primary wrote before.
        assert_eq!(b.lag(t0, 100, 100), Duration::ZERO);
        // The primary moves on and the replica does not: the lag grows with the clock.
        assert_eq!(b.lag(t0 + s(1), 100, 200), Duration::ZERO);
        assert_eq!(b.lag(t0 + s(3), 100, 300), s(2));
        // The replica reaches 200 (not 300): behind since the sample at 300.
        assert_eq!(b.lag(t0 + s(4), 200, 300), s(1));
        // An idle primary with the replica caught up: no lag again.
        assert_eq!(b.lag(t0 + s(9), 300, 300), Duration::ZERO);
    }
}

//! How far the change feed trails its newest changes, and what holds it back.
//!
//! `mcp.changes` shows a change only once every transaction older than its writer's has ended
//! on the server (the watermark is `pg_snapshot_xmin`: the oldest transaction id still running,
//! in any database of the cluster). A long transaction anywhere therefore holds every
//! workspace's feed back for its length. The sampler reads the newest changes (at most
//! [`NEWEST`], newest first by `seq`) that the watermark still hides, and the oldest running
//! transaction with an id: that backend is what holds them.

use mcp_queue::pg::{self, Db};
use std::sync::atomic::{AtomicI32, Ordering};

pub const HELD: &str = "mcp_change_feed_held_changes";
pub const LAG: &str = "mcp_change_feed_lag_seconds";
pub const HOLDER_PID: &str = "mcp_change_feed_holder_pid";
pub const HOLDER_AGE: &str = "mcp_change_feed_holder_age_seconds";

/// The newest changes looked at: the held count saturates there.
pub const NEWEST: i64 = 10_000;

/// A lag past this is logged at WARN, once per holding backend.
pub const WARN_AFTER_S: f64 = 300.0;

/// The sampler's statement (exposed for the tests): held changes, the oldest one's age, and the
/// oldest running transaction with an id (pid, database, application, state, age).
pub const SAMPLE_SQL: &str = "\
WITH held AS ( \
    SELECT count(*) AS n, min(c.changed_at) AS oldest \
    FROM (SELECT txid, changed_at FROM mcp.item_changes ORDER BY seq DESC LIMIT $1) c \
    WHERE c.txid >= pg_snapshot_xmin(pg_current_snapshot())), \
holder AS ( \
    SELECT a.pid, a.datname::text AS datname, a.application_name, a.state, a.xact_start \
    FROM pg_stat_activity a \
    WHERE a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid() \
    ORDER BY age(a.backend_xid) DESC LIMIT 1) \
SELECT held.n AS held, \
       COALESCE(extract(epoch FROM clock_timestamp() - held.oldest), 0)::float8 AS lag_s, \
       h.pid AS holder_pid, h.datname AS holder_database, \
       h.application_name AS holder_application, h.state AS holder_state, \
       COALESCE(extract(epoch FROM clock_timestamp() - h.xact_start), 0)::float8 \
         AS holder_age_s \
FROM held LEFT JOIN holder h ON true";

/// One sample of the feed's lag.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Lag {
    /// Committed changes the watermark still hides (at most [`NEWEST`]).
    pub held: i64,
    /// Age of the oldest of them, in seconds (0 when none is held).
    pub lag_s: f64,
    pub holder_pid: Option<i32>,
    pub holder_database: Option<String>,
    pub holder_application: Option<String>,
    pub holder_state: Option<String>,
    /// How long the holder's transaction has been open, in seconds.
    pub holder_age_s: f64,
}

pub async fn sample(pool: &Db) -> Result<Lag, sqlx::Error> {
    pg::query_as(SAMPLE_SQL).bind(NEWEST).fetch_one(pool).await
}

pub fn register_metrics() {
    metrics::describe_gauge!(
        HELD,
        "Committed item changes the change feed does not show yet, because an older transaction (in any database of the server) is still open; at most 10,000."
    );
    metrics::describe_gauge!(
        LAG,
        metrics::Unit::Seconds,
        "Age of the oldest change the feed holds back (0: none)."
    );
    metrics::describe_gauge!(
        HOLDER_PID,
        "Process id of the oldest open transaction holding the feed back (0: none)."
    );
    metrics::describe_gauge!(
        HOLDER_AGE,
        metrics::Unit::Seconds,
        "How long the transaction holding the feed back has been open (0: none)."
    );
    for g in [HELD, LAG, HOLDER_PID, HOLDER_AGE] {
        metrics::gauge!(g).set(0.0);
    }
}

/// The holder last logged, so that one long transaction is logged once.
static LOGGED: AtomicI32 = AtomicI32::new(0);

/// Samples the lag into the gauges; a lag past [`WARN_AFTER_S`] is logged once per holder,
/// naming it and what to do.
pub async fn sample_gauges(pool: &Db) -> Result<(), sqlx::Error> {
    let lag = sample(pool).await?;
    let holding = lag.held > 0;
    let pid = lag.holder_pid.filter(|_| holding);
    metrics::gauge!(HELD).set(lag.held as f64);
    metrics::gauge!(LAG).set(lag.lag_s);
    metrics::gauge!(HOLDER_PID).set(f64::from(pid.unwrap_or(0)));
    metrics::gauge!(HOLDER_AGE).set(if holding { lag.holder_age_s } else { 0.0 });
    match pid {
        Some(pid) if lag.lag_s > WARN_AFTER_S => {
            if LOGGED.swap(pid, Ordering::Relaxed) != pid {
                tracing::warn!(
                    held_changes = lag.held,
                    lag_s = lag.lag_s.round(),
                    pid,
                    database = lag.holder_database.as_deref().unwrap_or("?"),
                    application = lag.holder_application.as_deref().unwrap_or("?"),
                    state = lag.holder_state.as_deref().unwrap_or("?"),
                    open_s = lag.holder_age_s.round(),
                    "the change feed is held back by a transaction open elsewhere on the \
                     server: its readers see no newer change until it ends. End it (COMMIT or \
                     ROLLBACK in its session, or SELECT pg_terminate_backend(pid)) if it should \
                     not be open; docs/CHANGES.md#what-holds-the-feed-back"
                );
            }
        }
        _ => LOGGED.store(0, Ordering::Relaxed),
    }
    Ok(())
}

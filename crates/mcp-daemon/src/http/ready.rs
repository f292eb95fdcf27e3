//! The readiness probe behind `/readyz`. A background task owns one database connection of its
//! own (never one of the job pool's, which running jobs may hold or which may be waiting on a
//! database that is gone) and, every quarter second, asks it whether the migrations are current,
//! each try bounded by a short timeout. `/readyz` answers from the last result without touching
//! the database, so it answers at once even while PostgreSQL is down or the pool is saturated:
//! 503 within about a second of the database becoming unreachable, 200 again as soon as it
//! answers. The probe also sets `mcp_database_up`.

use std::time::{Duration, Instant};

use metrics::gauge;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::metrics as m;

/// Pause between two probes.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// Longest wait for a new connection (TCP, TLS, authentication and session setup).
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(800);
/// Longest wait for the probe's query; the server cancels it at the same time.
pub const QUERY_TIMEOUT: Duration = Duration::from_millis(500);
/// A successful probe older than this no longer counts (the probe itself is stuck or gone).
pub const MAX_AGE: Duration = Duration::from_millis(1500);

/// Longest reason carried into an answer or a log line.
const MAX_REASON: usize = 200;

/// Why the daemon is not ready. The texts carry no connection details (no URL, user or password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("database not probed yet")]
    NotProbed,
    #[error("database probe stale: no answer for {0} ms")]
    Stale(u128),
    #[error("migrations are not current: run `mcp-worker migrate`")]
    MigrationsBehind,
    #[error("database did not answer within {0} ms")]
    Timeout(u128),
    #[error("database unreachable: {0}")]
    Unreachable(String),
}

#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    outcome: Result<(), NotReady>,
}

/// The last probe's result, shared with the `/readyz` handler. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct Readiness {
    rx: watch::Receiver<Option<Sample>>,
}

impl Readiness {
    /// Starts the probe with the job pool's connection options (`PgPool::connect_options`); it
    /// opens its own connection and stops when `stop` is cancelled.
    pub fn start(options: &PgConnectOptions, stop: CancellationToken) -> Readiness {
        let options = options.clone().application_name("mcp-worker readyz");
        let (tx, rx) = watch::channel(None);
        tokio::spawn(probe_loop(options, tx, stop));
        Readiness { rx }
    }

    /// Ready when the last probe succeeded less than `MAX_AGE` ago. Never waits.
    pub fn check(&self) -> Result<(), NotReady> {
        match &*self.rx.borrow() {
            None => Err(NotReady::NotProbed),
            Some(Sample {
                outcome: Err(e), ..
            }) => Err(e.clone()),
            Some(Sample {
                at,
                outcome: Ok(()),
            }) => {
                let age = at.elapsed();
                if age < MAX_AGE {
                    Ok(())
                } else {
                    Err(NotReady::Stale(age.as_millis()))
                }
            }
        }
    }
}

async fn probe_loop(
    options: PgConnectOptions,
    tx: watch::Sender<Option<Sample>>,
    stop: CancellationToken,
) {
    let mut conn: Option<PgConnection> = None;
    let mut was_ready: Option<bool> = None;
    loop {
        let outcome = tokio::select! {
            o = probe(&options, &mut conn) => o,
            _ = stop.cancelled() => break,
        };
        let up = !matches!(
            outcome,
            Err(NotReady::Unreachable(_) | NotReady::Timeout(_))
        );
        gauge!(m::DATABASE_UP).set(if up { 1.0 } else { 0.0 });
        match (&outcome, was_ready) {
            (Ok(()), Some(false)) => tracing::info!("readiness: the database answers again"),
            (Err(e), Some(true) | None) => tracing::warn!(reason = %e, "readiness: not ready"),
            _ => {}
        }
        was_ready = Some(outcome.is_ok());
        tx.send_replace(Some(Sample {
            at: Instant::now(),
            outcome,
        }));
        tokio::select! {
            _ = tokio::time::sleep(PROBE_INTERVAL) => {}
            _ = stop.cancelled() => break,
        }
    }
    if let Some(c) = conn {
        let _ = tokio::time::timeout(QUERY_TIMEOUT, c.close()).await;
    }
}

/// One probe: (re)connects if needed, then asks whether the migrations are current. Any failure
/// drops the connection, so the next probe starts from a fresh one.
async fn probe(
    options: &PgConnectOptions,
    conn: &mut Option<PgConnection>,
) -> Result<(), NotReady> {
    let mut c = match conn.take() {
        Some(c) => c,
        None => {
            match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return Err(unreachable(&e)),
                Err(_) => return Err(NotReady::Timeout(CONNECT_TIMEOUT.as_millis())),
            }
        }
    };
    let answer = tokio::time::timeout(QUERY_TIMEOUT, applied(&mut c)).await;
    match answer {
        Ok(Ok(version)) => {
            *conn = Some(c);
            if version == Some(crate::db::latest_migration()) {
                Ok(())
            } else {
                Err(NotReady::MigrationsBehind)
            }
        }
        Ok(Err(e)) => Err(unreachable(&e)),
        Err(_) => Err(NotReady::Timeout(QUERY_TIMEOUT.as_millis())),
    }
}

/// The probe's question in one message of the simple protocol, its statement timeout set for
/// its own transaction only: nothing outlives it in the session, so it asks the same through a
/// transaction pooler, which may hand each transaction to another server connection.
const PROBE_SQL: &str = const_format::concatcp!(
    "BEGIN; SET LOCAL statement_timeout = ",
    QUERY_TIMEOUT.as_millis() as u64,
    "; SELECT max(version) FROM _sqlx_migrations WHERE success; COMMIT"
);

/// The newest migration applied.
async fn applied(c: &mut PgConnection) -> Result<Option<i64>, sqlx::Error> {
    use sqlx::Row;
    match sqlx::raw_sql(PROBE_SQL).fetch_all(c).await?.first() {
        Some(row) => row.try_get(0),
        None => Ok(None),
    }
}

/// A short reason built from the error's kind and the server's message only, so that no
/// connection detail reaches an answer.
fn unreachable(e: &sqlx::Error) -> NotReady {
    let reason = match e {
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (SQLSTATE {code})", db.message()),
            None => db.message().to_string(),
        },
        sqlx::Error::Tls(_) => "TLS handshake failed".to_string(),
        sqlx::Error::Protocol(_) => "protocol error".to_string(),
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => "no connection".to_string(),
        _ => "connection failed".to_string(),
    };
    NotReady::Unreachable(short(reason))
}

fn short(mut s: String) -> String {
    if s.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[tokio::test]
    async fn an_unreachable_database_is_reported_without_connection_details() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let options =
            PgConnectOptions::from_str("postgres://app:hunter2secret@127.0.0.1:1/mcp_secret_db")
                .expect("options");
        let stop = CancellationToken::new();
        let r = Readiness::start(&options, stop.clone());
        assert_eq!(r.check(), Err(NotReady::NotProbed));
        let start = Instant::now();
        let e = loop {
            match r.check() {
                Err(NotReady::NotProbed) => {}
                other => break other.expect_err("nothing listens on port 1"),
            }
            assert!(start.elapsed() < Duration::from_secs(2), "no probe result");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let text = e.to_string();
        assert!(text.starts_with("database "), "{text}");
        for secret in [
            "hunter2secret",
            "mcp_secret_db",
            "127.0.0.1:1",
            "postgres://",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        stop.cancel();
    }

    #[test]
    fn a_fresh_success_is_ready_and_an_old_one_is_stale() {
        let (tx, rx) = watch::channel(None);
        let r = Readiness { rx };
        tx.send_replace(Some(Sample {
            at: Instant::now(),
            outcome: Ok(()),
        }));
        assert_eq!(r.check(), Ok(()));
        if let Some(at) = Instant::now().checked_sub(MAX_AGE + Duration::from_millis(10)) {
            tx.send_replace(Some(Sample {
                at,
                outcome: Ok(()),
            }));
            assert!(matches!(r.check(), Err(NotReady::Stale(_))));
        }
        tx.send_replace(Some(Sample {
            at: Instant::now(),
            outcome: Err(NotReady::MigrationsBehind),
        }));
        assert_eq!(r.check(), Err(NotReady::MigrationsBehind));
    }

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        let s = short("é".repeat(300));
        assert!(s.len() <= MAX_REASON);
        assert!(s.chars().all(|c| c == 'é'));
    }
}

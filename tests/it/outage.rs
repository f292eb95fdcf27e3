//! The daemon through a real PostgreSQL outage. The test makes its own throwaway cluster (the
//! shared test server is never stopped), stops it with `pg_ctl stop -m fast` while jobs run and
//! starts it again on the same port: `/readyz` must answer 503 at once while the database is
//! gone, 200 again soon after it is back, and every job must still complete.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};

use crate::common::{free_port, http_get, parse_metrics, Daemon};

/// Jobs enqueued, each sleeping long enough to be running when the database stops.
const JOBS: i64 = 300;
/// A request to `/readyz` that takes longer than this is a hang.
const ANSWER_LIMIT: Duration = Duration::from_secs(2);

/// A PostgreSQL cluster in a temporary directory, run by the installed binaries (as user
/// `postgres` when the test runs as root). Dropping it stops the server and removes the files.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn create() -> Cluster {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("mcp-outage-")
            .tempdir()
            .expect("temp dir");
        // SAFETY: geteuid(2) has no preconditions.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        if as_postgres {
            let ok = std::process::Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(ok.success(), "chown postgres: {}", dir.path().display());
        }
        let cluster = Cluster {
            data: dir.path().join("data"),
            bin,
            port: free_port(),
            as_postgres,
            dir,
        };
        let out = cluster
            .tool("initdb")
            .arg("-D")
            .arg(&cluster.data)
            .args(["-U", "postgres", "-A", "trust", "--no-sync"])
            .output()
            .await
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.start().await;
        cluster
    }

    /// One of the server's programs, run as the cluster's owner.
    fn command(&self, program: &str) -> std::process::Command {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            std::process::Command::new(path)
        };
        cmd.stdin(Stdio::null());
        cmd
    }

    fn tool(&self, program: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::from(self.command(program));
        cmd.kill_on_drop(true);
        cmd
    }

    /// `pg_ctl start` on the cluster's port; returns once it accepts connections.
    async fn start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let out = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.log())
            .args(["-w", "-t", "30", "-o", &opts, "start"])
            .output()
            .await
            .expect("pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.log()).unwrap_or_default()
        );
    }

    /// `pg_ctl stop -m fast`: sessions are terminated, the server shuts down cleanly.
    async fn stop_fast(&self) {
        let out = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-t", "30", "-m", "fast", "stop"])
            .output()
            .await
            .expect("pg_ctl stop");
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Whatever state the test left it in: stopped (an error, ignored) or running.
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-t", "30", "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The newest installed PostgreSQL's `bin` directory (`/usr/lib/postgresql/<version>/bin`).
fn pg_bin() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let version = |p: &Path| -> Vec<u32> {
        p.file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.split('.').filter_map(|x| x.parse().ok()).collect())
            .unwrap_or_default()
    };
    std::fs::read_dir(root)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("bin/initdb").exists())
        .max_by_key(|p| version(p))
        .map(|p| p.join("bin"))
        .expect("no PostgreSQL binaries under /usr/lib/postgresql: apt-get install postgresql")
}

/// `/readyz`, failing the test if it does not answer within `ANSWER_LIMIT`; returns the status,
/// the body and how long the answer took.
async fn readyz(port: u16) -> (u16, String, Duration) {
    let asked = Instant::now();
    let (status, body) = tokio::time::timeout(ANSWER_LIMIT, http_get(port, "/readyz"))
        .await
        .unwrap_or_else(|_| panic!("/readyz did not answer within {ANSWER_LIMIT:?}"))
        .expect("/readyz");
    (status, body, asked.elapsed())
}

async fn database_up(port: u16) -> f64 {
    let (_, text) = tokio::time::timeout(ANSWER_LIMIT, http_get(port, "/metrics"))
        .await
        .expect("/metrics answers")
        .expect("/metrics");
    parse_metrics(&text)
        .get("mcp_database_up")
        .copied()
        .unwrap_or_else(|| panic!("mcp_database_up missing in\n{text}"))
}

/// The value of `sql` once the database answers it (errors while it comes back are retried).
async fn scalar_when_up(pool: &sqlx::PgPool, sql: &'static str) -> i64 {
    let start = Instant::now();
    loop {
        let answer: Result<i64, _> = sqlx::query_scalar(sql).fetch_one(pool).await;
        match answer {
            Ok(v) => return v,
            Err(e) => assert!(start.elapsed() < Duration::from_secs(10), "{sql}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn readyz_answers_503_at_once_while_the_database_is_down_and_no_job_is_lost() {
    let began = Instant::now();
    let cluster = Cluster::create().await;
    let mut admin = PgConnection::connect(&cluster.url("postgres"))
        .await
        .expect("connect to the private cluster");
    sqlx::query("CREATE DATABASE mcp_outage")
        .execute(&mut admin)
        .await
        .expect("create database");
    admin.close().await.expect("close");
    let url = cluster.url("mcp_outage");
    let daemon = Daemon::start(&url, &[]).await;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&url)
        .await
        .expect("pool");
    sqlx::query(
        "INSERT INTO mcp.sync_jobs (kind, payload) \
         SELECT 'noop', '{\"sleep_ms\": 2000}' FROM generate_series(1, $1)",
    )
    .bind(JOBS)
    .execute(&pool)
    .await
    .expect("enqueue");
    let start = Instant::now();
    while scalar_when_up(
        &pool,
        "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'noop' AND state = 'running'",
    )
    .await
        < JOBS
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "jobs not running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(readyz(daemon.port).await.0, 200);
    assert_eq!(database_up(daemon.port).await, 1.0);
    let set_up = began.elapsed();

    // The outage, with every job still sleeping.
    let stopping = Instant::now();
    cluster.stop_fast().await;
    let stopped = Instant::now();
    let (body, first_503) = loop {
        let (status, body, _) = readyz(daemon.port).await;
        if status == 503 {
            break (body, stopped.elapsed());
        }
        assert_eq!(status, 200, "{body}");
        // A guard against a hang, not a figure: how soon it flips is printed below.
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "/readyz still 200 {:?} after the database stopped",
            stopped.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        body.contains("database"),
        "the reason names the database: {body}"
    );
    assert!(!body.contains("postgres://"), "{body}");
    // It stays 503, answered promptly, for as long as the database is down (meanwhile every job
    // has finished its sleep and its outcome waits to be written).
    let mut slowest = Duration::ZERO;
    while stopped.elapsed() < Duration::from_secs(3) {
        let (status, body, took) = readyz(daemon.port).await;
        assert_eq!(status, 503, "{body}");
        slowest = slowest.max(took);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(database_up(daemon.port).await, 0.0);

    // The database is back on the same port.
    cluster.start().await;
    let restarted = Instant::now();
    let back = loop {
        let (status, body, took) = readyz(daemon.port).await;
        slowest = slowest.max(took);
        if status == 200 {
            break restarted.elapsed();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(30),
            "/readyz not 200 within 30 s of the database coming back: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(database_up(daemon.port).await, 1.0);

    // No job is lost: every one completes.
    let start = Instant::now();
    while scalar_when_up(
        &pool,
        "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'noop' AND state = 'completed'",
    )
    .await
        < JOBS
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "jobs not all completed after the outage"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        scalar_when_up(
            &pool,
            "SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'noop'"
        )
        .await,
        JOBS
    );
    let completed_after = restarted.elapsed();
    eprintln!(
        "outage: set up {set_up:?}; pg_ctl stop took {:?}; first 503 {first_503:?} after it \
         returned; slowest /readyz {slowest:?}; 200 again {back:?} after restart; all {JOBS} \
         jobs completed {completed_after:?} after restart",
        stopped - stopping
    );
    pool.close().await;
    daemon.signal(libc::SIGTERM);
    assert!(daemon.wait(Duration::from_secs(20)).await.success());
    drop(cluster);
    eprintln!("outage: whole test {:?}", began.elapsed());
}

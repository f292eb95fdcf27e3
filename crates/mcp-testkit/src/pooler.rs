//! A real PgBouncer (Debian's `pgbouncer`) in transaction mode in front of a test server, for
//! the tests that run the daemon behind a pooler: one per test, on a free loopback port, its
//! configuration and log in a directory of its own, stopped when dropped. `repoint` moves it to
//! another server (a failover) by rewriting its `[databases]` and reloading it (SIGHUP).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::http::free_port;

const INI: &str = "pgbouncer.ini";

/// Transaction pooling, trust (the test server's own), its log beside it; no Unix socket.
/// `named` databases get entries of their own (a reload applies a changed entry to them),
/// every other name the `*` fallback.
fn write_config(
    dir: &Path,
    listen: u16,
    pool: u32,
    (host, port): (&str, u16),
    named: &[String],
) -> anyhow::Result<()> {
    let d = dir.display();
    let entries: String = named
        .iter()
        .map(|db| format!("{db} = host={host} port={port}\n"))
        .collect();
    let ini = format!(
        "[databases]\n\
         {entries}\
         * = host={host} port={port}\n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {listen}\n\
         unix_socket_dir =\n\
         auth_type = trust\n\
         auth_file = {d}/users.txt\n\
         admin_users = postgres\n\
         pool_mode = transaction\n\
         default_pool_size = {pool}\n\
         max_client_conn = 2000\n\
         server_connect_timeout = 2\n\
         server_login_retry = 1\n\
         logfile = {d}/pgbouncer.log\n"
    );
    std::fs::write(dir.join(INI), ini).context("pgbouncer.ini")?;
    Ok(())
}

/// A running PgBouncer; killed when dropped.
pub struct PgBouncer {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
    pool_size: u32,
    named: Vec<String>,
}

/// The binary: `PGBOUNCER` if set, else Debian's path, else `pgbouncer` on the `PATH`.
fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("PGBOUNCER") {
        return p.into();
    }
    let debian = Path::new("/usr/sbin/pgbouncer");
    if debian.exists() {
        return debian.to_path_buf();
    }
    "pgbouncer".into()
}

impl PgBouncer {
    /// In front of the server at `host:port`, at most `pool_size` server connections per
    /// database and user (`default_pool_size`).
    pub async fn start(host: &str, port: u16, pool_size: u32) -> anyhow::Result<PgBouncer> {
        Self::start_named(host, port, pool_size, &[]).await
    }

    /// [`start`](Self::start), with entries of their own for the databases `named` (what a
    /// failover repoints).
    pub async fn start_named(
        host: &str,
        port: u16,
        pool_size: u32,
        named: &[&str],
    ) -> anyhow::Result<PgBouncer> {
        let named: Vec<String> = named.iter().map(|s| s.to_string()).collect();
        let dir = crate::cluster::server_user_dir("mcp-pgbouncer-")?;
        let listen = free_port()?;
        write_config(dir.path(), listen, pool_size, (host, port), &named)?;
        std::fs::write(dir.path().join("users.txt"), "\"postgres\" \"\"\n")?;
        let mut cmd = Command::new(binary());
        // PgBouncer refuses to run as root: it drops to the server's own user, whose
        // directory this is.
        if crate::cluster::root() {
            cmd.arg("-u").arg("postgres");
        }
        cmd.arg(dir.path().join(INI))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", binary().display()))?;
        let mut bouncer = PgBouncer {
            child,
            port: listen,
            dir,
            pool_size,
            named,
        };
        let start = Instant::now();
        loop {
            if let Some(status) = bouncer.child.try_wait()? {
                bail!("pgbouncer exited: {status}\n{}", bouncer.log());
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", listen))
                .await
                .is_ok()
            {
                return Ok(bouncer);
            }
            if start.elapsed() > Duration::from_secs(10) {
                bail!("pgbouncer not listening after 10 s\n{}", bouncer.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// In front of the server `DATABASE_URL` names.
    pub async fn in_front_of_test_server(pool_size: u32) -> anyhow::Result<PgBouncer> {
        Self::in_front_of(&crate::db::admin_url(), pool_size).await
    }

    /// In front of the server `url` names.
    pub async fn in_front_of(url: &str, pool_size: u32) -> anyhow::Result<PgBouncer> {
        let url = url::Url::parse(url).context("a server URL")?;
        let host = url.host_str().unwrap_or("127.0.0.1").to_string();
        Self::start(&host, url.port().unwrap_or(5432), pool_size).await
    }

    /// Points it at another server and reloads it: new transactions go there.
    pub fn repoint(&self, host: &str, port: u16) -> anyhow::Result<()> {
        write_config(
            self.dir.path(),
            self.port,
            self.pool_size,
            (host, port),
            &self.named,
        )?;
        // SAFETY: kill with a valid pid and signal has no memory effects.
        let rc = unsafe { libc::kill(self.child.id() as i32, libc::SIGHUP) };
        if rc != 0 {
            bail!("cannot signal pgbouncer");
        }
        Ok(())
    }

    /// A URL to `database` through it.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Its log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // A failing test shows what the pooler saw.
        if std::thread::panicking() {
            eprintln!("--- pgbouncer log ---\n{}--- end ---", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a test's daemons reach its database: directly, or through a PgBouncer of their own in
/// transaction mode (with or without the direct `listen_url`).
pub struct Route {
    /// `DATABASE_URL` for the daemons.
    pub url: String,
    /// The `[database]` settings that go with it.
    pub env: Vec<(String, String)>,
    /// The direct URL, for a session.
    direct: String,
    bouncer: Option<PgBouncer>,
}

impl Route {
    pub fn direct(db: &crate::TestDb) -> Route {
        Route {
            url: db.url.clone(),
            env: Vec::new(),
            direct: db.url.clone(),
            bouncer: None,
        }
    }

    /// Through a new PgBouncer (at most 10 server connections), told to the daemons with
    /// `database.pooler = "transaction"`; `listen` gives them the direct `listen_url` too.
    pub async fn pooled(db: &crate::TestDb, listen: bool) -> Route {
        let bouncer = PgBouncer::in_front_of_test_server(10)
            .await
            .expect("pgbouncer");
        let mut env = vec![(
            "MCP_WORKER__DATABASE__POOLER".to_string(),
            "transaction".to_string(),
        )];
        if listen {
            env.push(("MCP_WORKER__DATABASE__LISTEN_URL".into(), db.url.clone()));
        }
        Route {
            url: bouncer.url(&db.name),
            env,
            direct: db.url.clone(),
            bouncer: Some(bouncer),
        }
    }

    pub fn bouncer(&self) -> Option<&PgBouncer> {
        self.bouncer.as_ref()
    }

    /// `extra` and the route's settings, as the launcher takes them.
    pub fn with<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut all = extra.to_vec();
        all.extend(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        all
    }

    /// A pool on this route made as the daemon makes its own (`db::connect`).
    pub async fn db(&self, max_connections: u32) -> mcp_queue::pg::Db {
        let cfg = mcp_daemon::db::DatabaseConfig {
            url: self.url.clone(),
            max_connections,
            pooler: if self.bouncer.is_some() {
                mcp_daemon::db::Pooler::Transaction
            } else {
                mcp_daemon::db::Pooler::None
            },
            listen_url: self.bouncer.as_ref().map(|_| self.direct.clone()),
            ..Default::default()
        };
        mcp_daemon::db::connect(&cfg).await.expect("connect")
    }
}

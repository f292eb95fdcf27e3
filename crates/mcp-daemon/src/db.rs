//! The database pool and migrations. Migrations are embedded (the engine's from
//! `crates/mcp-queue/migrations/`, the daemon's from `migrations/`, one numbering), applied by
//! `mcp-worker migrate` or at start, and never edited once released.

use mcp_queue::pg::{self, Db, Session};
use std::str::FromStr;
use std::sync::LazyLock;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use mcp_queue::catalog::{Catalog, CatalogError};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::replica::Reads;

/// The daemon's own migrations (top-level `migrations/`).
static DOMAIN: Migrator = sqlx::migrate!("../../migrations");

/// Every migration: the engine's (`mcp_queue::migrations`) and the daemon's, in one order.
pub static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| mcp_queue::migrations::with(&DOMAIN));

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid database url {url}: {source}")]
    Url { url: String, source: sqlx::Error },
    #[error("cannot connect to {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    /// The first connection failed: what failed and the likely fix, in one sentence.
    #[error("cannot connect to {url}: {why}")]
    Unreachable { url: String, why: String },
    /// The pool asks for more connections than the server gives a login that is not a
    /// superuser: it would stall waiting for connections instead of failing.
    #[error(
        "database.max_connections ({pool}) and the readiness probe's connection need {needed} \
         connections, but the server allows {allowed} (max_connections {max} less {reserved} \
         reserved): lower database.max_connections, or raise the server's max_connections"
    )]
    Budget {
        pool: u32,
        needed: i64,
        allowed: i64,
        max: i64,
        reserved: i64,
    },
    /// Behind a transaction pooler, the migrations' session lock needs a direct connection.
    #[error(
        "migrations are pending, and behind a transaction pooler (database.pooler = \"transaction\") \
         they need a direct connection for their session lock: set database.listen_url to the \
         server itself, or run `mcp-worker migrate` with DATABASE_URL naming the server and \
         MCP_WORKER__DATABASE__POOLER=none"
    )]
    MigrateNeedsSession,
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// What the server can give: its `max_connections` less the slots reserved for superusers
/// (and, from PostgreSQL 16, `reserved_connections`), and how many client connections others
/// hold now.
const BUDGET_SQL: &str = "\
SELECT current_setting('max_connections')::int8 AS max, \
       current_setting('superuser_reserved_connections')::int8 \
         + COALESCE(NULLIF(current_setting('reserved_connections', true), '')::int8, 0) AS reserved, \
       (SELECT count(*) FROM pg_stat_activity \
         WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()) AS in_use";

/// Refuses a pool the server can never fill (`database.max_connections` plus the `/readyz`
/// probe's connection over what it allows), and warns when it cannot fill it now because others
/// hold the rest: the pool would wait for connections, not fail.
async fn check_budget(conn: &mut sqlx::PgConnection, pool: u32) -> Result<(), DbError> {
    let (max, reserved, in_use): (i64, i64, i64) =
        pg::query_as(BUDGET_SQL).fetch_one(&mut *conn).await?;
    let needed = i64::from(pool) + 1;
    let allowed = max - reserved;
    if needed > allowed {
        return Err(DbError::Budget {
            pool,
            needed,
            allowed,
            max,
            reserved,
        });
    }
    let free = allowed - in_use;
    if needed > free {
        tracing::warn!(
            needed,
            free,
            in_use,
            max_connections = max,
            "the server has fewer free connections than this daemon's pool may open: \
             it will wait for connections when busy (docs/OPERATIONS.md, connection budget)"
        );
    }
    Ok(())
}

/// Parses a connection URL (`database.url` or `database.listen_url`).
fn options(url: &str, application: &str) -> Result<PgConnectOptions, DbError> {
    Ok(PgConnectOptions::from_str(url)
        .map_err(|source| DbError::Url {
            url: redact_url(url),
            source,
        })?
        .application_name(application))
}

pub async fn connect(cfg: &DatabaseConfig) -> Result<Db, DbError> {
    let shown = redact_url(&cfg.url);
    let pooled = cfg.pooler == Pooler::Transaction;
    let mut opts = options(&cfg.url, "mcp-worker")?;
    if pooled {
        // PgBouncer refuses a startup parameter it does not track (`extra_float_digits`, which
        // sqlx sends) unless its `ignore_startup_parameters` names it; sent as-is, a default
        // PgBouncer would refuse every connection.
        opts = opts.extra_float_digits(None);
    }
    let session = match (&cfg.listen_url, pooled) {
        (Some(url), true) => Some(options(url, "mcp-worker listen")?),
        (Some(_), false) => {
            tracing::warn!(
                "database.listen_url is read only behind a pooler (database.pooler = \
                 \"transaction\"); without one, the pool's own connections listen"
            );
            None
        }
        (None, _) => None,
    };
    // One connection first, on its own: the pool would retry until its timeout and then say
    // only that it timed out, hiding a refused connection or a missing database.
    use sqlx::Connection;
    match tokio::time::timeout(cfg.connect_timeout, sqlx::PgConnection::connect_with(&opts)).await {
        Ok(Ok(mut conn)) => {
            // Behind a pooler the pool's connections are the pooler's clients, not the server's:
            // its limits are the pooler's (docs/OPERATIONS.md, behind a pooler).
            let budget = if pooled {
                Ok(())
            } else {
                check_budget(&mut conn, cfg.max_connections).await
            };
            let _ = conn.close().await;
            budget?;
        }
        Ok(Err(e)) => {
            return Err(DbError::Unreachable {
                url: shown,
                why: explain(&e, &opts),
            })
        }
        Err(_) => {
            return Err(DbError::Unreachable {
                url: shown,
                why: format!(
                    "no answer within database.connect_timeout ({:?}): is the host right, and \
                     reachable from here?",
                    cfg.connect_timeout
                ),
            })
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(cfg.max_connections)
        .acquire_timeout(cfg.connect_timeout)
        // No ping before every acquire (a round trip per statement on the hot paths): a broken
        // connection fails its statement instead, which every caller already treats as a
        // transient database error (retry, 503, next claim), and the pool then drops it.
        .test_before_acquire(false)
        .connect_with(opts)
        .await
        .map_err(|source| DbError::Connect { url: shown, source })?;
    Ok(if pooled {
        Db::behind_pooler(pool, session)
    } else {
        Db::direct(pool)
    })
}

/// Where the MCP server's reading tools read: `database.read_url` (a replica, reached as `url`
/// is: directly or through the same kind of pooler) while it keeps within
/// `database.read_max_lag`, watched until `stop`; `primary` when none is set.
pub async fn connect_reads(
    cfg: &DatabaseConfig,
    primary: &Db,
    stop: CancellationToken,
) -> Result<Reads, DbError> {
    let Some(url) = &cfg.read_url else {
        return Ok(Reads::primary(primary.clone()));
    };
    let reads = DatabaseConfig {
        url: url.clone(),
        listen_url: None,
        read_url: None,
        ..cfg.clone()
    };
    let replica = connect(&reads).await?;
    Ok(Reads::watched(
        primary.clone(),
        replica,
        cfg.read_max_lag,
        stop,
    ))
}

/// A failed first connection in one sentence: what PostgreSQL (or the network) said, and what
/// usually fixes it.
fn explain(e: &sqlx::Error, opts: &PgConnectOptions) -> String {
    let at = format!("{}:{}", opts.get_host(), opts.get_port());
    if let sqlx::Error::Io(io) = e {
        return match io.kind() {
            std::io::ErrorKind::ConnectionRefused => format!(
                "nothing is listening at {at} (connection refused): start PostgreSQL there, or \
                 point DATABASE_URL at a running one (scripts/run and scripts/test start their \
                 own cluster on 127.0.0.1:54329 when DATABASE_URL is not set)"
            ),
            std::io::ErrorKind::NotFound => {
                format!("no PostgreSQL socket at {at} ({io}): start PostgreSQL, or check the host")
            }
            _ => format!("{io} (at {at})"),
        };
    }
    if let Some(db) = e.as_database_error() {
        let user = opts.get_username();
        let database = opts.get_database().unwrap_or(user);
        return match db.code().as_deref() {
            Some("3D000") => format!(
                "database \"{database}\" does not exist: create it (createdb {database}, or \
                 CREATE DATABASE {database}) or name another in DATABASE_URL"
            ),
            Some("28000") => format!(
                "{} (create the role: createuser {user}, or connect as another in DATABASE_URL)",
                db.message()
            ),
            Some("28P01") => format!(
                "password authentication failed for user \"{user}\": check the password in \
                 DATABASE_URL (or database.url)"
            ),
            // PgBouncer refuses the startup parameters it does not track: the URL names a
            // pooler the daemon was not told about.
            _ if db.message().contains("unsupported startup parameter") => format!(
                "{} — database.url looks like PgBouncer: set database.pooler = \"transaction\" \
                 (docs/OPERATIONS.md, behind a transaction pooler)",
                db.message()
            ),
            _ => db.message().to_string(),
        };
    }
    e.to_string()
}

/// Applies pending migrations, then rewrites the job catalogue.
///
/// The migrator holds a session lock (`pg_advisory_lock`) so that daemons starting together
/// apply each migration once: behind a transaction pooler it runs on the direct
/// `database.listen_url`, and without one only a database already current is accepted.
pub fn migrate<'a>(
    db: &'a Db,
    catalog: &'a Catalog,
) -> futures::future::BoxFuture<'a, Result<(), DbError>> {
    // Boxed: the session's connection and the migrator's futures would otherwise make the
    // callers' futures prove `Send` for every lifetime, which rustc cannot.
    Box::pin(async move {
        match db.session() {
            Session::Pool(pool) => MIGRATOR.run(pool).await?,
            Session::Direct(options) => {
                let direct = PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(options.clone())
                    .await?;
                let run = MIGRATOR.run(&direct).await;
                direct.close().await;
                run?;
            }
            Session::None => {
                if !migrations_current(db).await? {
                    return Err(DbError::MigrateNeedsSession);
                }
            }
        }
        catalog.sync_to_db(db).await?;
        Ok(())
    })
}
/// The newest embedded migration's version.
pub fn latest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// True when every embedded migration has been applied (and nothing newer is unknown). Runs on
/// the pool or on a connection of its own (the readiness probe's).
pub async fn migrations_current<'e, E>(db: E) -> Result<bool, DbError>
where
    E: sqlx::PgExecutor<'e>,
{
    let latest = latest_migration();
    let applied: Option<i64> =
        pg::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(db)
            .await?;
    Ok(applied == Some(latest))
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Postgres URL. `DATABASE_URL` overrides it.
    pub url: String,
    pub max_connections: u32,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Apply pending migrations when `run` starts.
    pub migrate_on_start: bool,
    /// What stands between `url` and the server: `none`, or `transaction` for a
    /// transaction-mode pooler such as PgBouncer.
    pub pooler: Pooler,
    /// Behind a pooler: a direct connection to the server, for what needs a session (`LISTEN`,
    /// the migrations' lock). Without one, workers poll every `worker.poll_interval`.
    pub listen_url: Option<String>,
    /// A replica (a streaming standby) for the MCP server's reading tools; without one they
    /// read the primary. Jobs, webhooks, tokens and `request_sync` always use `url`.
    pub read_url: Option<String>,
    /// How far `read_url`'s replay may fall behind the primary before the reading tools read
    /// the primary instead (until it is back under half of it).
    #[serde(with = "humantime_serde")]
    pub read_max_lag: Duration,
}

/// What stands between `database.url` and the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooler {
    /// Nothing: `url` is the server.
    #[default]
    None,
    /// A pooler that may hand each transaction to another server connection (PgBouncer's
    /// `pool_mode = transaction`).
    Transaction,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "postgres://postgres@127.0.0.1:5432/mcp_worker".into(),
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            migrate_on_start: true,
            pooler: Pooler::None,
            listen_url: None,
            read_url: None,
            read_max_lag: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("migrate_on_start", &self.migrate_on_start)
            .field("pooler", &self.pooler)
            .field("listen_url", &self.listen_url.as_deref().map(redact_url))
            .field("read_url", &self.read_url.as_deref().map(redact_url))
            .field("read_max_lag", &self.read_max_lag)
            .finish()
    }
}

/// A Postgres URL with its password replaced by `***`.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let secret = k.eq_ignore_ascii_case("password");
                    (
                        k.into_owned(),
                        if secret { "***".into() } else { v.into_owned() },
                    )
                })
                .collect();
            if !pairs.is_empty() {
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) => "<unparseable url>".into(),
    }
}

/// Whether workspace `ws` exists: the one check of a workspace id a caller names (tokens,
/// notification endpoints, connects). A leaf, so any module may ask.
pub async fn workspace_exists(
    db: impl sqlx::PgExecutor<'_>,
    ws: uuid::Uuid,
) -> Result<bool, sqlx::Error> {
    pg::query_scalar("SELECT EXISTS (SELECT 1 FROM core.workspaces WHERE id = $1)")
        .bind(ws)
        .fetch_one(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_url_shows_its_password() {
        let mut config = crate::config::Config::default();
        config.database.url = "postgres://mcp:pool-secret@pgbouncer:6432/mcp".into();
        config.database.listen_url = Some("postgres://mcp:listen-secret@db:5432/mcp".into());
        config.database.read_url = Some("postgres://mcp:read-secret@replica:5432/mcp".into());
        config.database.pooler = Pooler::Transaction;
        for shown in [format!("{:?}", config.database), config.redacted()] {
            assert!(!shown.contains("pool-secret"), "{shown}");
            assert!(!shown.contains("listen-secret"), "{shown}");
            assert!(!shown.contains("read-secret"), "{shown}");
            assert!(shown.contains("db:5432"), "{shown}");
        }
    }
}

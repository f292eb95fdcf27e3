//! The database handle every statement goes through, direct or behind a transaction pooler.
//!
//! `Db` is the connection pool and how it reaches the server:
//! - **Direct** (the default): statements are prepared once per connection under a name and
//!   cached, as sqlx does.
//! - **Behind a transaction-mode pooler** (PgBouncer `pool_mode = transaction`, before 1.21):
//!   the pooler may hand each transaction of a client connection to another server connection.
//!   sqlx sends a statement with parameters in two exchanges (Parse and Describe, then Bind and
//!   Execute), each ended by a Sync, and outside a transaction the pooler may move the client to
//!   another server between them. So here:
//!   - every statement goes out unnamed (a named one would exist on one server connection only,
//!     and another client's would collide with it), the queries being made by [`query`],
//!     [`query_as`] and [`query_scalar`], which read the process-wide switch [`unnamed`];
//!   - a statement run on the pool itself, or on a connection taken from it through
//!     [`Db::on`], runs inside `BEGIN` … `COMMIT`, which keeps both exchanges on one server
//!     connection. Statements in the callers' own transactions are
//!     already there. Simple-protocol text (`sqlx::raw_sql`, no parameters, one message) goes
//!     as it is: `VACUUM` cannot run inside a transaction block.
//!
//! Nothing else may depend on the session: `SET LOCAL`, `set_config(…, true)` and
//! `pg_try_advisory_xact_lock` end with their transaction; `LISTEN` needs a direct connection
//! (`worker::Worker` takes its own).

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use sqlx::error::BoxDynError;
use sqlx::postgres::{
    PgArguments, PgConnectOptions, PgQueryResult, PgRow, PgStatement, PgTypeInfo,
};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{
    Connection, Describe, Either, Execute, Executor, FromRow, PgConnection, PgPool, Postgres,
    SqlSafeStr, SqlStr,
};

/// Set once a pool behind a pooler exists in this process: from then on every query made by
/// [`query`] and its siblings goes out unnamed. A process never goes back (a statement unnamed
/// on a direct connection is correct, one round trip slower).
static UNNAMED: AtomicBool = AtomicBool::new(false);

/// True when queries go out unnamed (a pool behind a transaction pooler exists in this process).
pub fn unnamed() -> bool {
    UNNAMED.load(Ordering::Relaxed)
}

/// `sqlx::query`, unnamed behind a pooler.
pub fn query<'q>(sql: impl SqlSafeStr) -> Query<'q, Postgres, PgArguments> {
    sqlx::query(sql).persistent(!unnamed())
}

/// `sqlx::query_as`, unnamed behind a pooler.
pub fn query_as<'q, O>(sql: impl SqlSafeStr) -> QueryAs<'q, Postgres, O, PgArguments>
where
    O: for<'r> FromRow<'r, PgRow>,
{
    sqlx::query_as(sql).persistent(!unnamed())
}

/// `sqlx::query_scalar`, unnamed behind a pooler.
pub fn query_scalar<'q, O>(sql: impl SqlSafeStr) -> QueryScalar<'q, Postgres, O, PgArguments>
where
    (O,): for<'r> FromRow<'r, PgRow>,
{
    sqlx::query_scalar(sql).persistent(!unnamed())
}

/// The pool, and whether a transaction pooler stands between it and the server.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
    pooled: bool,
    /// Behind a pooler: where what needs a session connects (`LISTEN`, the migrations' lock).
    session: Option<PgConnectOptions>,
}

impl Db {
    /// A pool connected to the server itself.
    pub fn direct(pool: PgPool) -> Db {
        Db {
            pool,
            pooled: false,
            session: None,
        }
    }

    /// A direct pool on `url` with sqlx's defaults (tools and benches).
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        PgPool::connect(url).await.map(Db::direct)
    }

    /// A pool connected through a transaction-mode pooler: from now on, this process's queries
    /// go out unnamed and the pool's own statements run in a transaction each. `session` is a
    /// direct connection to the server for what needs a session, if there is one.
    pub fn behind_pooler(pool: PgPool, session: Option<PgConnectOptions>) -> Db {
        UNNAMED.store(true, Ordering::Relaxed);
        Db {
            pool,
            pooled: true,
            session,
        }
    }

    /// Where a session (`LISTEN`, a session lock) can be had: the pool itself when direct, the
    /// direct connection's options behind a pooler, or nothing (behind a pooler without one).
    pub fn session(&self) -> Session<'_> {
        match (&self.session, self.pooled) {
            (_, false) => Session::Pool(&self.pool),
            (Some(options), true) => Session::Direct(options),
            (None, true) => Session::None,
        }
    }

    /// True when a transaction pooler stands between this pool and the server.
    pub fn pooled(&self) -> bool {
        self.pooled
    }

    /// The sqlx pool, for what takes one by type (`PgListener`, the migrator). A statement run
    /// on it directly skips what keeps it whole behind a pooler: run statements on the `Db`.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Says how the pool reaches the server, never where (the options hold the password).
impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("size", &self.pool.size())
            .field("pooled", &self.pooled)
            .field("session", &self.session.is_some())
            .finish()
    }
}

/// Where a session can be had (`Db::session`).
pub enum Session<'a> {
    /// The pool's connections are the server's own sessions.
    Pool(&'a PgPool),
    /// A direct connection to the server, beside the pooler.
    Direct(&'a PgConnectOptions),
    /// Behind a pooler, with no direct connection configured.
    None,
}

impl From<PgPool> for Db {
    fn from(pool: PgPool) -> Db {
        Db::direct(pool)
    }
}

impl Deref for Db {
    type Target = PgPool;
    fn deref(&self) -> &PgPool {
        &self.pool
    }
}

/// A statement taken apart (its text and its arguments), sent unnamed.
struct Unnamed {
    sql: SqlStr,
    arguments: Option<PgArguments>,
}

impl<'q> Execute<'q, Postgres> for Unnamed {
    fn sql(self) -> SqlStr {
        self.sql
    }
    fn statement(&self) -> Option<&PgStatement> {
        None
    }
    fn take_arguments(&mut self) -> Result<Option<PgArguments>, BoxDynError> {
        Ok(self.arguments.take())
    }
    fn persistent(&self) -> bool {
        false
    }
}

/// What a statement is, behind a pooler.
enum Taken<E> {
    /// Simple-protocol text (no parameters, one message): it goes out as it is.
    Simple(E),
    /// Text and arguments, sent unnamed in a transaction of their own.
    Prepared(Unnamed),
}

fn take_apart<'q, E: Execute<'q, Postgres>>(mut query: E) -> Result<Taken<E>, sqlx::Error> {
    Ok(match query.take_arguments().map_err(sqlx::Error::Encode)? {
        None => Taken::Simple(query),
        Some(arguments) => Taken::Prepared(Unnamed {
            sql: query.sql(),
            arguments: Some(arguments),
        }),
    })
}

type Rows = Either<PgQueryResult, PgRow>;

/// Runs `statement` in a transaction of its own on `conn`: both exchanges on one server
/// connection. The rows are gathered before the commit and handed on after it: the callers
/// collect them anyway (execute, fetch_all, fetch_one), and no statement streams a large result.
///
/// Sent once more when the server lost the unnamed statement before it ran: sqlx 0.9 looks up
/// a type it has not met on this connection (an enum, a composite) with a simple-protocol
/// query between the parse and the bind, and a simple query destroys the unnamed statement
/// (transact-rs/sqlx#4305). The type is known by the second try.
async fn in_transaction(
    conn: &mut PgConnection,
    statement: Unnamed,
) -> Result<Vec<Rows>, sqlx::Error> {
    let again = Unnamed {
        sql: statement.sql.clone(),
        arguments: statement.arguments.clone(),
    };
    match transaction_of(conn, statement).await {
        Err(e) if unnamed_statement_lost(&e) => transaction_of(conn, again).await,
        done => done,
    }
}

async fn transaction_of(
    conn: &mut PgConnection,
    statement: Unnamed,
) -> Result<Vec<Rows>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let rows: Vec<Rows> = tx.fetch_many(statement).try_collect().await?;
    tx.commit().await?;
    Ok(rows)
}

/// SQLSTATE 26000 (invalid_sql_statement_name) for the unnamed statement: it never ran.
fn unnamed_statement_lost(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| {
        d.code().as_deref() == Some("26000") && d.message().contains("unnamed prepared statement")
    })
}

fn streamed<'e>(
    rows: impl std::future::Future<Output = Result<Vec<Rows>, sqlx::Error>> + Send + 'e,
) -> BoxStream<'e, Result<Rows, sqlx::Error>> {
    stream::once(async move { Ok::<_, sqlx::Error>(stream::iter(rows.await?.into_iter().map(Ok))) })
        .try_flatten()
        .boxed()
}

fn first_row<'e>(
    rows: impl std::future::Future<Output = Result<Vec<Rows>, sqlx::Error>> + Send + 'e,
) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>> {
    Box::pin(async move { Ok(rows.await?.into_iter().find_map(Either::right)) })
}

impl<'c> Executor<'c> for &'c Db {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Rows, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        if !self.pooled {
            return self.pool.fetch_many(query);
        }
        match take_apart(query) {
            Err(e) => stream::once(async { Err(e) }).boxed(),
            Ok(Taken::Simple(simple)) => self.pool.fetch_many(simple),
            Ok(Taken::Prepared(statement)) => streamed(async move {
                in_transaction(&mut *self.pool.acquire().await?, statement).await
            }),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        if !self.pooled {
            return self.pool.fetch_optional(query);
        }
        match take_apart(query) {
            Err(e) => Box::pin(async { Err(e) }),
            Ok(Taken::Simple(simple)) => self.pool.fetch_optional(simple),
            Ok(Taken::Prepared(statement)) => first_row(async move {
                in_transaction(&mut *self.pool.acquire().await?, statement).await
            }),
        }
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        self.pool.prepare_with(sql, parameters)
    }

    #[doc(hidden)]
    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.pool.describe(sql)
    }
}

/// A connection taken from a [`Db`] (to time the wait for it, or to run several statements on
/// it), as an executor that keeps the `Db`'s rules: behind a pooler, a statement outside the
/// caller's transactions runs in one of its own.
pub struct On<'c> {
    conn: &'c mut PgConnection,
    pooled: bool,
}

impl Db {
    /// `conn`, one of this pool's, run as the `Db` runs statements.
    pub fn on<'c>(&self, conn: &'c mut PgConnection) -> On<'c> {
        On {
            conn,
            pooled: self.pooled,
        }
    }
}

impl std::fmt::Debug for On<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("On").field("pooled", &self.pooled).finish()
    }
}

impl<'c> Executor<'c> for On<'c> {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Rows, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        if !self.pooled {
            return self.conn.fetch_many(query);
        }
        match take_apart(query) {
            Err(e) => stream::once(async { Err(e) }).boxed(),
            Ok(Taken::Simple(simple)) => self.conn.fetch_many(simple),
            Ok(Taken::Prepared(statement)) => streamed(in_transaction(self.conn, statement)),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        if !self.pooled {
            return self.conn.fetch_optional(query);
        }
        match take_apart(query) {
            Err(e) => Box::pin(async { Err(e) }),
            Ok(Taken::Simple(simple)) => self.conn.fetch_optional(simple),
            Ok(Taken::Prepared(statement)) => first_row(in_transaction(self.conn, statement)),
        }
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        self.conn.prepare_with(sql, parameters)
    }

    #[doc(hidden)]
    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.conn.describe(sql)
    }
}

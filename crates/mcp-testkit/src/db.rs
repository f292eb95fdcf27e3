//! A fresh database per test on the real PostgreSQL named by `DATABASE_URL`, migrated and with
//! the catalogue written; dropped by `drop_db` when the test passes (a failed test's database is
//! left for inspection and removed by the next `scripts/test`).

use mcp_queue::pg::Db;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mcp_queue::catalog::Catalog;
use sqlx::{Connection, PgConnection};

/// The server the test databases are made on: `DATABASE_URL`, else the local default.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: Db,
}

impl TestDb {
    /// A new database with migrations applied and the built-in catalogue written.
    pub async fn new() -> TestDb {
        Self::with_catalog(mcp_handlers::builtin_catalog()).await
    }

    pub async fn with_catalog(catalog: &Catalog) -> TestDb {
        let db = Self::empty().await;
        mcp_daemon::db::migrate(&db.pool, catalog)
            .await
            .expect("migrate");
        db
    }

    /// A new database without migrations.
    pub async fn empty() -> TestDb {
        let name = format!(
            "mcp_t_{}_{}_{:04x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            rand::random::<u16>()
        );
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .expect("connect admin");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create database");
        let mut url = url::Url::parse(&admin_url()).expect("url");
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await
            .expect("connect test db");
        TestDb {
            name,
            url,
            pool: Db::direct(pool),
        }
    }

    pub async fn drop_db(self) {
        self.pool.close().await;
        if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut admin)
            .await;
        }
    }

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Waits until `sql` (a boolean query) is true.
    pub async fn wait_until(&self, sql: &str, limit: Duration) {
        self.wait_until_or(sql, limit, &[]).await
    }

    /// `wait_until`, and when it fails the rows of each query of `show` beside the message, so
    /// a failure says where things stood.
    pub async fn wait_until_or(&self, sql: &str, limit: Duration, show: &[&str]) {
        let start = Instant::now();
        loop {
            let ok: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_one(&self.pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            if ok {
                return;
            }
            if start.elapsed() > limit {
                let mut rows = String::new();
                for q in show {
                    rows.push_str(&self.rows_as_text(q).await);
                    rows.push('\n');
                }
                panic!("not true after {limit:?}: {sql}\n{rows}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Each row of `sql` as a line of JSON.
    pub async fn rows_as_text(&self, sql: &str) -> String {
        let wrapped = format!("SELECT row_to_json(r)::text FROM ({sql}) r");
        match sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(wrapped))
            .fetch_all(&self.pool)
            .await
        {
            Ok(rows) => rows.join("\n"),
            Err(e) => format!("{sql}: {e}"),
        }
    }
}

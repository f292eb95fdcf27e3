//! The engine's guarantees through a real PgBouncer in transaction mode (Debian's 1.18: no
//! prepared statements; each transaction may go to another server connection), each test with
//! a pooler of its own in front of its own database, the daemons told so with
//! `database.pooler = "transaction"`.

use std::time::Duration;

use mcp_platforms::connectors::Platform;
use mcp_testkit::pooler::Route;
use sqlx::{Connection, Row};

use crate::common::{scheduler, TestDb};

/// Transactions the pooler has passed to the server for `database` (`SHOW STATS` on its
/// console).
async fn pooled_transactions(route: &Route, database: &str) -> i64 {
    let bouncer = route.bouncer().expect("a pooler");
    let options: sqlx::postgres::PgConnectOptions =
        bouncer.url("pgbouncer").parse().expect("console url");
    let mut console = sqlx::PgConnection::connect_with(&options.extra_float_digits(None))
        .await
        .expect("pgbouncer console");
    let rows = sqlx::raw_sql("SHOW STATS")
        .fetch_all(&mut console)
        .await
        .expect("SHOW STATS");
    // The console answers in text, with its own column types: read each value as its text.
    let text = |r: &sqlx::postgres::PgRow, column: &str| {
        r.try_get_unchecked::<String, _>(column)
            .unwrap_or_else(|e| panic!("SHOW STATS {column}: {e}"))
    };
    rows.iter()
        .filter(|r| text(r, "database") == database)
        .map(|r| text(r, "total_xact_count").parse::<i64>().expect("a count"))
        .sum()
}

#[tokio::test]
async fn three_daemons_drain_20000_jobs_through_pgbouncer_each_once() {
    let db = TestDb::new().await;
    let route = Route::pooled(&db, true).await;
    crate::daemon::three_daemons_drain_20000_jobs_each_once(&db, &route).await;
    let through = pooled_transactions(&route, &db.name).await;
    assert!(
        through > 1000,
        "the daemons' transactions went through the pooler: {through}"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_sigkilled_daemons_jobs_are_rescued_through_pgbouncer() {
    let db = TestDb::new().await;
    let route = Route::pooled(&db, true).await;
    crate::daemon::sigkilled_daemons_jobs_are_rescued(&db, &route).await;
    db.drop_db().await;
}

#[tokio::test]
async fn each_cron_tick_is_enqueued_once_across_three_schedulers_through_pgbouncer() {
    let db = TestDb::new().await;
    let route = Route::pooled(&db, true).await;
    let schedules = crate::cron::config_every_minute().schedules;
    let mut schedulers = Vec::new();
    for _ in 0..3 {
        schedulers.push(scheduler(route.db(4).await, &schedules));
    }
    crate::cron::each_tick_once(&db, schedulers).await;
    db.drop_db().await;
}

/// Forty enqueues of one unique key at once, each on its own pooled connection: one job.
#[tokio::test]
async fn a_unique_key_enqueued_forty_times_at_once_through_pgbouncer_makes_one_job() {
    let db = TestDb::new().await;
    let route = Route::pooled(&db, true).await;
    let pool = route.db(40).await;
    let request = mcp_queue::EnqueueRequest {
        kind: "noop".into(),
        payload: serde_json::json!({}),
        run_at: None,
        priority: None,
        max_attempts: None,
        unique_key: Some("once".into()),
        queue: None,
    };
    let tries =
        futures::future::join_all((0..40).map(|_| mcp_queue::admin_enqueue(&pool, &request))).await;
    let made: Vec<i64> = tries
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    assert!(!made.is_empty(), "one enqueue succeeds: {tries:?}");
    assert!(made.iter().all(|id| *id == made[0]), "one job: {made:?}");
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.sync_jobs WHERE unique_key = 'once'")
            .await,
        1
    );
    db.drop_db().await;
}

#[tokio::test]
async fn the_change_feed_reads_each_change_once_through_pgbouncer() {
    let db = TestDb::new().await;
    let route = Route::pooled(&db, true).await;
    crate::items::changes::four_writers_are_read_once(&db, route.db(8).await).await;
    db.drop_db().await;
}

#[tokio::test]
async fn three_daemons_rotate_the_vault_key_once_through_pgbouncer() {
    let db = TestDb::new().await;
    let route = Route::pooled(&db, true).await;
    crate::vault_keys::three_daemons_rotate_once(&db, &route).await;
    db.drop_db().await;
}

#[tokio::test]
async fn webhook_intake_through_pgbouncer_stores_and_processes_every_delivery() {
    let env = mcp_testkit::webhooks::env_through_pooler().await;
    let path = env.hook(Platform::Notion).await;
    let secret = mcp_testkit::webhooks::secret_of(Platform::Notion);
    crate::webhooks::intake::deliveries_share_jobs_and_are_processed(env, &path, &secret).await;
}

/// Without `listen_url` behind a pooler, the daemon says once that it polls, and jobs enqueued
/// by plain SQL are still run.
#[tokio::test]
async fn without_listen_url_the_daemon_polls_and_says_so_once() {
    let db = TestDb::new().await;
    let route = Route::pooled(&db, false).await;
    let mut daemon = mcp_testkit::Launcher::new(crate::common::bin(), &route.url)
        .quick()
        .envs(&route.with(&[]))
        .capture_stderr()
        .start()
        .await
        .expect("daemon");
    db.exec("INSERT INTO mcp.sync_jobs (kind) SELECT 'noop' FROM generate_series(1, 50)")
        .await;
    db.wait_until(
        "SELECT count(*) = 50 FROM mcp.sync_jobs WHERE kind = 'noop' AND state = 'completed'",
        Duration::from_secs(20),
    )
    .await;
    daemon.signal(libc::SIGTERM);
    daemon.wait(Duration::from_secs(20)).await.expect("exit");
    let log = daemon.stderr_log().await;
    assert_eq!(
        log.matches("without database.listen_url").count(),
        1,
        "said once: {log}"
    );
    db.drop_db().await;
}

/// The pooler is real, and the switch matters: a daemon not told about it is refused at its
/// first named statement shared by another client (`prepared statement … already exists` or
/// `… does not exist`), which is what `database.pooler` is for.
#[tokio::test]
async fn daemons_not_told_about_the_pooler_break_on_named_statements() {
    let db = TestDb::new().await;
    let route = Route::pooled(&db, false).await;
    let mut errors = 0;
    // sqlx's defaults but for the one startup parameter PgBouncer refuses.
    let options: sqlx::postgres::PgConnectOptions = route.url.parse().expect("url");
    let mut plain = Vec::new();
    for _ in 0..3 {
        plain.push(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .connect_with(options.clone().extra_float_digits(None))
                .await
                .expect("a pool through the pooler"),
        );
    }
    for round in 0..50 {
        for pool in &plain {
            let r: Result<i64, _> = sqlx::query_scalar("SELECT $1::int8 + 1")
                .bind(round)
                .fetch_one(pool)
                .await;
            errors += i32::from(r.is_err());
        }
    }
    assert!(
        errors > 0,
        "named statements through a transaction pooler fail"
    );
    db.drop_db().await;
}

/// A daemon given PgBouncer's address without `database.pooler` stops at its first connection
/// and says what to set.
#[tokio::test]
async fn a_daemon_pointed_at_pgbouncer_without_the_setting_is_told_what_to_set() {
    let db = TestDb::new().await;
    let route = Route::pooled(&db, false).await;
    let (ok, _, err) = crate::common::cli(&route.url, &["migrate"]).await;
    assert!(!ok, "refused");
    assert!(
        err.contains("unsupported startup parameter") && err.contains("database.pooler"),
        "{err}"
    );
    db.drop_db().await;
}

/// Sixteen clients through one server connection, each asking `SELECT $1 * 100 + <its own
/// number>` 100 times with `ask`: how many answers came back wrong, and how many failed.
async fn crossed_answers<F, Fut>(ask: F) -> (usize, usize)
where
    F: Fn(usize, i64) -> Fut + Clone,
    Fut: std::future::Future<Output = Result<i64, sqlx::Error>>,
{
    let each = (0..16).map(|i| {
        let ask = ask.clone();
        async move {
            let (mut wrong, mut failed) = (0, 0);
            for n in 0..100i64 {
                match ask(i, n).await {
                    Ok(v) => wrong += usize::from(v != n * 100 + i as i64),
                    Err(_) => failed += 1,
                }
            }
            (wrong, failed)
        }
    });
    futures::future::join_all(each)
        .await
        .into_iter()
        .fold((0, 0), |(w, f), (a, b)| (w + a, f + b))
}

/// A `Db` of sixteen connections to the pooler at `url`, made as the daemon makes its own.
async fn sixteen_behind(url: &str) -> mcp_queue::pg::Db {
    mcp_daemon::db::connect(&mcp_daemon::db::DatabaseConfig {
        url: url.to_string(),
        max_connections: 16,
        pooler: mcp_daemon::db::Pooler::Transaction,
        ..Default::default()
    })
    .await
    .expect("a Db behind the pooler")
}

fn asking(i: usize) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("SELECT $1::int8 * 100 + {i}"))
}

/// Why the pool's statements run inside `BEGIN … COMMIT` behind a pooler. sqlx sends a
/// parameterised statement in two exchanges (parse and describe, then bind and execute), each
/// ended by a Sync, so a transaction-mode pooler may give the server connection to another
/// client in between. Plain unnamed statements then run another client's text with their
/// parameters: wrong answers, silently. Through `Db`, the same load gets every answer right.
#[tokio::test]
async fn unnamed_statements_outside_a_transaction_get_crossed_and_db_keeps_them_apart() {
    let db = TestDb::new().await;
    let bouncer = mcp_testkit::pooler::PgBouncer::in_front_of_test_server(1)
        .await
        .expect("pgbouncer");
    let url = bouncer.url(&db.name);
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("url");
    // One connection per client, as sixteen plain sqlx clients would hold.
    let mut conns = Vec::new();
    for _ in 0..16 {
        let conn = sqlx::PgConnection::connect_with(&options.clone().extra_float_digits(None))
            .await
            .expect("through the pooler");
        conns.push(std::sync::Arc::new(tokio::sync::Mutex::new(conn)));
    }
    let plain = crossed_answers(|i, n| {
        let conn = conns[i].clone();
        async move {
            let mut conn = conn.lock().await;
            sqlx::query_scalar(asking(i))
                .persistent(false)
                .bind(n)
                .fetch_one(&mut *conn)
                .await
        }
    })
    .await;
    assert!(
        plain.0 > 0,
        "unnamed statements outside a transaction answer another client's question: {plain:?}"
    );

    let pooled = sixteen_behind(&url).await;
    let through_db = crossed_answers(|i, n| {
        let pooled = pooled.clone();
        async move {
            mcp_queue::pg::query_scalar(asking(i))
                .bind(n)
                .fetch_one(&pooled)
                .await
        }
    })
    .await;
    assert_eq!(through_db, (0, 0), "each statement in its own transaction");
    eprintln!("of 1,600 answers, (wrong, failed): plain {plain:?}, through Db {through_db:?}");
    db.drop_db().await;
}

/// A type sqlx has not met on a connection (an enum, a composite): sqlx 0.9 looks it up with a
/// simple-protocol query between the parse and the bind, which destroys the unnamed statement
/// (transact-rs/sqlx#4305), so a plain unnamed statement fails the first time on each
/// connection. `Db` sends such a statement once more: sixteen clients reading such columns
/// through one server connection each get every answer.
#[tokio::test]
async fn columns_of_types_of_the_schemas_own_are_read_through_the_pooler() {
    let db = TestDb::new().await;
    db.exec(
        "CREATE TYPE public.mood AS ENUM ('calm', 'busy'); \
         CREATE TYPE public.pair AS (label text, size int4)",
    )
    .await;
    let bouncer = mcp_testkit::pooler::PgBouncer::in_front_of_test_server(1)
        .await
        .expect("pgbouncer");
    let pooled = sixteen_behind(&bouncer.url(&db.name)).await;
    let answers = crossed_answers(|i, n| {
        let pooled = pooled.clone();
        async move {
            let row = mcp_queue::pg::query(sqlx::AssertSqlSafe(format!(
                "SELECT $1::int8 * 100 + {i} AS n, 'calm'::public.mood AS m, \
                 ROW('x', 1)::public.pair AS p"
            )))
            .bind(n)
            .fetch_one(&pooled)
            .await?;
            let types = [1, 2]
                .map(|c| sqlx::Column::type_info(row.column(c)))
                .map(|t| sqlx::TypeInfo::name(t).to_string());
            assert_eq!(types, ["mood", "pair"]);
            row.try_get::<i64, _>("n")
        }
    })
    .await;
    assert_eq!(answers, (0, 0), "every answer right, none failed");
    // The control: a plain unnamed statement on a new connection fails the first time.
    let mut plain = sqlx::PgConnection::connect(&db.url).await.expect("direct");
    let first = sqlx::query("SELECT $1::int8 AS n, 'calm'::public.mood AS m")
        .persistent(false)
        .bind(1i64)
        .fetch_one(&mut plain)
        .await
        .err()
        .and_then(|e| {
            e.as_database_error()
                .and_then(|d| d.code())
                .map(|c| c.to_string())
        });
    assert_eq!(
        first.as_deref(),
        Some("26000"),
        "sqlx 0.9 loses the statement"
    );
    db.drop_db().await;
}

//! The SQL contract: what a user with psql can do and read.

use crate::common::TestDb;

#[tokio::test]
async fn bare_insert_gets_every_default() {
    let db = TestDb::new().await;
    db.exec("INSERT INTO mcp.sync_jobs (kind) VALUES ('noop')")
        .await;
    let row: (
        String,
        String,
        String,
        i16,
        i16,
        Option<i16>,
        serde_json::Value,
        serde_json::Value,
        bool,
        bool,
    ) = sqlx::query_as(
        "SELECT queue, state, payload::text, priority, attempt, max_attempts, errors, payload, \
                    run_at <= now() AND run_at > now() - interval '1 minute', \
                    created_at IS NOT NULL AND attempted_at IS NULL AND finished_at IS NULL \
                    AND unique_key IS NULL AND last_error IS NULL AND integration_id IS NULL \
             FROM mcp.sync_jobs",
    )
    .fetch_one(&db.pool)
    .await
    .expect("row");
    assert_eq!(row.0, "default");
    assert_eq!(row.1, "available");
    assert_eq!(row.2, "{}");
    assert_eq!((row.3, row.4, row.5), (0, 0, None));
    assert_eq!(row.6, serde_json::json!([]));
    assert!(row.8, "run_at defaults to now");
    assert!(row.9, "the other columns start empty");
    db.drop_db().await;
}

#[tokio::test]
async fn unknown_kind_is_refused_at_insert_naming_it() {
    let db = TestDb::new().await;
    let err = sqlx::query("INSERT INTO mcp.sync_jobs (kind) VALUES ('no_such_kind')")
        .execute(&db.pool)
        .await
        .expect_err("must be refused");
    let pg = err
        .as_database_error()
        .and_then(|e| e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>())
        .expect("database error");
    assert_eq!(pg.code(), "23503", "a foreign-key violation, as before");
    assert!(
        pg.message().contains("unknown job kind 'no_such_kind'"),
        "{}",
        pg.message()
    );
    assert!(
        pg.hint().unwrap_or_default().contains("noop"),
        "{:?}",
        pg.hint()
    );
    assert_eq!(db.scalar_i64("SELECT count(*) FROM mcp.sync_jobs").await, 0);
    db.drop_db().await;
}

#[tokio::test]
async fn enqueue_job_takes_named_arguments_and_schedules_future_jobs() {
    let db = TestDb::new().await;
    let id = db
        .scalar_i64(
            "SELECT mcp.enqueue_job('noop', '{\"sleep_ms\": 1}', run_at => now() + interval '1 hour', \
             priority => 5, max_attempts => 7)",
        )
        .await;
    let (state, priority, max): (String, i16, Option<i16>) =
        sqlx::query_as("SELECT state, priority, max_attempts FROM mcp.sync_jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .expect("row");
    assert_eq!((state.as_str(), priority, max), ("scheduled", 5, Some(7)));
    let now_id = db.scalar_i64("SELECT mcp.enqueue_job('noop')").await;
    let state: String = sqlx::query_scalar("SELECT state FROM mcp.sync_jobs WHERE id = $1")
        .bind(now_id)
        .fetch_one(&db.pool)
        .await
        .expect("row");
    assert_eq!(state, "available");
    db.drop_db().await;
}

#[tokio::test]
async fn live_duplicate_unique_key_is_refused_ignored_or_deduplicated() {
    let db = TestDb::new().await;
    db.exec("INSERT INTO mcp.sync_jobs (kind, unique_key) VALUES ('noop', 'k1')")
        .await;
    let dup = sqlx::query("INSERT INTO mcp.sync_jobs (kind, unique_key) VALUES ('noop', 'k1')")
        .execute(&db.pool)
        .await;
    assert!(dup.is_err(), "a plain duplicate INSERT is refused");
    db.exec(
        "INSERT INTO mcp.sync_jobs (kind, unique_key) VALUES ('noop', 'k1') ON CONFLICT DO NOTHING",
    )
    .await;
    assert_eq!(db.scalar_i64("SELECT count(*) FROM mcp.sync_jobs").await, 1);
    let first = db.scalar_i64("SELECT id FROM mcp.sync_jobs").await;
    let again = db
        .scalar_i64("SELECT mcp.enqueue_job('noop', unique_key => 'k1')")
        .await;
    assert_eq!(first, again, "enqueue_job returns the live job's id");
    // The same key under another kind is another job.
    db.scalar_i64("SELECT mcp.enqueue_job('prune', unique_key => 'k1')")
        .await;
    // Once the holder has finished, the key is free again.
    db.exec(&format!(
        "UPDATE mcp.sync_jobs SET state = 'completed' WHERE id = {first}"
    ))
    .await;
    let fresh = db
        .scalar_i64("SELECT mcp.enqueue_job('noop', unique_key => 'k1')")
        .await;
    assert_ne!(fresh, first);
    db.drop_db().await;
}

#[tokio::test]
async fn cancel_and_retry_follow_the_documented_transitions() {
    let db = TestDb::new().await;
    let id = db
        .scalar_i64("SELECT mcp.enqueue_job('noop', run_at => now() + interval '1 day')")
        .await;
    let cancelled: bool = sqlx::query_scalar("SELECT mcp.cancel_job($1)")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("cancel");
    assert!(cancelled);
    let twice: bool = sqlx::query_scalar("SELECT mcp.cancel_job($1)")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("cancel");
    assert!(!twice, "a finished job cannot be cancelled again");
    let (state, finished): (String, bool) =
        sqlx::query_as("SELECT state, finished_at IS NOT NULL FROM mcp.sync_jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .expect("row");
    assert_eq!((state.as_str(), finished), ("cancelled", true));

    let retried: bool = sqlx::query_scalar("SELECT mcp.retry_job($1)")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("retry");
    assert!(retried);
    let (state, due, finished): (String, bool, bool) = sqlx::query_as(
        "SELECT state, run_at <= now(), finished_at IS NOT NULL FROM mcp.sync_jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("row");
    assert_eq!((state.as_str(), due, finished), ("available", true, false));

    // A discarded job that used all its attempts gets one more.
    db.exec(&format!(
        "UPDATE mcp.sync_jobs SET state = 'discarded', attempt = 3, max_attempts = 3 WHERE id = {id}"
    ))
    .await;
    let _: bool = sqlx::query_scalar("SELECT mcp.retry_job($1)")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("retry");
    let max: i16 = sqlx::query_scalar("SELECT max_attempts FROM mcp.sync_jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("row");
    assert_eq!(max, 4);

    // Running jobs cannot be retried.
    db.exec(&format!(
        "UPDATE mcp.sync_jobs SET state = 'running' WHERE id = {id}"
    ))
    .await;
    let running: bool = sqlx::query_scalar("SELECT mcp.retry_job($1)")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("retry");
    assert!(!running);
    db.drop_db().await;
}

/// Runs every ```sql block of a markdown or .sql file, in order, in one fresh database.
async fn run_sql_blocks(db: &TestDb, source: &str, text: &str) -> usize {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```sql") => current = Some(String::new()),
            (Some(b), l) if l.starts_with("```") => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    for (i, block) in blocks.iter().enumerate() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(block.clone()))
            .execute(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{source} sql block {} failed: {e}\n{block}", i + 1));
    }
    blocks.len()
}

#[tokio::test]
async fn readme_sql_examples_run_as_written() {
    let db = TestDb::new().await;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let n = run_sql_blocks(&db, "README.md", &readme).await;
    assert!(
        n >= 5,
        "the README shows its SQL interface ({n} blocks found)"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn docs_sql_examples_run_as_written() {
    // The pages the README's sections moved to; each runs on a database of its own.
    for page in [
        "docs/INTEGRATIONS.md",
        "docs/SYNC.md",
        "docs/OPERATIONS.md",
        "docs/WEBHOOKS.md",
        "docs/NOTIFICATIONS.md",
        "docs/CHANGES.md",
        "docs/ITEMS.md",
        "docs/SCALING.md",
    ] {
        let db = TestDb::new().await;
        let text = std::fs::read_to_string(format!("{}/{page}", env!("CARGO_MANIFEST_DIR")))
            .expect("doc page");
        let n = run_sql_blocks(&db, page, &text).await;
        assert!(n >= 1, "{page} shows its SQL ({n} blocks found)");
        db.drop_db().await;
    }
}

#[tokio::test]
async fn job_catalogue_sql_examples_run_as_written() {
    let db = TestDb::new().await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/jobs");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).expect("jobs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "sql") {
            let text = std::fs::read_to_string(&path).expect("read");
            sqlx::raw_sql(sqlx::AssertSqlSafe(text))
                .execute(&db.pool)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            count += 1;
        }
    }
    assert!(count >= 2);
    // Every kind in the catalogue has its example file, and the catalogue table lists them.
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM mcp.job_kinds ORDER BY kind")
        .fetch_all(&db.pool)
        .await
        .expect("kinds");
    for k in &kinds {
        assert!(
            std::path::Path::new(&format!("{dir}/{k}.sql")).exists(),
            "jobs/{k}.sql missing"
        );
    }
    assert_eq!(
        kinds,
        [
            "health_check",
            "health_sweep",
            "items_backfill",
            "noop",
            "notify_deliver",
            "prune",
            "reconcile",
            "reconcile_sweep",
            "sync",
            "sync_sweep",
            "token_refresh",
            "token_refresh_sweep",
            "webhook_process",
            "webhook_renew",
            "webhook_renew_sweep",
            "webhook_subscribe",
            "webhook_unsubscribe"
        ]
    );
    db.drop_db().await;
}

/// `mcp.skip_notify`, set by a statement for its own transaction or by SET LOCAL, silences that
/// transaction's inserts and nothing after it.
#[tokio::test]
async fn skip_notify_silences_only_its_own_transaction() {
    let db = TestDb::new().await;
    let mut listener = sqlx::postgres::PgListener::connect(&db.url)
        .await
        .expect("listen");
    listener.listen("mcp_sync_jobs").await.expect("listen");
    let quiet = std::time::Duration::from_millis(400);
    db.exec(
        "WITH q AS (SELECT set_config('mcp.skip_notify', 'on', true) AS on_) \
         INSERT INTO mcp.sync_jobs (kind) SELECT 'noop' FROM q WHERE on_ = 'on'",
    )
    .await;
    db.exec("BEGIN; SET LOCAL mcp.skip_notify = 'on'; INSERT INTO mcp.sync_jobs (kind) VALUES ('noop'); COMMIT")
        .await;
    assert!(
        tokio::time::timeout(quiet, listener.recv()).await.is_err(),
        "no notification from the quiet inserts"
    );
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.sync_jobs").await,
        2,
        "the quiet inserts were made"
    );
    db.exec("INSERT INTO mcp.sync_jobs (kind) VALUES ('noop')")
        .await;
    assert!(
        tokio::time::timeout(std::time::Duration::from_secs(2), listener.recv())
            .await
            .is_ok(),
        "the next plain insert notifies again"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn bulk_insert_notifies_once_per_statement() {
    let db = TestDb::new().await;
    let mut listener = sqlx::postgres::PgListener::connect(&db.url)
        .await
        .expect("listen");
    listener.listen("mcp_sync_jobs").await.expect("listen");
    db.exec("INSERT INTO mcp.sync_jobs (kind) SELECT 'noop' FROM generate_series(1, 1000)")
        .await;
    // A marker after it: whatever the statement sent arrives before the marker.
    db.exec("SELECT pg_notify('mcp_sync_jobs', 'marker')").await;
    let mut before_marker = 0;
    loop {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
            .await
            .expect("the marker arrives")
            .expect("notification");
        if n.payload() == "marker" {
            break;
        }
        before_marker += 1;
    }
    assert_eq!(before_marker, 1, "one notification for the whole statement");
    db.drop_db().await;
}

#[tokio::test]
async fn a_job_lives_in_the_partition_of_its_state_and_the_table_shows_both() {
    let db = TestDb::new().await;
    let id = db
        .scalar_i64("INSERT INTO mcp.sync_jobs (kind) VALUES ('noop') RETURNING id")
        .await;
    let part = |db: &TestDb| {
        let sql = format!("SELECT tableoid::regclass::text FROM mcp.sync_jobs WHERE id = {id}");
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                .fetch_one(&pool)
                .await
                .expect("partition")
        }
    };
    assert_eq!(part(&db).await, "mcp.sync_jobs_live");
    assert!(
        db.scalar_i64(&format!("SELECT mcp.cancel_job({id})::int::bigint"))
            .await
            == 1
    );
    assert_eq!(part(&db).await, "mcp.sync_jobs_done");
    // History stays readable through the table, and an id is found once.
    assert_eq!(
        db.scalar_i64(&format!(
            "SELECT count(*) FROM mcp.sync_jobs WHERE id = {id} AND state = 'cancelled'"
        ))
        .await,
        1
    );
    assert!(
        db.scalar_i64(&format!("SELECT mcp.retry_job({id})::int::bigint"))
            .await
            == 1
    );
    assert_eq!(part(&db).await, "mcp.sync_jobs_live");
    // A unique key held by a live job is refused whatever history holds the same key.
    db.exec("INSERT INTO mcp.sync_jobs (kind, unique_key, state, finished_at) VALUES ('noop', 'k', 'completed', now())")
        .await;
    db.exec("INSERT INTO mcp.sync_jobs (kind, unique_key) VALUES ('noop', 'k')")
        .await;
    let dup = sqlx::query("INSERT INTO mcp.sync_jobs (kind, unique_key) VALUES ('noop', 'k')")
        .execute(&db.pool)
        .await;
    assert!(dup.is_err(), "a second live job with the key is refused");
    db.drop_db().await;
}

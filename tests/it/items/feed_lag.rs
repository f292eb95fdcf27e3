//! The change feed's lag: a transaction open in another database of the server holds the
//! feed's watermark back; the sampler counts the changes it hides and names the oldest open
//! transaction, and once it ends the change is shown.

use mcp_daemon::items::feed_lag;
use mcp_platforms::connectors::Platform;
use sqlx::Connection;

use super::*;

#[tokio::test]
async fn a_transaction_open_in_another_database_is_named_as_holding_the_feed_back() {
    let db = TestDb::new().await;
    let elsewhere = TestDb::new().await;
    let ws = workspace(&db, "lag").await;
    let id = bare_active(&db.pool, ws, Platform::Notion).await;
    // A transaction with an id, left open in the other database.
    let mut holder = sqlx::PgConnection::connect(&elsewhere.url)
        .await
        .expect("holder");
    sqlx::raw_sql("BEGIN; CREATE TABLE held (x int)")
        .execute(&mut holder)
        .await
        .expect("open a transaction");
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut holder)
        .await
        .expect("holder's pid");
    insert_item(&db.pool, id, "written-while-held").await;

    // How long the holder's transaction has been open, just before the sample.
    let held_for: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM clock_timestamp() - xact_start)::float8 \
         FROM pg_stat_activity WHERE pid = $1",
    )
    .bind(pid)
    .fetch_one(&db.pool)
    .await
    .expect("holder's age");
    let lag = feed_lag::sample(&db.pool).await.expect("sample");
    assert!(
        lag.held >= 1,
        "the change written after it is held: {lag:?}"
    );
    // The oldest open transaction is this one, or one at least as old (other tests run too).
    // An older transaction id was given out before this one, so that transaction started
    // earlier: at the sample it had been open at least as long as this one. (Its backend's
    // id read afterwards may be a newer transaction's, so the ages at the sample are compared.)
    assert!(lag.holder_pid.is_some(), "a holder is named: {lag:?}");
    assert!(
        lag.holder_age_s >= held_for,
        "{lag:?} is younger than pid {pid} (open {held_for} s before the sample)"
    );
    if lag.holder_pid == Some(pid) {
        assert_eq!(
            lag.holder_database.as_deref(),
            Some(elsewhere.name.as_str())
        );
    }
    let shown = |db: &TestDb| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM mcp.changes($1, NULL, 100) \
                 WHERE external_id = 'written-while-held'",
            )
            .bind(ws)
            .fetch_one(&pool)
            .await
            .expect("feed")
        }
    };
    assert_eq!(
        shown(&db).await,
        0,
        "hidden while the older transaction is open"
    );

    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("end it");
    // Shown once every transaction older than its writer's has ended (other tests' too).
    db.wait_until(
        &format!(
            "SELECT count(*) = 1 FROM mcp.changes('{ws}', NULL, 100) \
             WHERE external_id = 'written-while-held'"
        ),
        std::time::Duration::from_secs(60),
    )
    .await;
    drop(holder);
    elsewhere.drop_db().await;
    db.drop_db().await;
}

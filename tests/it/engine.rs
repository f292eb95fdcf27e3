//! The engine in-process: outcomes, retries, backoff, panics, snoozes, timeouts.

use std::time::Duration;

use mcp_handlers::{Job, JobContext, JobError, Kind, Services};
use mcp_queue::catalog::{Catalog, RetryPolicy};
use mcp_queue::Registry;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{start_worker, test_config, TestDb};

/// Panics.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Boom {}
impl Kind for Boom {
    const KIND: &'static str = "boom";
    const DESCRIPTION: &'static str = "panics";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 2,
        timeout: Duration::from_secs(5),
        ..SLOW_POLICY
    };
}
impl Job<Services> for Boom {
    async fn run(self, _ctx: JobContext) -> Result<(), JobError> {
        panic!("kaboom in handler")
    }
}

/// Snoozes its first attempt; the payload marks the second.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Snoozy {
    again: Option<bool>,
}
impl Kind for Snoozy {
    const KIND: &'static str = "snoozy";
    const DESCRIPTION: &'static str = "snoozes its first attempt";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 1,
        timeout: Duration::from_secs(5),
        ..SLOW_POLICY
    };
}
impl Job<Services> for Snoozy {
    async fn run(self, _ctx: JobContext) -> Result<(), JobError> {
        if self.again.is_none() {
            return Err(JobError::Snooze(Duration::from_secs(3600)));
        }
        Ok(())
    }
}

const SLOW_POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    timeout: Duration::from_millis(100),
    backoff_base: Duration::from_secs(1),
    backoff_max: Duration::from_secs(60),
};

/// Outlives its timeout.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Slow {}
impl Kind for Slow {
    const KIND: &'static str = "slow";
    const DESCRIPTION: &'static str = "outlives its timeout";
    const POLICY: RetryPolicy = SLOW_POLICY;
}
impl Job<Services> for Slow {
    async fn run(self, _ctx: JobContext) -> Result<(), JobError> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    }
}

fn test_catalog() -> Catalog {
    test_registry().catalog().expect("test catalogue")
}

fn test_registry() -> Registry<Services> {
    let mut r = mcp_handlers::registry();
    r.register::<Boom>();
    r.register::<Snoozy>();
    r.register::<Slow>();
    r
}

async fn state_of(db: &TestDb, id: i64) -> (String, i16, Option<String>) {
    sqlx::query_as("SELECT state, attempt, last_error FROM mcp.sync_jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("row")
}

async fn wait_state(db: &TestDb, id: i64, state: &str) {
    db.wait_until(
        &format!("SELECT state = '{state}' FROM mcp.sync_jobs WHERE id = {id}"),
        Duration::from_secs(10),
    )
    .await;
}

#[tokio::test]
async fn malformed_payload_discards_that_job_and_the_worker_goes_on() {
    let catalog = test_catalog();
    let db = TestDb::with_catalog(&catalog).await;
    let w = start_worker(&db, test_config(&db.url), &catalog, &test_registry()).await;
    // The INSERT refuses such a payload (tests/it/sql_checks.rs); one changed after it was
    // enqueued, or made under another catalogue, meets the daemon's own check when claimed.
    let bad = db
        .scalar_i64("SELECT mcp.enqueue_job('noop', run_at => now() + interval '1 hour')")
        .await;
    db.exec(&format!(
        "UPDATE mcp.sync_jobs SET payload = '{{\"sleep_ms\": \"soon\"}}', run_at = now() \
         WHERE id = {bad}; SELECT pg_notify('mcp_sync_jobs', '')"
    ))
    .await;
    let good = db
        .scalar_i64("SELECT mcp.enqueue_job('noop', '{\"sleep_ms\": 1}')")
        .await;
    wait_state(&db, bad, "discarded").await;
    wait_state(&db, good, "completed").await;
    let (_, attempt, err) = state_of(&db, bad).await;
    assert_eq!(attempt, 1);
    assert_eq!(
        err.as_deref(),
        Some("invalid payload: payload.sleep_ms: expected integer, got string")
    );
    w.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn failures_back_off_exponentially_then_discard_with_every_error_kept() {
    let catalog = test_catalog();
    let db = TestDb::with_catalog(&catalog).await;
    let w = start_worker(&db, test_config(&db.url), &catalog, &test_registry()).await;
    // noop: max_attempts 3, backoff_base 1s; it fails its first 5 attempts.
    let id = db
        .scalar_i64("SELECT mcp.enqueue_job('noop', '{\"fail_times\": 5}')")
        .await;
    for (attempt, base_s) in [(1, 1.0), (2, 2.0)] {
        db.wait_until(
            &format!("SELECT state = 'retryable' AND attempt = {attempt} FROM mcp.sync_jobs WHERE id = {id}"),
            Duration::from_secs(10),
        )
        .await;
        let (a, delay): (i16, f64) = sqlx::query_as(
            "SELECT attempt, EXTRACT(EPOCH FROM run_at - attempted_at)::float8 FROM mcp.sync_jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("row");
        assert_eq!(a, attempt);
        assert!(
            delay >= base_s * 0.75 - 0.05 && delay <= base_s * 1.25 + 0.05,
            "attempt {attempt}: delay {delay}s outside {base_s}s ±25%"
        );
        // Move the clock of this job forward instead of sleeping through the backoff.
        db.exec(&format!(
            "UPDATE mcp.sync_jobs SET run_at = now() WHERE id = {id}; SELECT pg_notify('mcp_sync_jobs', '')"
        ))
        .await;
    }
    wait_state(&db, id, "discarded").await;
    let (attempt, errors, finished): (i16, serde_json::Value, bool) = sqlx::query_as(
        "SELECT attempt, errors, finished_at IS NOT NULL FROM mcp.sync_jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("row");
    assert_eq!(attempt, 3);
    assert!(finished);
    let errors = errors.as_array().expect("errors array");
    assert_eq!(errors.len(), 3, "{errors:?}");
    for (i, e) in errors.iter().enumerate() {
        assert_eq!(e["attempt"], serde_json::json!(i + 1));
        assert!(e["error"]
            .as_str()
            .unwrap_or("")
            .contains("failing on purpose"));
    }
    w.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn handler_panic_fails_only_that_job() {
    let catalog = test_catalog();
    let db = TestDb::with_catalog(&catalog).await;
    let w = start_worker(&db, test_config(&db.url), &catalog, &test_registry()).await;
    let boom = db
        .scalar_i64("SELECT mcp.enqueue_job('boom', max_attempts => 1)")
        .await;
    wait_state(&db, boom, "discarded").await;
    let (_, _, err) = state_of(&db, boom).await;
    assert_eq!(err.as_deref(), Some("handler panicked: kaboom in handler"));
    let after = db.scalar_i64("SELECT mcp.enqueue_job('noop')").await;
    wait_state(&db, after, "completed").await;
    w.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn snooze_reschedules_without_spending_an_attempt() {
    let catalog = test_catalog();
    let db = TestDb::with_catalog(&catalog).await;
    let w = start_worker(&db, test_config(&db.url), &catalog, &test_registry()).await;
    let id = db.scalar_i64("SELECT mcp.enqueue_job('snoozy')").await;
    wait_state(&db, id, "scheduled").await;
    let (attempt, wait_s): (i16, f64) = sqlx::query_as(
        "SELECT attempt, EXTRACT(EPOCH FROM run_at - now())::float8 FROM mcp.sync_jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("row");
    assert_eq!(attempt, 0, "a snooze gives the attempt back");
    assert!(wait_s > 3000.0, "snoozed for about an hour, got {wait_s}s");
    // Its time comes (the clock moves) and it runs on its only attempt.
    db.exec(&format!(
        "UPDATE mcp.sync_jobs SET run_at = now(), payload = '{{\"again\": true}}' WHERE id = {id}; \
         SELECT pg_notify('mcp_sync_jobs', '')"
    ))
    .await;
    wait_state(&db, id, "completed").await;
    assert_eq!(state_of(&db, id).await.1, 1);
    w.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn attempt_over_its_timeout_fails_and_retries() {
    let catalog = test_catalog();
    let db = TestDb::with_catalog(&catalog).await;
    let w = start_worker(&db, test_config(&db.url), &catalog, &test_registry()).await;
    let id = db.scalar_i64("SELECT mcp.enqueue_job('slow')").await;
    wait_state(&db, id, "retryable").await;
    let (_, attempt, err) = state_of(&db, id).await;
    assert_eq!(attempt, 1);
    assert_eq!(err.as_deref(), Some("timed out after 100ms"));
    w.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn cancelled_running_job_keeps_its_cancelled_state() {
    let catalog = test_catalog();
    let db = TestDb::with_catalog(&catalog).await;
    let w = start_worker(&db, test_config(&db.url), &catalog, &test_registry()).await;
    let id = db
        .scalar_i64("SELECT mcp.enqueue_job('noop', '{\"sleep_ms\": 400}')")
        .await;
    wait_state(&db, id, "running").await;
    db.exec(&format!("SELECT mcp.cancel_job({id})")).await;
    // The shutdown waits for the running attempt (400 ms, within the grace) and writes its
    // outcome, which finds the job cancelled and is dropped.
    w.shutdown().await;
    let (state, attempt, _) = state_of(&db, id).await;
    assert_eq!((state.as_str(), attempt), ("cancelled", 1));
    db.drop_db().await;
}

#[tokio::test]
async fn jobs_run_in_priority_order() {
    let catalog = test_catalog();
    let db = TestDb::with_catalog(&catalog).await;
    db.exec(
        "INSERT INTO mcp.sync_jobs (kind, priority) SELECT 'noop', p FROM unnest(ARRAY[5, 1, 3]) AS p",
    )
    .await;
    let mut cfg = test_config(&db.url);
    cfg.worker.concurrency = 1;
    cfg.worker.fetch_batch = 1;
    let w = start_worker(&db, cfg, &catalog, &test_registry()).await;
    db.wait_until(
        "SELECT count(*) = 3 FROM mcp.sync_jobs WHERE state = 'completed'",
        Duration::from_secs(10),
    )
    .await;
    let order: Vec<i16> =
        sqlx::query_scalar("SELECT priority FROM mcp.sync_jobs ORDER BY attempted_at")
            .fetch_all(&db.pool)
            .await
            .expect("rows");
    assert_eq!(order, vec![1, 3, 5]);
    w.shutdown().await;
    db.drop_db().await;
}

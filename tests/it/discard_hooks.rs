//! The hook on a job's final outcome: a kind's `discarded` runs once per discarded job, in the
//! transaction that records it, whichever path discards it (the completer's batch, a malformed
//! payload, the rescuer's lease expiry); a failing hook holds no outcome back; and the engine's
//! table carries no trigger of the domain.

use std::time::Duration;

use mcp_handlers::{Job, JobContext, JobError, Kind, Services};
use mcp_queue::catalog::{Catalog, RetryPolicy};
use mcp_queue::{DiscardHooks, Outcome, OutcomeRow, Queue, Registry};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{start_worker, test_config, TestDb};

/// Fails for good at its first attempt; its hook records what it saw.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Doomed {
    n: u32,
}
impl Kind for Doomed {
    const KIND: &'static str = "doomed";
    const DESCRIPTION: &'static str = "fails for good";
    /// One attempt of at most 5 s.
    const POLICY: RetryPolicy = RetryPolicy::secs(1, 5, 1, 1);
}
impl Job<Services> for Doomed {
    async fn run(self, _ctx: JobContext) -> Result<(), JobError> {
        Err(JobError::Discard(format!("doomed {}", self.n)))
    }

    /// Records each id with whether its row is already final when the hook runs.
    async fn discarded(conn: &mut sqlx::PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO public.doomed_seen (job_id, final) \
             SELECT id, EXISTS (SELECT 1 FROM mcp.sync_jobs_done d \
                                WHERE d.id = i.id AND d.state = 'discarded') \
             FROM unnest($1::bigint[]) AS i(id)",
        )
        .bind(ids)
        .execute(conn)
        .await
        .map(drop)
    }
}

/// Fails for good too; its hook fails (its table does not exist).
#[derive(Serialize, Deserialize, JsonSchema)]
struct Cursed {}
impl Kind for Cursed {
    const KIND: &'static str = "cursed";
    const DESCRIPTION: &'static str = "fails for good, and so does its hook";
    const POLICY: RetryPolicy = Doomed::POLICY;
}
impl Job<Services> for Cursed {
    async fn run(self, _ctx: JobContext) -> Result<(), JobError> {
        Err(JobError::Discard("cursed".into()))
    }

    async fn discarded(conn: &mut sqlx::PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO public.no_such_table SELECT unnest($1::bigint[])")
            .bind(ids)
            .execute(conn)
            .await
            .map(drop)
    }
}

fn registry() -> Registry<Services> {
    let mut r = mcp_handlers::registry();
    r.register::<Doomed>();
    r.register::<Cursed>();
    r
}

fn catalog() -> Catalog {
    registry().catalog().expect("catalogue")
}

async fn db_with_seen_table() -> TestDb {
    let db = TestDb::with_catalog(&catalog()).await;
    db.exec("CREATE TABLE public.doomed_seen (job_id bigint NOT NULL, final boolean NOT NULL)")
        .await;
    db
}

/// `(job_id, final)` as the hook recorded them, by id.
async fn seen(db: &TestDb) -> Vec<(i64, bool)> {
    sqlx::query_as("SELECT job_id, final FROM public.doomed_seen ORDER BY job_id")
        .fetch_all(&db.pool)
        .await
        .expect("seen")
}

/// A queue of `catalog` for calling the engine's statements directly, as one worker.
pub fn queue(db: &TestDb, catalog: &Catalog) -> Queue {
    queue_as(db, catalog, "hook-test-worker")
}

/// `queue` as the worker `worker`.
fn queue_as(db: &TestDb, catalog: &Catalog, worker: &str) -> Queue {
    Queue::new(
        db.pool.clone(),
        worker.into(),
        catalog,
        Duration::from_secs(1),
        vec!["default".into()],
    )
}

/// Makes job `id` the last attempt of a worker that died (running, its lease run out) and has
/// the rescuer take it back, with `hooks`: it is discarded by the rescuer's path.
pub async fn discard_by_rescue(db: &TestDb, queue: &Queue, hooks: &DiscardHooks, id: i64) {
    db.exec(&format!(
        "UPDATE mcp.sync_jobs SET state = 'running', attempt = 1, max_attempts = 1, \
         locked_by = 'a-worker-that-died', lease_expires_at = now() - interval '1 second' \
         WHERE id = {id}"
    ))
    .await;
    let rescued = queue.rescue(100, hooks).await.expect("rescue");
    assert!(
        rescued.iter().any(|r| r.id == id && r.state == "discarded"),
        "{id} not discarded by the rescuer"
    );
}

#[tokio::test]
async fn the_hook_runs_once_per_job_discarded_by_the_worker_in_its_transaction() {
    let db = db_with_seen_table().await;
    let catalog = catalog();
    let w = start_worker(&db, test_config(&db.url), &catalog, &registry()).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(Doomed { n }.enqueue(&db.pool).await.expect("enqueue"));
    }
    // A payload changed after it was enqueued is discarded at the claim: its hook runs too.
    // A kind whose hook fails: its jobs are discarded all the same, in the same batches, and the
    // other kinds' hooks still run.
    let mut cursed = Vec::new();
    for _ in 0..3 {
        cursed.push(Cursed {}.enqueue(&db.pool).await.expect("enqueue"));
    }
    let bad = db
        .scalar_i64(
            "SELECT mcp.enqueue_job('doomed', '{\"n\": 4}', run_at => now() + interval '1 hour')",
        )
        .await;
    db.exec(&format!(
        "UPDATE mcp.sync_jobs SET payload = '{{\"n\": \"x\"}}', run_at = now() WHERE id = {bad}; \
         SELECT pg_notify('mcp_sync_jobs', '')"
    ))
    .await;
    ids.push(bad);
    db.wait_until(
        "SELECT count(*) = 5 FROM mcp.sync_jobs WHERE kind = 'doomed' AND state = 'discarded'",
        Duration::from_secs(20),
    )
    .await;
    w.shutdown().await;
    assert_eq!(
        seen(&db).await,
        ids.iter().map(|id| (*id, true)).collect::<Vec<_>>()
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_job_the_rescuer_discards_gets_its_hook_once_even_when_its_worker_answers_late() {
    let db = db_with_seen_table().await;
    let catalog = catalog();
    let queue = queue(&db, &catalog);
    let hooks = registry().discard_hooks();
    let id = Doomed { n: 1 }.enqueue(&db.pool).await.expect("enqueue");
    let caps: Vec<i32> = queue
        .kinds()
        .iter()
        .map(|k| i32::from(k == "doomed"))
        .collect();
    let claimed = queue.claim(1, &caps).await.expect("claim");
    assert_eq!(claimed.iter().map(|c| c.id).collect::<Vec<_>>(), [id]);
    // Its lease runs out; another daemon's rescuer discards it (the last attempt).
    db.exec(&format!(
        "UPDATE mcp.sync_jobs SET lease_expires_at = now() - interval '1 second' WHERE id = {id}"
    ))
    .await;
    let other = queue_as(&db, &catalog, "another-worker");
    let rescued = other.rescue(100, &hooks).await.expect("rescue");
    assert_eq!(rescued.len(), 1);
    assert_eq!(seen(&db).await, [(id, true)]);
    // The first worker's outcome arrives late: nothing is written, the hook does not run again.
    let late = OutcomeRow {
        id,
        attempt: claimed[0].attempt,
        outcome: Outcome::Discard {
            error: "too late".into(),
        },
    };
    assert_eq!(queue.complete(&[late], &hooks).await.expect("complete"), 0);
    assert_eq!(seen(&db).await, [(id, true)]);
    // A job rescued with attempts left is not final: no hook.
    let again = Doomed { n: 2 }.enqueue(&db.pool).await.expect("enqueue");
    db.exec(&format!(
        "UPDATE mcp.sync_jobs SET state = 'running', max_attempts = 2, attempt = 1, \
         locked_by = 'gone', lease_expires_at = now() - interval '1 second' WHERE id = {again}"
    ))
    .await;
    let rescued = other.rescue(100, &hooks).await.expect("rescue");
    assert_eq!(rescued[0].state, "available");
    assert_eq!(seen(&db).await, [(id, true)]);
    db.drop_db().await;
}

#[tokio::test]
async fn the_engines_table_has_no_trigger_of_the_domain() {
    let db = TestDb::new().await;
    let engine: String = mcp_queue::migrations::ENGINE
        .iter()
        .map(|m| m.sql.as_ref())
        .collect();
    let triggers: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.relname::text, t.tgname::text, p.proname::text \
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_proc p ON p.oid = t.tgfoid \
         WHERE n.nspname = 'mcp' AND c.relname LIKE 'sync_jobs%' AND NOT t.tgisinternal \
         ORDER BY 1, 2",
    )
    .fetch_all(&db.pool)
    .await
    .expect("triggers");
    assert!(!triggers.is_empty());
    for (table, trigger, function) in &triggers {
        assert!(
            engine.contains(&format!("CREATE TRIGGER {trigger}"))
                && engine.contains(&format!("FUNCTION mcp.{function}(")),
            "{table}.{trigger} ({function}) is not the engine's"
        );
    }
    db.drop_db().await;
}

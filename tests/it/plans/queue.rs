//! The engine's hot statements: claim, complete, rescue, the depth sampler, prune batches,
//! `mcp.enqueue_job` on a key that is held, cancelling an integration's jobs, and the cron
//! tick's statements.

use chrono::{DateTime, Utc};
use mcp_queue::scheduler::{
    CRON_ADVANCE_SQL, CRON_ENQUEUE_SQL, CRON_FIRST_SIGHT_SQL, CRON_TAKE_SQL,
};
use mcp_queue::{CLAIM_SQL, COMPLETE_SQL, DEPTH_SQL, ENQUEUE_SQL, PRUNE_SQL, RESCUE_SQL};

use super::{args, integration, Harness, Measured};
use crate::common::TestDb;

/// Batches as the daemon runs them (claim and complete at a daemon's usual fill, the rescuer's
/// and a prune's at their size).
const CLAIM_BATCH: i64 = 100;
const COMPLETE_BATCH: i64 = 100;
const RESCUE_BATCH: i64 = 1_000;
const PRUNE_BATCH: i64 = 1_000;

/// What a statement on one row (or a handful) may touch: its row, the index entries that find
/// it, its foreign-key and unique checks, a trigger's row.
const SMALL: i64 = 25;

const WORKER: &str = "plans-worker";

/// One prune batch of completed jobs finished before `before`, from the start of the walk or
/// after `after` (finish time, id), measured and held to `bound` rows touched.
async fn prune(
    h: &mut Harness,
    name: &'static str,
    before: DateTime<Utc>,
    after: Option<(DateTime<Utc>, i64)>,
    bound: i64,
) -> Measured {
    let args = args!(
        "completed",
        before,
        after.map(|a| a.0),
        after.map(|a| a.1),
        PRUNE_BATCH as i32
    );
    h.check(name, PRUNE_SQL, args, bound, false).await
}

pub async fn check(h: &mut Harness, db: &TestDb) {
    let days = |d: i64| Utc::now() - chrono::Duration::days(d);

    // Claim: every kind offered its full cap (a daemon with every slot free). Each kind's
    // claim walks its claim-index entries in order and locks at most its cap of due jobs
    // (entry + row: 2 each; 500 here, five kinds have due jobs); the picked batch is updated
    // through the primary key (entry, row, new version: 3 each). Measured: exactly that.
    // Bound: one more per locked and per claimed job.
    let kinds: Vec<String> = mcp_handlers::builtin_catalog()
        .iter()
        .map(|s| s.kind.clone())
        .collect();
    let n = kinds.len();
    let locked = db
        .scalar_i64(&format!(
            "SELECT COALESCE(sum(least(n, {CLAIM_BATCH})), 0)::bigint FROM (SELECT count(*) AS n \
             FROM mcp.sync_jobs_live WHERE state IN ('available', 'scheduled', 'retryable') \
               AND run_at <= now() GROUP BY kind) k"
        ))
        .await;
    let m = h
        .check(
            "claim (100)",
            CLAIM_SQL,
            args!(
                &kinds,
                vec![CLAIM_BATCH as i32; n],
                vec![60_000i64; n],
                vec![3i16; n],
                CLAIM_BATCH as i32,
                WORKER,
                Vec::<String>::new()
            ),
            3 * locked + 4 * CLAIM_BATCH + SMALL,
            false,
        )
        .await;
    assert_eq!(m.rows, CLAIM_BATCH as u64, "the claim took a full batch");

    // Complete: a batch of running jobs, by id. Each: primary-key entry, row, its move to the
    // finished partition (deleted from one, inserted into the other) and the inserted row's
    // kind checked (foreign key: entry + row): 6 each, as measured; bound 7.
    let running: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM mcp.sync_jobs_live WHERE state = 'running' AND lease_expires_at > now() \
         ORDER BY id LIMIT $1",
    )
    .bind(COMPLETE_BATCH)
    .fetch_all(&db.pool)
    .await
    .expect("running jobs");
    let c = running.len();
    let m = h
        .check(
            "complete (100)",
            COMPLETE_SQL,
            args!(
                &running,
                vec![1i16; c],
                vec!["completed"; c],
                vec![None::<i64>; c],
                vec![false; c],
                vec![None::<&str>; c],
                WORKER
            ),
            7 * COMPLETE_BATCH + SMALL,
            false,
        )
        .await;
    assert_eq!(
        m.of("mcp.sync_jobs_done").inserted,
        COMPLETE_BATCH,
        "all completed"
    );

    // Rescue: the expired leases in lease order (entry + row), each updated through the
    // primary key (entry, row, new version): 5 each, as measured; bound 6.
    let m = h
        .check(
            "rescue (1000)",
            RESCUE_SQL,
            args!(RESCUE_BATCH as i32),
            6 * RESCUE_BATCH + SMALL,
            false,
        )
        .await;
    assert_eq!(m.rows, RESCUE_BATCH as u64, "the rescuer took a full batch");

    // Depth: the live partition's rows, once each (it is the work in flight, not history):
    // bounded by the live jobs, whatever the finished ones beside them.
    let live = db
        .scalar_i64("SELECT count(*) FROM mcp.sync_jobs_live")
        .await;
    h.check("depth sampler", DEPTH_SQL, args!(), live + SMALL, true)
        .await;

    // Prune: a batch of finished jobs in finish order (index entry + row), deleted through
    // the primary key (entry, row, deletion): 5 each, as measured; bound 6. From the start,
    // from the middle of the walk, and a batch that finds nothing due (it reads nothing).
    let full = 6 * PRUNE_BATCH + SMALL;
    let m = prune(h, "prune batch, first (1000)", days(7), None, full).await;
    assert_eq!(
        m.of("mcp.sync_jobs_done").deleted,
        PRUNE_BATCH,
        "a full batch"
    );
    let (after_at, after_id): (DateTime<Utc>, i64) = sqlx::query_as(
        "SELECT finished_at, id FROM mcp.sync_jobs_done WHERE state = 'completed' \
         ORDER BY finished_at, id OFFSET 50000 LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .expect("a point in the walk");
    let mid = Some((after_at, after_id));
    let m = prune(h, "prune batch, mid-walk (1000)", days(7), mid, full).await;
    assert_eq!(
        m.of("mcp.sync_jobs_done").deleted,
        PRUNE_BATCH,
        "a full batch"
    );
    prune(h, "prune batch, nothing due", days(60), None, SMALL).await;

    // Enqueue of a key a live job holds: the insert's conflict (and its kind's foreign-key
    // check), then the holder's id through the unique index: a handful.
    let held = format!("health_check:{}", integration(0));
    let m = h
        .check(
            "enqueue_job, key held",
            ENQUEUE_SQL,
            args!(
                "health_check",
                serde_json::json!({"integration_id": integration(0)}),
                None::<DateTime<Utc>>,
                None::<i32>,
                None::<i32>,
                Some(held.as_str()),
                None::<&str>
            ),
            SMALL,
            false,
        )
        .await;
    assert_eq!(m.of("mcp.sync_jobs_live").inserted, 0, "the holder's id");

    // Cancelling an integration's waiting jobs (two in the fixture): through the live
    // partition's integration index (entry + row), each moved to the finished partition
    // (deleted, inserted, its kind checked: entry + row): 6 each; bound 8 each.
    let m = h
        .check(
            "cancel an integration's jobs",
            mcp_daemon::integrations::CANCEL_JOBS_SQL,
            args!(integration(6), Some("webhook_process")),
            8 * 2 + SMALL,
            true,
        )
        .await;
    assert_eq!(m.rows, 2, "integration 6 has two waiting jobs");

    // The cron tick: its schedule's row (primary key), the enqueue, the row advanced: a
    // handful each.
    h.check(
        "cron: first sight",
        CRON_FIRST_SIGHT_SQL,
        args!("prune", Utc::now()),
        SMALL,
        true,
    )
    .await;
    h.check("cron: take", CRON_TAKE_SQL, args!("prune"), SMALL, true)
        .await;
    h.check(
        "cron: enqueue",
        CRON_ENQUEUE_SQL,
        args!("prune", serde_json::json!({})),
        SMALL,
        false,
    )
    .await;
    h.check(
        "cron: advance",
        CRON_ADVANCE_SQL,
        args!("prune", Utc::now(), 1i64),
        SMALL,
        true,
    )
    .await;
}

//! The queue suite's production-scale phases: drain rates with millions of finished jobs kept
//! beside the new ones (as a week of retention leaves them), and a drain while `prune` deletes
//! that history. Finished rows are written straight by SQL (they are history, not work), the
//! table is analysed, then new `noop` jobs are drained by the running daemon. Prints figures;
//! asserts nothing.

use std::time::{Duration, Instant};

use anyhow::bail;
use sqlx::PgConnection;

/// Inserts `rows` completed `noop` jobs finished between 2 and 9 days ago, in chunks, then
/// `ANALYZE`s the table. Returns the seconds it took.
pub async fn add_history(conn: &mut PgConnection, rows: i64) -> anyhow::Result<f64> {
    let t = Instant::now();
    let chunk: i64 = 500_000;
    let mut done = 0;
    while done < rows {
        let n = chunk.min(rows - done);
        sqlx::query(
            "INSERT INTO mcp.sync_jobs (kind, state, attempt, max_attempts, created_at, \
                                        run_at, attempted_at, finished_at) \
             SELECT 'noop', 'completed', 1, 1, f - interval '2 ms', f - interval '2 ms', \
                    f - interval '1 ms', f \
             FROM (SELECT now() - interval '2 days' - random() * interval '7 days' AS f \
                   FROM generate_series(1, $1)) s",
        )
        .bind(n)
        .execute(&mut *conn)
        .await?;
        done += n;
    }
    sqlx::query("ANALYZE mcp.sync_jobs")
        .execute(&mut *conn)
        .await?;
    Ok(t.elapsed().as_secs_f64())
}

/// Bulk-enqueues `jobs` noop jobs and waits until they are all finished; returns jobs/s,
/// measured from the INSERT's commit to the last completion.
pub async fn drain(conn: &mut PgConnection, jobs: i64) -> anyhow::Result<f64> {
    let first_id: i64 = sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM mcp.sync_jobs")
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO mcp.sync_jobs (kind) SELECT 'noop' FROM generate_series(1, $1)")
        .bind(jobs)
        .execute(&mut *conn)
        .await?;
    let committed: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&mut *conn)
        .await?;
    wait_done(conn, first_id, Duration::from_secs(900)).await?;
    let (last, not_completed): (Option<chrono::DateTime<chrono::Utc>>, i64) = sqlx::query_as(
        "SELECT max(finished_at), count(*) FILTER (WHERE state <> 'completed') \
         FROM mcp.sync_jobs WHERE id > $1 AND kind = 'noop'",
    )
    .bind(first_id)
    .fetch_one(&mut *conn)
    .await?;
    if not_completed != 0 {
        bail!("{not_completed} jobs did not complete: the figures are not valid");
    }
    let took = last
        .map(|l| (l - committed).to_std().unwrap_or_default())
        .unwrap_or_default()
        .max(Duration::from_millis(1));
    Ok(jobs as f64 / took.as_secs_f64())
}

/// Waits until no noop job after `first_id` is unfinished.
pub(crate) async fn wait_done(
    conn: &mut PgConnection,
    first_id: i64,
    limit: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let busy: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM mcp.sync_jobs \
             WHERE state IN ('available', 'scheduled', 'retryable', 'running') \
               AND id > $1 AND kind = 'noop')",
        )
        .bind(first_id)
        .fetch_one(&mut *conn)
        .await?;
        if !busy {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("jobs not drained after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What a prune running beside a drain did.
pub struct PruneBeside {
    pub drain_jobs_per_s: f64,
    pub pruned_rows: i64,
    pub prune_s: f64,
}

/// Enqueues a `prune` of every completed job finished more than a day ago and, at once, `jobs`
/// noop jobs; returns the drain rate measured while the prune ran, and the prune's figures.
pub async fn drain_during_prune(conn: &mut PgConnection, jobs: i64) -> anyhow::Result<PruneBeside> {
    let before: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mcp.sync_jobs \
         WHERE state = 'completed' AND finished_at < now() - interval '1 day'",
    )
    .fetch_one(&mut *conn)
    .await?;
    let t = Instant::now();
    let prune_id: i64 = sqlx::query_scalar(
        "SELECT mcp.enqueue_job('prune', '{\"completed_older_than_s\": 86400}')",
    )
    .fetch_one(&mut *conn)
    .await?;
    let rate = drain(conn, jobs).await?;
    let prune_running: bool = sqlx::query_scalar(
        "SELECT state IN ('available', 'running') FROM mcp.sync_jobs WHERE id = $1",
    )
    .bind(prune_id)
    .fetch_one(&mut *conn)
    .await?;
    if !prune_running {
        println!("  note: the prune ended before the drain did; the rate is partly without it");
    }
    loop {
        let state: String = sqlx::query_scalar("SELECT state FROM mcp.sync_jobs WHERE id = $1")
            .bind(prune_id)
            .fetch_one(&mut *conn)
            .await?;
        match state.as_str() {
            "completed" => break,
            "discarded" | "cancelled" => bail!("the prune job ended {state}"),
            _ if t.elapsed() > Duration::from_secs(1800) => bail!("prune still running"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let prune_s = t.elapsed().as_secs_f64();
    let after: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mcp.sync_jobs \
         WHERE state = 'completed' AND finished_at < now() - interval '1 day'",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(PruneBeside {
        drain_jobs_per_s: rate,
        pruned_rows: before - after,
        prune_s,
    })
}

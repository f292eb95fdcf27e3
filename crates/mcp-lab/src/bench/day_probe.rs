//! What the day suite reads while it runs: job waits from `mcp.sync_jobs`, table and index
//! sizes (over `pg_partition_tree`, so a partitioned queue is measured whole), dead tuples, the
//! daemon's pool-wait histogram from `/metrics`, its RSS; and the arithmetic of the verdict.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::bench::webhooks::pct;

/// What the day suite prints as JSON: its settings, a block per minute, the verdict.
#[derive(Debug, Default, serde::Serialize)]
pub struct DayReport {
    pub machine: String,
    pub postgres: String,
    pub integrations: i64,
    pub webhooks: usize,
    pub event_rate: u64,
    pub run_s: f64,
    pub retention_s: u64,
    pub warmup_s: f64,
    pub minutes: Vec<Minute>,
    pub rss_mean_mb: f64,
    pub rss_min_mb: f64,
    pub rss_max_mb: f64,
    pub rss_flat: bool,
    pub p99_slope_ms_per_min: Option<f64>,
    pub p99_no_upward_trend: Option<bool>,
    pub table_first_third_max_mb: f64,
    pub table_last_third_max_mb: f64,
    pub table_bounded: bool,
    pub rows_bounded: bool,
    /// The cluster's `autovacuum` setting (the table's bytes stay bounded only with it on).
    pub autovacuum: String,
    pub daemon_peak_rss_mb: f64,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Minute {
    /// Seconds since the start at the block's end.
    pub end_s: f64,
    pub started: usize,
    pub jobs_per_s: f64,
    pub wait_p50_ms: f64,
    pub wait_p99_ms: f64,
    /// (kind, started, p50 ms, p99 ms).
    pub kinds: Vec<(String, usize, f64, f64)>,
    pub sizes: Sizes,
    pub pool_wait: Option<PoolWait>,
    pub rss_mb: f64,
    pub cpu_pct: f64,
    /// This process: the sandbox (the 13 platforms) and the webhook load generator.
    pub bench_cpu_pct: f64,
    pub host_load: f64,
    pub events_offered: u64,
    pub events_ok: u64,
    pub events_failed: u64,
    pub events_shed: u64,
}

/// The queue's relations: the table and, when it is partitioned, its partitions
/// (`pg_partition_tree` lists nothing for a plain table).
const TREE: &str = "SELECT relid FROM pg_partition_tree('mcp.sync_jobs') \
                    UNION SELECT 'mcp.sync_jobs'::regclass";

/// (kind, wait in ms) of every job claimed in `[from, to)`: `attempted_at - greatest(created_at,
/// run_at)`, the wait from when the job was due. Jobs back to waiting (a retry, a snooze, a
/// shutdown) are left out: their `run_at` is already the next one.
pub(crate) async fn waits(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, f64)>> {
    Ok(sqlx::query_as(
        "SELECT kind, (extract(epoch FROM attempted_at - greatest(created_at, run_at)) * 1000)::float8 \
         FROM mcp.sync_jobs \
         WHERE attempted_at >= $1 AND attempted_at < $2 \
           AND state IN ('running', 'completed', 'discarded', 'cancelled')",
    )
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?)
}

/// Table + indexes + TOAST of `mcp.sync_jobs`, summed over its partition tree.
pub(crate) async fn table_bytes(conn: &mut PgConnection) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COALESCE((SELECT sum(pg_total_relation_size(relid))::bigint FROM ({TREE}) t), \
                         pg_total_relation_size('mcp.sync_jobs'))"
    )))
    .fetch_one(conn)
    .await?)
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Sizes {
    pub table_bytes: i64,
    /// Partitions (0 for a plain table).
    pub partitions: i64,
    pub rows: i64,
    /// Rows in a live state (available, scheduled, running, retryable).
    pub live_rows: i64,
    pub dead_tuples: i64,
    pub autovacuums: i64,
    /// The three largest indexes (name, bytes).
    pub indexes: Vec<(String, i64)>,
    /// The other hot tables (name, bytes incl. indexes).
    pub others: Vec<(String, i64)>,
}

pub(crate) async fn sizes(conn: &mut PgConnection) -> anyhow::Result<Sizes> {
    let table_bytes = table_bytes(conn).await?;
    let partitions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_partition_tree('mcp.sync_jobs') WHERE isleaf")
            .fetch_one(&mut *conn)
            .await?;
    let (rows, live_rows): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE state IN ('available', 'scheduled', 'running', 'retryable')) \
         FROM mcp.sync_jobs",
    )
    .fetch_one(&mut *conn)
    .await?;
    let (dead_tuples, autovacuums): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT COALESCE(sum(n_dead_tup), 0)::bigint, COALESCE(sum(autovacuum_count), 0)::bigint \
         FROM pg_stat_user_tables WHERE relid IN ({TREE})"
    )))
    .fetch_one(&mut *conn)
    .await?;
    let indexes = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index \
         WHERE indrelid IN ({TREE}) ORDER BY 2 DESC, 1 LIMIT 3"
    )))
    .fetch_all(&mut *conn)
    .await?;
    let mut others = Vec::new();
    for name in [
        "mcp.webhook_events",
        "mcp.health_checks",
        "core.integrations",
        "mcp.synced_items",
    ] {
        let bytes: Option<i64> =
            sqlx::query_scalar("SELECT pg_total_relation_size(to_regclass($1))")
                .bind(name)
                .fetch_one(&mut *conn)
                .await?;
        if let Some(b) = bytes {
            others.push((name.to_string(), b));
        }
    }
    Ok(Sizes {
        table_bytes,
        partitions,
        rows,
        live_rows,
        dead_tuples,
        autovacuums,
        indexes,
        others,
    })
}

/// A Prometheus histogram (or summary) as `/metrics` shows it, summed over its label sets.
#[derive(Debug, Default, Clone)]
pub(crate) struct Hist {
    pub present: bool,
    pub sum: f64,
    pub count: f64,
    /// (le, cumulative count), ascending.
    pub buckets: Vec<(f64, f64)>,
    /// A summary's 0.99 quantile (since the daemon started), when it is one.
    pub q99: Option<f64>,
}

pub(crate) fn parse_hist(body: &str, name: &str) -> Hist {
    let mut h = Hist::default();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let Some((lhs, v)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(v) = v.parse::<f64>() else { continue };
        let (series, labels) = lhs.split_once('{').unwrap_or((lhs, ""));
        let Some(suffix) = series.strip_prefix(name) else {
            continue;
        };
        match suffix {
            "_sum" => h.sum += v,
            "_count" => h.count += v,
            "_bucket" => {
                let le = label(labels, "le").and_then(|s| match s {
                    "+Inf" => Some(f64::INFINITY),
                    s => s.parse().ok(),
                });
                let Some(le) = le else { continue };
                match h.buckets.iter_mut().find(|(b, _)| *b == le) {
                    Some(b) => b.1 += v,
                    None => h.buckets.push((le, v)),
                }
            }
            "" if label(labels, "quantile") == Some("0.99") => {
                h.q99 = Some(h.q99.map_or(v, |q: f64| q.max(v)))
            }
            _ => continue,
        }
        h.present = true;
    }
    h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    h
}

fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels
        .trim_end_matches('}')
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim_matches('"'))
}

/// Pool wait over a window, from two readings of the histogram.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct PoolWait {
    pub waits: f64,
    pub mean_ms: Option<f64>,
    /// The upper bound of the bucket holding the 99th percentile (None past the last bound).
    pub p99_le_ms: Option<f64>,
}

/// The window between two readings, as text for the block and as figures for the JSON.
pub(crate) fn pool_wait(before: &Hist, now: &Hist) -> (String, Option<PoolWait>) {
    if !now.present {
        return ("n/a (mcp_db_pool_wait_seconds not exported)".into(), None);
    }
    let n = now.count - before.count;
    if n <= 0.0 {
        return ("no waits recorded".into(), None);
    }
    let mut w = PoolWait {
        waits: n,
        mean_ms: Some(1000.0 * (now.sum - before.sum) / n),
        p99_le_ms: None,
    };
    let mut text = format!(
        "mean {:.3} ms over {n:.0} acquires",
        w.mean_ms.unwrap_or(0.0)
    );
    let prev = |le: f64| {
        before
            .buckets
            .iter()
            .find(|(b, _)| *b == le)
            .map_or(0.0, |x| x.1)
    };
    let hit = now
        .buckets
        .iter()
        .find(|(le, cum)| cum - prev(*le) >= 0.99 * n);
    let last_finite = now.buckets.iter().rev().find(|(le, _)| le.is_finite());
    match (hit, last_finite) {
        (Some((le, _)), _) if le.is_finite() => {
            w.p99_le_ms = Some(le * 1000.0);
            text.push_str(&format!(", p99 ≤ {:.3} ms (bucket bound)", le * 1000.0));
        }
        (Some(_), Some((le, _))) => text.push_str(&format!(
            ", p99 > {:.3} ms (past the last bucket)",
            le * 1000.0
        )),
        _ => match now.q99 {
            Some(q) => text.push_str(&format!(", p99 {:.3} ms (summary since start)", q * 1000.0)),
            None => text.push_str(", p99 n/a (no buckets)"),
        },
    }
    (text, Some(w))
}

/// Resident set size of a process (VmRSS), in MB.
pub(crate) fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The host's 1-minute load average (other work on the machine shows in every figure).
pub(crate) fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Least-squares slope of y over x.
pub(crate) fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

pub(crate) fn mb(bytes: i64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// "1,234,567".
pub(crate) fn thousands(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// What is read every few seconds.
pub(crate) struct Sample {
    /// Seconds since the start.
    pub t: f64,
    pub rss_mb: f64,
    pub table_bytes: i64,
    /// Rows of `mcp.sync_jobs` (the statistics' live tuples: every state, finished ones too).
    pub rows: i64,
}

pub(crate) async fn sample(conn: &mut PgConnection, pid: u32, t: f64) -> anyhow::Result<Sample> {
    let rows = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COALESCE(sum(n_live_tup), 0)::bigint FROM pg_stat_user_tables \
         WHERE relid IN ({TREE})"
    )))
    .fetch_one(&mut *conn)
    .await?;
    Ok(Sample {
        t,
        rss_mb: rss_mb(pid).unwrap_or(f64::NAN),
        table_bytes: table_bytes(conn).await?,
        rows,
    })
}

/// RSS flat after warm-up, p99 without an upward trend, the table bounded; printed and stored.
pub(crate) fn verdict(r: &mut DayReport, samples: &[Sample], step: Duration) {
    let warm = r.warmup_s;
    let after: Vec<&Sample> = samples.iter().filter(|s| s.t > warm).collect();
    let rss: Vec<f64> = after
        .iter()
        .map(|s| s.rss_mb)
        .filter(|v| v.is_finite())
        .collect();
    r.rss_mean_mb = rss.iter().sum::<f64>() / rss.len().max(1) as f64;
    r.rss_min_mb = rss.iter().copied().fold(f64::INFINITY, f64::min);
    r.rss_max_mb = rss.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    r.rss_flat = !rss.is_empty()
        && r.rss_min_mb >= 0.9 * r.rss_mean_mb
        && r.rss_max_mb <= 1.1 * r.rss_mean_mb;
    println!(
        "\nverdict (warm-up: the first {warm:.0} s left out)\n  RSS flat within ±10 % of its mean: {} \
         (mean {:.1} MB, min {:.1} MB, max {:.1} MB over {} samples {} s apart)",
        if r.rss_flat { "yes" } else { "no" },
        r.rss_mean_mb,
        r.rss_min_mb,
        r.rss_max_mb,
        rss.len(),
        step.as_secs()
    );

    let mut prev_end = 0.0;
    let mut points = Vec::new();
    for m in &r.minutes {
        if prev_end >= warm && m.started > 0 {
            points.push(((prev_end + m.end_s) / 120.0, m.wait_p99_ms));
        }
        prev_end = m.end_s;
    }
    let mut p99s: Vec<f64> = points.iter().map(|p| p.1).collect();
    p99s.sort_by(|a, b| a.total_cmp(b));
    let median = pct(&p99s, 50);
    let span_min = (r.run_s - warm) / 60.0;
    r.p99_slope_ms_per_min = slope(&points);
    r.p99_no_upward_trend = r
        .p99_slope_ms_per_min
        .map(|s| s * span_min < (0.5 * median).max(1.0));
    match (r.p99_slope_ms_per_min, r.p99_no_upward_trend) {
        (Some(s), Some(flat)) => println!(
            "  p99 wait without an upward trend: {} (least-squares slope {s:+.2} ms/min over {} \
             blocks after warm-up; × {span_min:.1} min = {:+.1} ms against the threshold \
             max(50 % of the median p99 {median:.1} ms, 1 ms)){}",
            if flat { "yes" } else { "no" },
            points.len(),
            s * span_min,
            if points.len() < 3 {
                "; indicative only: fewer than 3 blocks"
            } else {
                ""
            }
        ),
        _ => println!(
            "  p99 wait trend: n/a ({} block(s) after warm-up; run longer)",
            points.len()
        ),
    }

    let third = (r.run_s - warm) / 3.0;
    let max_in = |lo: f64, hi: f64, f: &dyn Fn(&Sample) -> f64| {
        after
            .iter()
            .filter(|s| s.t > lo && s.t <= hi)
            .map(|s| f(s))
            .fold(0.0, f64::max)
    };
    let bytes = |s: &Sample| mb(s.table_bytes);
    let rows = |s: &Sample| s.rows as f64;
    r.table_first_third_max_mb = max_in(warm, warm + third, &bytes);
    r.table_last_third_max_mb = max_in(warm + 2.0 * third, r.run_s, &bytes);
    r.table_bounded = r.table_first_third_max_mb > 0.0
        && r.table_last_third_max_mb <= 1.2 * r.table_first_third_max_mb;
    let (rows_first, rows_last) = (
        max_in(warm, warm + third, &rows),
        max_in(warm + 2.0 * third, r.run_s, &rows),
    );
    r.rows_bounded = rows_first > 0.0 && rows_last <= 1.2 * rows_first;
    println!(
        "  mcp.sync_jobs size bounded (largest in the last third ≤ 1.2 × largest in the first third \
         after warm-up): {} ({:.1} MB vs {:.1} MB); its rows: {} ({} vs {}){}{}",
        if r.table_bounded { "yes" } else { "no" },
        r.table_last_third_max_mb,
        r.table_first_third_max_mb,
        if r.rows_bounded { "yes" } else { "no" },
        thousands(rows_last as i64),
        thousands(rows_first as i64),
        if third < 120.0 {
            "; indicative only: a third is shorter than the 2-minute cycle of the sweeps"
        } else {
            ""
        },
        if r.autovacuum == "on" {
            ""
        } else {
            "; autovacuum is off on this cluster, so dead tuples are never reclaimed and the \
             bytes grow whatever prune deletes"
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_deltas_give_mean_and_p99_bucket() {
        let a = "# TYPE mcp_db_pool_wait_seconds histogram\n\
                 mcp_db_pool_wait_seconds_bucket{le=\"0.001\"} 90\n\
                 mcp_db_pool_wait_seconds_bucket{le=\"0.01\"} 100\n\
                 mcp_db_pool_wait_seconds_bucket{le=\"+Inf\"} 100\n\
                 mcp_db_pool_wait_seconds_sum 0.1\nmcp_db_pool_wait_seconds_count 100\n";
        let b = a
            .replace("} 90", "} 980")
            .replace("} 100", "} 1100")
            .replace("_sum 0.1", "_sum 1.1")
            .replace("_count 100", "_count 1100");
        let (text, w) = pool_wait(
            &parse_hist(a, "mcp_db_pool_wait_seconds"),
            &parse_hist(&b, "mcp_db_pool_wait_seconds"),
        );
        let w = w.expect("a window");
        assert_eq!(w.waits, 1000.0);
        assert!((w.mean_ms.unwrap_or(0.0) - 1.0).abs() < 1e-9, "{text}");
        assert_eq!(w.p99_le_ms, Some(10.0), "{text}");
        let (text, w) = pool_wait(
            &Hist::default(),
            &parse_hist("mcp_other 1\n", "mcp_db_pool_wait_seconds"),
        );
        assert!(w.is_none() && text.starts_with("n/a"));
    }

    #[test]
    fn slope_and_thousands() {
        assert_eq!(slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]), Some(2.0));
        assert_eq!(slope(&[(0.0, 1.0)]), None);
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}

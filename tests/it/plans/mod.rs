//! Plans stay O(rows touched): with production-sized history beside the work (200,000 finished
//! jobs, 200,000 processed webhook events, health checks, errors, synced items, connect states)
//! and fresh statistics, every statement the daemon runs over and over touches a number of
//! rows bounded by a small multiple of its batch (or, for a sweep, of the integrations it
//! visits), never of the history. A change that brings back a scan of a history table fails
//! here, naming the statement and the table.
//!
//! How a statement is measured: on one connection with `plan_cache_mode = force_generic_plan`
//! (the plan a long-lived connection ends up with, whatever its parameters) and no parallel
//! workers, the very text the daemon runs is executed as a prepared statement [`RUNS`] times,
//! each run in a transaction that is rolled back, so every run sees the same data. In the last
//! run PostgreSQL's per-transaction counters are read before and after the statement; rows
//! touched are the deltas summed over the tables: heap rows read by sequential scans, index
//! entries read, heap rows fetched through indexes (`seq_tup_read`, the indexes'
//! `idx_tup_read`, `idx_tup_fetch`) and rows inserted, updated and deleted. These counters see
//! inside plpgsql functions (which EXPLAIN does not) and index-only scans. For plain statements
//! the generic plan is also shown by `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE` of the same text,
//! and the rows its scans of tables and indexes read (actual rows and rows removed by filters,
//! times loops) are bounded the same way.

mod domain;
mod fixture;
mod items;
mod queue;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;
use sqlx::postgres::PgArguments;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::common::TestDb;

/// Runs of each statement; the last is measured (generic plans are in force from the first
/// under `force_generic_plan`, and a plpgsql function's own statements after five calls at
/// the latest).
const RUNS: usize = 6;

/// Integrations in the fixture; sweeps are bounded by a multiple of this.
pub const INTEGRATIONS: i64 = 2_000;
/// Finished jobs in the fixture.
pub const FINISHED_JOBS: i64 = 200_000;

/// Binds values in order into one argument list, reused (cloned) for every run.
macro_rules! args {
    ($($v:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut a = sqlx::postgres::PgArguments::default();
        $( sqlx::Arguments::add(&mut a, $v).expect("bind"); )*
        a
    }};
}
pub(crate) use args;

/// The fixture's integration number `g` (0-based); the seed SQL spells the same ids.
pub fn integration(g: u32) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | u128::from(g))
}

/// The webhook of integration `g` (every platform but ZeroDB has one).
pub fn webhook(g: u32) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_9000_0000_0000_0000 | u128::from(g))
}

/// One table's counters (per transaction).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Counts {
    pub seq_read: i64,
    pub idx_read: i64,
    pub idx_fetch: i64,
    pub inserted: i64,
    pub updated: i64,
    pub deleted: i64,
}

impl Counts {
    pub fn total(&self) -> i64 {
        self.seq_read + self.idx_read + self.idx_fetch + self.inserted + self.updated + self.deleted
    }

    fn minus(&self, o: &Counts) -> Counts {
        Counts {
            seq_read: self.seq_read - o.seq_read,
            idx_read: self.idx_read - o.idx_read,
            idx_fetch: self.idx_fetch - o.idx_fetch,
            inserted: self.inserted - o.inserted,
            updated: self.updated - o.updated,
            deleted: self.deleted - o.deleted,
        }
    }
}

/// What one measured run did.
#[derive(Debug, Default)]
pub struct Measured {
    /// Rows the statement returned or changed (its command tag's count).
    pub rows: u64,
    /// Tables it touched, with their deltas.
    pub tables: BTreeMap<String, Counts>,
}

impl Measured {
    pub fn touched(&self) -> i64 {
        self.tables.values().map(Counts::total).sum()
    }

    /// One table's counts (zero when untouched).
    pub fn of(&self, table: &str) -> Counts {
        self.tables.get(table).copied().unwrap_or_default()
    }

    /// Per table, for failure messages.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for (t, c) in &self.tables {
            let _ = writeln!(
                s,
                "  {t:<28} {:>8} touched: seq read {}, index entries {}, fetched {}, \
                 inserted {}, updated {}, deleted {}",
                c.total(),
                c.seq_read,
                c.idx_read,
                c.idx_fetch,
                c.inserted,
                c.updated,
                c.deleted
            );
        }
        s
    }
}

/// Every user table's counters in this transaction (PostgreSQL's `pg_stat_xact_*` functions;
/// index entries read summed over each table's indexes).
const COUNTERS_SQL: &str = "\
SELECT c.oid::regclass::text,
       pg_stat_get_xact_tuples_returned(c.oid),
       COALESCE(sum(pg_stat_get_xact_tuples_returned(i.indexrelid)), 0)::bigint,
       (COALESCE(sum(pg_stat_get_xact_tuples_fetched(i.indexrelid)), 0)
        + pg_stat_get_xact_tuples_fetched(c.oid))::bigint,
       pg_stat_get_xact_tuples_inserted(c.oid),
       pg_stat_get_xact_tuples_updated(c.oid),
       pg_stat_get_xact_tuples_deleted(c.oid)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indrelid = c.oid
WHERE n.nspname IN ('mcp', 'core', 'ops') AND c.relkind = 'r'
GROUP BY c.oid";

type CounterRow = (String, i64, i64, i64, i64, i64, i64);

async fn counters(conn: &mut PgConnection) -> BTreeMap<String, Counts> {
    let rows: Vec<CounterRow> = sqlx::query_as(COUNTERS_SQL)
        .fetch_all(&mut *conn)
        .await
        .expect("read counters");
    rows.into_iter()
        .map(
            |(t, seq_read, idx_read, idx_fetch, inserted, updated, deleted)| {
                let c = Counts {
                    seq_read,
                    idx_read,
                    idx_fetch,
                    inserted,
                    updated,
                    deleted,
                };
                (t, c)
            },
        )
        .collect()
}

/// The rows a JSON plan read from relations: over its scans of tables and indexes (not the
/// nodes that pass rows on), (actual rows + rows removed by filters) × loops.
pub fn plan_rows(node: &Value) -> f64 {
    let n = |k: &str| node.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let reads = node.get("Node Type").and_then(Value::as_str) != Some("ModifyTable")
        && (node.get("Relation Name").is_some() || node.get("Index Name").is_some());
    let own = if reads {
        (n("Actual Rows")
            + n("Rows Removed by Filter")
            + n("Rows Removed by Join Filter")
            + n("Rows Removed by Index Recheck"))
            * n("Actual Loops").max(1.0)
    } else {
        0.0
    };
    let children: f64 = node
        .get("Plans")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().map(plan_rows).sum())
        .unwrap_or(0.0);
    own + children
}

struct Row {
    name: &'static str,
    rows: u64,
    touched: i64,
    plan: Option<i64>,
    bound: i64,
    tables: String,
}

/// One connection measuring statements, and what it found.
pub struct Harness {
    conn: PgConnection,
    rows: Vec<Row>,
    failures: Vec<String>,
}

impl Harness {
    pub async fn connect(url: &str) -> Harness {
        let mut conn = PgConnection::connect(url).await.expect("connect");
        // No parallel workers: their reads are counted in their own backends, not in ours.
        // The daemon writes items in transactions that write their own change rows
        // (`items::WRITER_BEGIN`): so does the harness's session.
        sqlx::raw_sql(
            "SET plan_cache_mode = force_generic_plan; SET max_parallel_workers_per_gather = 0; \
             SET mcp.item_changes = 'written'",
        )
        .execute(&mut conn)
        .await
        .expect("planner settings");
        Harness {
            conn,
            rows: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Runs `sql` [`RUNS`] times (each rolled back) and measures the last run. Before it, the
    /// tables the earlier runs wrote are vacuumed: the row versions those rolled-back runs left
    /// behind (five per row, more than any row has in service) are not the statement's reads.
    pub async fn measure(&mut self, sql: &'static str, args: &PgArguments) -> Measured {
        let mut written = std::collections::BTreeSet::new();
        for run in 1..=RUNS {
            if run == RUNS && !written.is_empty() {
                let tables: Vec<String> = written.iter().cloned().collect();
                // INDEX_CLEANUP ON: with few dead rows VACUUM would otherwise leave their
                // index entries behind for the measured run to read.
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "VACUUM (INDEX_CLEANUP ON) {}",
                    tables.join(", ")
                )))
                .execute(&mut self.conn)
                .await
                .expect("vacuum");
            }
            let mut tx = self.conn.begin().await.expect("begin");
            let before = counters(&mut tx).await;
            let done = sqlx::query_with(sql, args.clone())
                .execute(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            let after = counters(&mut tx).await;
            tx.rollback().await.expect("rollback");
            let mut measured = Measured {
                rows: done.rows_affected(),
                tables: BTreeMap::new(),
            };
            for (t, a) in after {
                let d = a.minus(&before.get(&t).copied().unwrap_or_default());
                if d.inserted + d.updated + d.deleted > 0 {
                    written.insert(t.clone());
                }
                if d != Counts::default() {
                    measured.tables.insert(t, d);
                }
            }
            if run == RUNS {
                return measured;
            }
        }
        unreachable!("RUNS is at least one")
    }

    /// The generic plan of `sql` with these arguments, run (and rolled back) under EXPLAIN
    /// ANALYZE: the statement is prepared with the parameter types of the arguments and
    /// executed with them spelled as literals by the server.
    pub async fn explain(&mut self, sql: &'static str, args: &PgArguments) -> Value {
        let n = sqlx::Arguments::len(args);
        let mut tx = self.conn.begin().await.expect("begin");
        let (types, literals) = if n == 0 {
            (String::new(), String::new())
        } else {
            let spell = (1..=n)
                .map(|i| format!("pg_typeof(${i})::text, format('%L::%s', ${i}, pg_typeof(${i}))"))
                .collect::<Vec<_>>()
                .join(", ");
            let row: Vec<String> = sqlx::query_scalar_with(
                sqlx::AssertSqlSafe(format!("SELECT ARRAY[{spell}]")),
                args.clone(),
            )
            .persistent(false)
            .fetch_one(&mut *tx)
            .await
            .expect("spell arguments");
            let types: Vec<&str> = row.iter().step_by(2).map(String::as_str).collect();
            let literals: Vec<&str> = row.iter().skip(1).step_by(2).map(String::as_str).collect();
            (
                format!("({})", types.join(", ")),
                format!("({})", literals.join(", ")),
            )
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "PREPARE plans_probe{types} AS {sql}"
        )))
        .execute(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("prepare {sql}: {e}"));
        let plan: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE plans_probe{literals}"
        )))
        .persistent(false)
        .fetch_one(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("explain {sql}: {e}"));
        tx.rollback().await.expect("rollback");
        sqlx::raw_sql("DEALLOCATE plans_probe")
            .execute(&mut self.conn)
            .await
            .expect("deallocate");
        plan
    }

    /// Measures `sql` and records whether it stayed within `bound` rows touched. Plain
    /// statements (`explain`) also have their generic plan's rows bounded and shown on failure.
    pub async fn check(
        &mut self,
        name: &'static str,
        sql: &'static str,
        args: PgArguments,
        bound: i64,
        explain: bool,
    ) -> Measured {
        let m = self.measure(sql, &args).await;
        let plan = if explain {
            Some(self.explain(sql, &args).await)
        } else {
            None
        };
        let plan_total = plan
            .as_ref()
            .and_then(|p| p.get(0))
            .and_then(|p| p.get("Plan"))
            .map(|p| plan_rows(p).round() as i64);
        let touched = m.touched();
        if touched > bound || plan_total.is_some_and(|p| p > bound) {
            let shown = plan
                .as_ref()
                .map(|p| serde_json::to_string_pretty(p).unwrap_or_default())
                .unwrap_or_else(|| "(a function: its statements are counted above)".into());
            self.failures.push(format!(
                "{name}: {touched} rows touched, plan rows {plan_total:?}, bound {bound} \
                 ({} rows returned or changed)\n{}statement: {sql}\nplan: {shown}",
                m.rows,
                m.describe()
            ));
        }
        self.rows.push(Row {
            name,
            rows: m.rows,
            touched,
            plan: plan_total,
            bound,
            tables: m.describe(),
        });
        m
    }

    /// Prints every measurement (with `--nocapture`) and fails with every statement past its
    /// bound.
    pub fn finish(self) {
        println!(
            "{:<40} {:>8} {:>9} {:>9} {:>8}",
            "statement", "rows", "touched", "plan", "bound"
        );
        for r in &self.rows {
            let plan = r.plan.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
            println!(
                "{:<40} {:>8} {:>9} {:>9} {:>8}\n{}",
                r.name, r.rows, r.touched, plan, r.bound, r.tables
            );
        }
        assert!(
            self.failures.is_empty(),
            "statements past their bound:\n\n{}",
            self.failures.join("\n\n")
        );
    }
}

#[tokio::test]
async fn hot_statements_touch_rows_bounded_by_their_batch_not_by_history() {
    let db = fixture::seeded().await;
    let mut h = Harness::connect(&db.url).await;
    queue::check(&mut h, &db).await;
    domain::check(&mut h, &db).await;
    items::check(&mut h, &db).await;
    h.finish();
    db.drop_db().await;
}

/// The harness can fail: a statement that scans the history is measured as doing so.
#[tokio::test]
async fn a_scan_of_the_history_is_measured_as_one() {
    let db = TestDb::new().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(fixture::SEED_HISTORY[0]))
        .execute(&db.pool)
        .await
        .expect("seed finished jobs");
    db.exec("ANALYZE mcp.sync_jobs").await;
    let mut h = Harness::connect(&db.url).await;
    let sql = "SELECT count(*) FROM mcp.sync_jobs WHERE payload ? 'x'";
    let m = h.measure(sql, &args!()).await;
    assert!(
        m.touched() >= FINISHED_JOBS,
        "a scan of {FINISHED_JOBS} finished jobs measured as {} rows touched:\n{}",
        m.touched(),
        m.describe()
    );
    assert!(
        m.of("mcp.sync_jobs_done").seq_read >= FINISHED_JOBS,
        "{}",
        m.describe()
    );
    // The same statement against a bound of its batch is recorded as a failure.
    h.check("deliberate scan", sql, args!(), 1_000, true).await;
    assert_eq!(h.failures.len(), 1, "the scan passed its bound");
    assert!(
        h.failures[0].contains("mcp.sync_jobs_done"),
        "{}",
        h.failures[0]
    );
    assert!(h.failures[0].contains("Seq Scan"), "{}", h.failures[0]);
    // And inside a plpgsql function, where EXPLAIN sees nothing, the counters still do.
    sqlx::raw_sql(
        "CREATE FUNCTION pg_temp.scan_history() RETURNS bigint LANGUAGE plpgsql AS $$ \
         BEGIN RETURN (SELECT count(*) FROM mcp.sync_jobs WHERE payload ? 'x'); END $$",
    )
    .execute(&mut h.conn)
    .await
    .expect("create function");
    let m = h.measure("SELECT pg_temp.scan_history()", &args!()).await;
    assert!(m.touched() >= FINISHED_JOBS, "{}", m.describe());
    db.drop_db().await;
}

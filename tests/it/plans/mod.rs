//! Plans stay O(rows touched): with production-sized history beside the work (200,000 finished
//! jobs, 200,000 processed webhook events, health checks, errors, synced items, connect states)
//! and fresh statistics, every statement the daemon runs over and over touches a number of
//! rows bounded by a small multiple of its batch (or, for a sweep, of the integrations it
//! visits), never of the history. A change that brings back a scan of a history table fails
//! here, naming the statement and the table.
//!
//! How a statement is measured: on one connection with `plan_cache_mode = force_generic_plan`
//! (the plan a long-lived connection ends up with, whatever its parameters), the very text the
//! daemon runs is executed as a prepared statement [`RUNS`] times, each run in a transaction
//! that is rolled back, so every run sees the same data. In the last run PostgreSQL's
//! per-transaction counters are read before and after the statement; rows touched are the
//! deltas summed over the tables: heap rows read by sequential scans, index entries read, heap
//! rows fetched through indexes (`seq_tup_read`, the indexes' `idx_tup_read`, `idx_tup_fetch`)
//! and rows inserted, updated and deleted. These counters see inside plpgsql functions (which
//! EXPLAIN does not) and index-only scans. For plain statements the generic plan is also shown
//! by `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE` of the same text, and its rows (actual rows and
//! rows removed by filters, times loops, over every node) are bounded the same way.

mod domain;
mod queue;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use mcp_worker::integrations;
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
        .map(|(t, seq_read, idx_read, idx_fetch, inserted, updated, deleted)| {
            let c = Counts {
                seq_read,
                idx_read,
                idx_fetch,
                inserted,
                updated,
                deleted,
            };
            (t, c)
        })
        .collect()
}

/// Sums a JSON plan's rows: per node, (actual rows + rows removed by filters) × loops.
pub fn plan_rows(node: &Value) -> f64 {
    let n = |k: &str| node.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let own = (n("Actual Rows")
        + n("Rows Removed by Filter")
        + n("Rows Removed by Join Filter")
        + n("Rows Removed by Index Recheck"))
        * n("Actual Loops").max(1.0);
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
        sqlx::raw_sql("SET plan_cache_mode = force_generic_plan")
            .execute(&mut conn)
            .await
            .expect("plan_cache_mode");
        Harness {
            conn,
            rows: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Runs `sql` [`RUNS`] times (each rolled back) and measures the last run.
    pub async fn measure(&mut self, sql: &'static str, args: &PgArguments) -> Measured {
        let mut measured = Measured::default();
        for run in 1..=RUNS {
            let mut tx = self.conn.begin().await.expect("begin");
            let before = if run == RUNS {
                Some(counters(&mut tx).await)
            } else {
                None
            };
            let done = sqlx::query_with(sql, args.clone())
                .execute(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            if let Some(before) = before {
                let after = counters(&mut tx).await;
                measured.rows = done.rows_affected();
                for (t, a) in after {
                    let d = a.minus(&before.get(&t).copied().unwrap_or_default());
                    if d != Counts::default() {
                        measured.tables.insert(t, d);
                    }
                }
            }
            tx.rollback().await.expect("rollback");
        }
        measured
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
        });
        m
    }

    /// Prints every measurement and fails with every statement past its bound.
    pub fn finish(self) {
        println!(
            "{:<40} {:>8} {:>9} {:>9} {:>8}",
            "statement", "rows", "touched", "plan", "bound"
        );
        for r in &self.rows {
            let plan = r.plan.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
            println!(
                "{:<40} {:>8} {:>9} {:>9} {:>8}",
                r.name, r.rows, r.touched, plan, r.bound
            );
        }
        assert!(
            self.failures.is_empty(),
            "statements past their bound:\n\n{}",
            self.failures.join("\n\n")
        );
    }
}

// The fixture. Integrations, tokens, webhooks and buckets come first (in order: the state
// machine's trigger checks every move); the history tables are then filled side by side.

/// Integrations 0..1999 over every platform and the workspaces there are: g % 20 = 0 PENDING,
/// 1 EXPIRED, 2 ERROR, 3 DEGRADED, 4 REVOKED, the rest ACTIVE; a quarter never synced, a
/// quarter a day ago. Tokens for all but PENDING (a third without a refresh token, expiries
/// spread over 200 hours), a webhook for all but ZeroDB (Gmail and Outlook ones expiring
/// within 96 hours, a tenth failing, a third silent), a token bucket each, the cron rows.
const SEED_INTEGRATIONS: &str = "\
INSERT INTO mcp.vault_keys (key_id) VALUES ('test-key') ON CONFLICT DO NOTHING;
INSERT INTO core.integrations (id, workspace_id, platform, display_name, sync_cursor, last_synced_at)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
       w.ids[1 + g % cardinality(w.ids)],
       (ARRAY['gmail', 'outlook', 'slack', 'discord', 'zoom', 'fireflies', 'otter', 'loom',
              'monday', 'notion', 'granola', 'zerodb', 'zerovoice'])[1 + g % 13],
       'plans-' || g, 'cursor-' || g,
       CASE g % 4 WHEN 0 THEN NULL WHEN 1 THEN now() - interval '1 day'
                  ELSE now() - interval '1 minute' END
FROM generate_series(0, 1999) g, (SELECT array_agg(id ORDER BY id) AS ids FROM core.workspaces) w;
UPDATE core.integrations SET state = 'CONNECTED', state_reason = 'seeded'
WHERE substr(display_name, 7)::int % 20 <> 0;
UPDATE core.integrations SET state = 'ACTIVE', state_reason = 'seeded' WHERE state = 'CONNECTED';
UPDATE core.integrations i SET state = s.state, state_reason = 'seeded'
FROM (VALUES (1, 'EXPIRED'), (2, 'ERROR'), (3, 'DEGRADED'), (4, 'REVOKED')) s(r, state)
WHERE substr(i.display_name, 7)::int % 20 = s.r;
INSERT INTO mcp.oauth_tokens (integration_id, workspace_id, platform, token_type, access_token_ct,
                              refresh_token_ct, key_id, expires_at)
SELECT i.id, i.workspace_id, i.platform, 'bearer', '\\x0102'::bytea,
       CASE WHEN substr(i.display_name, 7)::int % 3 <> 0 THEN '\\x0304'::bytea END, 'test-key',
       now() + (substr(i.display_name, 7)::int % 200) * interval '1 hour'
FROM core.integrations i WHERE i.state <> 'PENDING';
INSERT INTO mcp.webhooks (id, integration_id, workspace_id, platform, status, expires_at,
                          last_event_at, created_at)
SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(g), 12, '0'))::uuid, i.id, i.workspace_id,
       i.platform, CASE WHEN g % 10 = 0 THEN 'failing' ELSE 'active' END,
       CASE WHEN i.platform IN ('gmail', 'outlook') THEN now() + (g % 96) * interval '1 hour' END,
       CASE WHEN g % 3 <> 0 THEN now() - (g % 48) * interval '1 hour' END,
       now() - interval '60 days'
FROM core.integrations i, LATERAL (SELECT substr(i.display_name, 7)::int AS g) n
WHERE i.platform <> 'zerodb';
INSERT INTO mcp.rate_limits (integration_id, bucket, workspace_id, platform, tokens, capacity,
                             refill_per_sec)
SELECT id, 'default', workspace_id, platform, 10, 10, 1 FROM core.integrations;
INSERT INTO mcp.cron_state (name, last_tick_at)
SELECT unnest(ARRAY['prune', 'health_sweep', 'sync_sweep', 'token_refresh_sweep',
                    'webhook_renew_sweep']), now() - interval '1 day';";

/// The history, one statement per table (run side by side). Integration of row g: g % 2000.
const SEED_HISTORY: [&str; 6] = [
    // 200,000 finished jobs, one every 20 s back to ~46 days ago: 80 % completed, 10 %
    // discarded, 10 % cancelled, over five kinds; the integrations' ones with their unique keys.
    "INSERT INTO mcp.sync_jobs (kind, state, integration_id, payload, unique_key, attempt,
                                max_attempts, created_at, run_at, attempted_at, finished_at,
                                last_error)
     SELECT k.kind,
            CASE WHEN g % 10 < 8 THEN 'completed' WHEN g % 10 = 8 THEN 'discarded'
                 ELSE 'cancelled' END,
            CASE WHEN k.kind <> 'noop' THEN k.iid END,
            CASE WHEN k.kind <> 'noop' THEN jsonb_build_object('integration_id', k.iid)
                 ELSE '{}'::jsonb END,
            CASE WHEN k.kind IN ('health_check', 'sync') THEN k.kind || ':' || k.iid END,
            1, 3, k.f - interval '2 seconds', k.f - interval '2 seconds',
            k.f - interval '1 second', k.f, CASE WHEN g % 10 = 8 THEN 'failed for good' END
     FROM generate_series(1, 200000) g,
          LATERAL (SELECT (ARRAY['health_check', 'sync', 'webhook_process', 'token_refresh',
                                 'noop'])[1 + g % 5] AS kind,
                          ('00000000-0000-4000-8000-' || lpad(to_hex(g % 2000), 12, '0'))::uuid AS iid,
                          now() - (200000 - g) * interval '20 seconds' AS f) k",
    // 200,000 webhook events over ~46 days, all processed but the last 300.
    "INSERT INTO mcp.webhook_events (webhook_id, integration_id, workspace_id, platform, dedup_key,
                                     event_type, payload, received_at, processed_at)
     SELECT w.id, w.integration_id, w.workspace_id, w.platform, 'ev-' || g, 'message', '{}'::jsonb,
            now() - (200000 - g) * interval '20 seconds',
            CASE WHEN g <= 199700 THEN now() - (200000 - g) * interval '20 seconds'
                                       + interval '1 second' END
     FROM generate_series(1, 200000) g,
          (SELECT array_agg(id ORDER BY id) AS ids FROM mcp.webhooks) h,
          LATERAL (SELECT * FROM mcp.webhooks x WHERE x.id = h.ids[1 + g % cardinality(h.ids)]) w",
    // 100,000 health checks over ~46 days.
    "INSERT INTO mcp.health_checks (integration_id, workspace_id, platform, checked_at, status,
                                    latency_ms)
     SELECT i.id, i.workspace_id, i.platform, now() - (100000 - g) * interval '40 seconds',
            CASE WHEN g % 17 = 0 THEN 'unhealthy' ELSE 'healthy' END, 40 + g % 100
     FROM generate_series(1, 100000) g
     JOIN core.integrations i
       ON i.id = ('00000000-0000-4000-8000-' || lpad(to_hex(g % 2000), 12, '0'))::uuid",
    // 50,000 integration errors over ~140 days.
    "INSERT INTO mcp.integration_errors (integration_id, workspace_id, platform, error_type,
                                         message, occurred_at)
     SELECT i.id, i.workspace_id, i.platform, 'timeout', 'no answer',
            now() - (50000 - g) * interval '4 minutes'
     FROM generate_series(1, 50000) g
     JOIN core.integrations i
       ON i.id = ('00000000-0000-4000-8000-' || lpad(to_hex(g % 2000), 12, '0'))::uuid",
    // 50,000 synced items (25 per integration: item-<g> of integration g % 2000).
    "INSERT INTO mcp.synced_items (integration_id, external_id, workspace_id, platform, kind,
                                   occurred_at, raw)
     SELECT i.id, 'item-' || g, i.workspace_id, i.platform, 'message',
            now() - g * interval '1 minute', '{}'::jsonb
     FROM generate_series(1, 50000) g
     JOIN core.integrations i
       ON i.id = ('00000000-0000-4000-8000-' || lpad(to_hex(g % 2000), 12, '0'))::uuid",
    // 20,000 connect states, one every 2 minutes, each valid for 10.
    "INSERT INTO mcp.oauth_states (state_hash, integration_id, workspace_id, platform, redirect_uri,
                                   created_at, expires_at)
     SELECT sha256(('state-' || g)::bytea), i.id, i.workspace_id, i.platform,
            'https://app.example/cb', now() - (20000 - g) * interval '2 minutes',
            now() - (20000 - g) * interval '2 minutes' + interval '10 minutes'
     FROM generate_series(1, 20000) g
     JOIN core.integrations i
       ON i.id = ('00000000-0000-4000-8000-' || lpad(to_hex(g % 2000), 12, '0'))::uuid",
];

/// The work in flight: two jobs for each of integrations 0..299 (health_check + sync for even
/// ones, webhook_process + token_refresh for odd ones; the first two hold their unique keys),
/// a backlog of 2,000 noop jobs, 100 scheduled for later, 50 retryable now, and 1,100 running
/// under `plans-worker`: 1,000 with an expired lease, 100 with a lease of an hour.
const SEED_LIVE: &str = "\
INSERT INTO mcp.sync_jobs (kind, integration_id, payload, unique_key, run_at)
SELECT k.kind, k.iid, jsonb_build_object('integration_id', k.iid),
       CASE WHEN k.kind IN ('health_check', 'sync') THEN k.kind || ':' || k.iid END,
       now() - (g % 60) * interval '1 second'
FROM generate_series(0, 599) g,
     LATERAL (SELECT (ARRAY['health_check', 'sync', 'webhook_process', 'token_refresh'])[1 + g % 4]
                         AS kind,
                     ('00000000-0000-4000-8000-' || lpad(to_hex(g / 2), 12, '0'))::uuid AS iid) k;
INSERT INTO mcp.sync_jobs (kind, run_at) SELECT 'noop', now() - g * interval '1 ms'
FROM generate_series(1, 2000) g;
INSERT INTO mcp.sync_jobs (kind, state, run_at, attempt)
SELECT 'noop', CASE WHEN g % 3 = 0 THEN 'retryable' ELSE 'scheduled' END,
       CASE WHEN g % 3 = 0 THEN now() - interval '1 second' ELSE now() + g * interval '1 minute' END,
       CASE WHEN g % 3 = 0 THEN 1 ELSE 0 END
FROM generate_series(1, 150) g;
INSERT INTO mcp.sync_jobs (kind, state, run_at, attempt, max_attempts, attempted_at, locked_by,
                           lease_expires_at)
SELECT 'noop', 'running', now() - interval '1 minute', 1, 3, now() - interval '1 minute',
       'plans-worker',
       CASE WHEN g <= 1000 THEN now() - g * interval '1 ms' ELSE now() + interval '1 hour' END
FROM generate_series(1, 1100) g;";

/// A database with migrations and the fixture, analysed.
pub async fn seeded() -> TestDb {
    let db = TestDb::new().await;
    for n in 1..=8 {
        integrations::create_workspace(&db.pool, &format!("plans-{n}"))
            .await
            .expect("workspace");
    }
    sqlx::raw_sql(SEED_INTEGRATIONS)
        .execute(&db.pool)
        .await
        .expect("seed integrations");
    let history = SEED_HISTORY.iter().map(|sql| {
        let pool = db.pool.clone();
        async move {
            sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
    });
    futures::future::join_all(history).await;
    sqlx::raw_sql(SEED_LIVE)
        .execute(&db.pool)
        .await
        .expect("seed live jobs");
    db.exec("ANALYZE").await;
    db
}

#[tokio::test]
async fn hot_statements_touch_rows_bounded_by_their_batch_not_by_history() {
    let db = seeded().await;
    let mut h = Harness::connect(&db.url).await;
    queue::check(&mut h, &db).await;
    domain::check(&mut h, &db).await;
    h.finish();
    db.drop_db().await;
}

/// The harness can fail: a statement that scans the history is measured as doing so.
#[tokio::test]
async fn a_scan_of_the_history_is_measured_as_one() {
    let db = TestDb::new().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(SEED_HISTORY[0]))
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
    let done = m.tables.get("mcp.sync_jobs_done").copied().unwrap_or_default();
    assert!(done.seq_read >= FINISHED_JOBS, "{}", m.describe());
    // The same statement against a bound of its batch is recorded as a failure.
    h.check("deliberate scan", sql, args!(), 1_000, true).await;
    assert_eq!(h.failures.len(), 1, "the scan passed its bound");
    assert!(h.failures[0].contains("mcp.sync_jobs_done"), "{}", h.failures[0]);
    assert!(h.failures[0].contains("Seq Scan"), "{}", h.failures[0]);
    db.drop_db().await;
}

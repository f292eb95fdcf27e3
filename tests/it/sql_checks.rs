//! A job that cannot run never enters the queue (migration 0025): every INSERT, and
//! `mcp.enqueue_job`, is refused with an error that names the field and what is valid, and the
//! SQL check of a payload answers what the daemon's own check (`mcp_queue::schema`) answers.

use mcp_queue::schema::Schema;
use serde_json::{json, Value};
use sqlx::postgres::PgDatabaseError;

use crate::common::TestDb;

/// The statement's error: (column, message, hint).
async fn refusal(db: &TestDb, sql: &str) -> (String, String, String) {
    let err = sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&db.pool)
        .await
        .expect_err(sql);
    let pg = err
        .as_database_error()
        .and_then(|e| e.try_downcast_ref::<PgDatabaseError>())
        .unwrap_or_else(|| panic!("{sql}: not a database error: {err}"));
    (
        pg.column().unwrap_or_default().to_string(),
        pg.message().to_string(),
        pg.hint().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn each_bad_enqueue_is_refused_naming_its_field() {
    let db = TestDb::new().await;
    let uuid = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "INSERT INTO mcp.sync_jobs (kind) VALUES ('nope')".into(),
            "kind",
            "unknown job kind 'nope'",
        ),
        (
            "SELECT mcp.enqueue_job('nope')".into(),
            "kind",
            "unknown job kind 'nope'",
        ),
        (
            "INSERT INTO mcp.sync_jobs (kind, payload) VALUES ('noop', '[1,2]')".into(),
            "payload",
            "payload: expected object, got array",
        ),
        (
            "INSERT INTO mcp.sync_jobs (kind, payload) VALUES ('noop', '{\"sleep_ms\": \"soon\"}')"
                .into(),
            "payload",
            "payload.sleep_ms: expected integer, got string",
        ),
        (
            "SELECT mcp.enqueue_job('noop', '{\"sleeep_ms\": 1}')".into(),
            "payload",
            "unknown field `sleeep_ms` (expected one of: fail_times, sleep_ms)",
        ),
        (
            "INSERT INTO mcp.sync_jobs (kind, payload) VALUES ('sync', '{}')".into(),
            "payload",
            "missing required field `integration_id`",
        ),
        (
            "SELECT mcp.enqueue_job('sync', '{\"integration_id\": \"abc\"}')".into(),
            "payload",
            "payload.integration_id: \"abc\" is not a UUID",
        ),
        (
            format!(
                "SELECT count(*) FROM mcp.enqueue_many('webhook_process', ARRAY['{uuid}'::uuid], \
                 ARRAY['{{\"event_ids\": [1, \"x\"]}}'::jsonb])"
            ),
            "payload",
            "payload.event_ids[1]: expected integer, got string",
        ),
        (
            "INSERT INTO mcp.sync_jobs (kind, max_attempts) VALUES ('noop', 0)".into(),
            "max_attempts",
            "max_attempts must be at least 1",
        ),
        (
            "SELECT mcp.enqueue_job('noop', max_attempts => 0)".into(),
            "max_attempts",
            "max_attempts must be between 1 and 32767",
        ),
        (
            "SELECT mcp.enqueue_job('noop', priority => 99999)".into(),
            "priority",
            "priority must be between -32768 and 32767",
        ),
        (
            "INSERT INTO mcp.sync_jobs (kind, state) VALUES ('noop', 'running')".into(),
            "state",
            "a running job needs lease_expires_at",
        ),
        // One bad row refuses the whole statement.
        (
            "INSERT INTO mcp.sync_jobs (kind, payload) \
             SELECT 'noop', CASE WHEN g = 500 THEN '{\"sleep_ms\": -1}' ELSE '{}' END::jsonb \
             FROM generate_series(1, 1000) g"
                .into(),
            "payload",
            "payload.sleep_ms: -1 is less than the minimum 0",
        ),
    ];
    for (sql, column, says) in &cases {
        let (col, message, hint) = refusal(&db, sql).await;
        assert_eq!(&col, column, "{sql}: {message}");
        assert!(message.contains(says), "{sql}: {message}");
        if *column == "kind" {
            assert!(
                hint.contains("health_check") && hint.contains("noop"),
                "{hint}"
            );
        }
    }
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.sync_jobs").await,
        0,
        "nothing entered the queue"
    );
    // What is valid still goes in, whichever way it is written.
    db.exec(&format!(
        "INSERT INTO mcp.sync_jobs (kind, payload) VALUES ('noop', '{{\"sleep_ms\": 10}}'), \
         ('sync', '{{\"integration_id\": \"{uuid}\"}}'); \
         SELECT mcp.enqueue_job('noop', priority => -5, max_attempts => 2); \
         INSERT INTO mcp.sync_jobs (kind, state, lease_expires_at, locked_by) \
         VALUES ('noop', 'running', now() + interval '1 minute', 'elsewhere')"
    ))
    .await;
    assert_eq!(db.scalar_i64("SELECT count(*) FROM mcp.sync_jobs").await, 4);
    db.drop_db().await;
}

/// Values to try in a field of this schema: some fit, some do not.
fn samples(s: &Value) -> Vec<Value> {
    let mut out = vec![
        json!("x"),
        json!(1.5),
        json!(-1),
        json!(true),
        Value::Null,
        json!({}),
        json!([1, "x"]),
    ];
    match s["type"].as_str() {
        Some("integer") => {
            for bound in ["minimum", "maximum"] {
                if let Some(b) = s[bound].as_i64() {
                    out.extend([json!(b), json!(b - 1), json!(b + 1)]);
                }
            }
            out.push(json!(7));
        }
        Some("string") => out.extend([
            json!("67e55044-10b1-426f-9247-bb680e5fe0c8"),
            json!("67e5504410b1426f9247bb680e5fe0c8"),
        ]),
        Some("array") => out.extend([json!([]), json!([1, 2, 3])]),
        _ => {}
    }
    out
}

#[tokio::test]
async fn the_sql_check_answers_what_the_daemons_check_answers() {
    let db = TestDb::new().await;
    let mut tried = 0;
    let mut refused = 0;
    for spec in mcp_handlers::builtin_catalog().iter() {
        let schema = Schema::compile(&spec.payload_schema).expect("catalogue schema");
        let props = spec.payload_schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        // A payload with every field valid, then each field given each sample in turn.
        let mut valid = serde_json::Map::new();
        for (name, sub) in &props {
            let fits = samples(sub).into_iter().find(|v| {
                Schema::compile(sub)
                    .expect("field schema")
                    .validate(v)
                    .is_ok()
            });
            valid.insert(name.clone(), fits.expect("a sample fits"));
        }
        let mut payloads = vec![
            json!({}),
            json!([]),
            json!("x"),
            Value::Object(valid.clone()),
        ];
        let mut unknown = valid.clone();
        unknown.insert("zz".into(), json!(1));
        payloads.push(Value::Object(unknown));
        for (name, sub) in &props {
            for v in samples(sub) {
                let mut p = valid.clone();
                p.insert(name.clone(), v);
                payloads.push(Value::Object(p));
            }
        }
        for payload in payloads {
            let daemon = schema.validate(&payload).err();
            let sql: Option<String> = sqlx::query_scalar(
                "SELECT mcp.payload_problem(payload_schema, $2) FROM mcp.job_kinds WHERE kind = $1",
            )
            .bind(&spec.kind)
            .bind(&payload)
            .fetch_one(&db.pool)
            .await
            .expect("payload_problem");
            assert_eq!(sql, daemon, "{}: {payload}", spec.kind);
            tried += 1;
            refused += usize::from(daemon.is_some());
        }
    }
    assert!(
        refused > 50 && tried - refused > 20,
        "{tried} tried, {refused} refused"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_kind_that_jobs_name_stays_in_the_catalogue() {
    let db = TestDb::new().await;
    db.exec("INSERT INTO mcp.sync_jobs (kind) VALUES ('noop')")
        .await;
    let (_, message, _) = refusal(&db, "DELETE FROM mcp.job_kinds WHERE kind = 'noop'").await;
    assert!(message.contains("named by jobs"), "{message}");
    let (_, message, _) = refusal(
        &db,
        "UPDATE mcp.job_kinds SET kind = 'noop2' WHERE kind = 'noop'",
    )
    .await;
    assert!(message.contains("named by jobs"), "{message}");
    db.exec("DELETE FROM mcp.sync_jobs; DELETE FROM mcp.job_kinds WHERE kind = 'noop'")
        .await;
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.job_kinds WHERE kind = 'noop'")
            .await,
        0
    );
    db.drop_db().await;
}

/// A kind's type is its one definition: its schema, derived from the type, accepts what the type
/// writes and refuses a field it does not have, in Rust and in SQL alike; `enqueue` in a
/// transaction commits with it, keys the job, names its integration, and answers a second
/// enqueue of the same key with the live job.
#[tokio::test]
async fn a_kinds_type_is_its_schema_and_its_enqueue() {
    use mcp_daemon::kinds::{HealthCheck, Kind, NotifyDeliver};
    let db = TestDb::new().await;
    let catalog = mcp_handlers::builtin_catalog();
    let integration_id = uuid::Uuid::new_v4();
    let check = HealthCheck { integration_id };
    let spec = catalog.get(HealthCheck::KIND).expect("spec");
    let written = serde_json::to_value(&check).expect("json");
    assert_eq!(spec.schema.validate(&written), Ok(()));
    let mut extra = written.clone();
    extra["nope"] = json!(1);
    assert!(spec.schema.validate(&extra).is_err());
    assert!(serde_json::from_value::<HealthCheck>(extra).is_err());
    assert_eq!(spec.description, HealthCheck::DESCRIPTION);
    assert_eq!(spec.policy, HealthCheck::POLICY);

    let mut tx = db.pool.begin().await.expect("tx");
    let first = check.enqueue(&mut *tx).await.expect("enqueue");
    let again = HealthCheck { integration_id }
        .enqueue(&mut *tx)
        .await
        .expect("again");
    assert_eq!(first, again, "the live job answers");
    tx.rollback().await.expect("rollback");
    let none: i64 = db
        .scalar_i64("SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'health_check'")
        .await;
    assert_eq!(none, 0, "rolled back with its transaction");

    let id = check.enqueue(&db.pool).await.expect("enqueue");
    let row: (Option<uuid::Uuid>, Option<String>, Value) = sqlx::query_as(
        "SELECT integration_id, unique_key, payload FROM mcp.sync_jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("row");
    assert_eq!(
        row,
        (
            Some(integration_id),
            Some(format!("health_check:{integration_id}")),
            json!({"integration_id": integration_id})
        )
    );
    // A kind about no one integration names none.
    let (n, e) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let id = NotifyDeliver {
        notification_id: n,
        endpoint_id: e,
    }
    .enqueue(&db.pool)
    .await
    .expect("notify");
    let row: (Option<uuid::Uuid>, Option<String>) =
        sqlx::query_as("SELECT integration_id, unique_key FROM mcp.sync_jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .expect("row");
    assert_eq!(row, (None, Some(format!("notify_deliver:{n}:{e}"))));
    db.drop_db().await;
}

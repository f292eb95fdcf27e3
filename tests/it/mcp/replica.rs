//! `database.read_url`: the reading tools read a streaming standby, proven by pausing its
//! replay, and read the primary once the standby falls behind past `database.read_max_lag`.
//! The primary and the standby are made here (`pg_basebackup -R`) on loopback ports.

use std::time::Duration;

use serde_json::json;
use sqlx::Connection;

use super::{drive, http_plan, item, ok_step, seed, token_cli};
use crate::common::Daemon;
use mcp_testkit::cluster::Cluster;
use mcp_testkit::TestDb;

/// The items `search_items` finds for `word`, through the official SDK.
async fn found(port: u16, token: &str, word: &str) -> usize {
    let out = drive(http_plan(
        port,
        token,
        "auto",
        json!([{"op": "call", "tool": "search_items", "args": {"query": word}}]),
    ))
    .await;
    ok_step(&out, 0)["hits"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_else(|| panic!("no hits: {out}"))
}

/// A gauge of the daemon on `port`.
async fn gauge(port: u16, name: &str) -> f64 {
    let (_, text) = crate::common::http_get(port, "/metrics")
        .await
        .expect("metrics");
    crate::common::parse_metrics(&text)
        .get(name)
        .copied()
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// Waits up to 15 s for the daemon on `port` to read the replica (1) or the primary (0).
async fn reads_on_replica_becomes(port: u16, want: f64) {
    let start = std::time::Instant::now();
    while gauge(port, "mcp_db_reads_on_replica").await != want {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "mcp_db_reads_on_replica not {want} within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn with_read_url_the_reading_tools_read_the_standby_and_request_sync_the_primary() {
    let primary = Cluster::primary().expect("primary");
    let mut admin = sqlx::PgConnection::connect(&primary.url("postgres"))
        .await
        .expect("primary");
    sqlx::query("CREATE DATABASE mcp")
        .execute(&mut admin)
        .await
        .expect("database");
    let pool = mcp_queue::pg::Db::connect(&primary.url("mcp"))
        .await
        .expect("pool");
    mcp_daemon::db::migrate(&pool, mcp_handlers::builtin_catalog())
        .await
        .expect("migrate");
    // The kit's helpers take a `TestDb`; this one is the cluster's, removed with it.
    let db = TestDb {
        name: "mcp".into(),
        url: primary.url("mcp"),
        pool,
    };
    let seeded = seed(&db, "replica", "zephyr", 100).await;
    let standby = primary.standby().expect("standby");
    let token = token_cli(&db.url, seeded.ws, &["--scope", "read", "--scope", "sync"]).await;
    let read_url = standby.url("mcp");
    // A bound no pause here reaches: this daemon reads the standby throughout.
    let d = Daemon::start(
        &db.url,
        &[
            ("MCP_WORKER__DATABASE__READ_URL", read_url.as_str()),
            ("MCP_WORKER__DATABASE__READ_MAX_LAG", "1h"),
        ],
    )
    .await;
    assert_eq!(
        found(d.port, &token, "zephyr").await,
        5,
        "the seeded items, on the standby"
    );

    // The standby stops replaying: an item the primary holds is not found.
    let mut on_standby = sqlx::PgConnection::connect(&read_url)
        .await
        .expect("standby");
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&mut on_standby)
        .await
        .expect("pause");
    item(
        &db.pool,
        (seeded.slack, seeded.ws, "slack", "message"),
        "1700000001.000100",
        "",
        "the quokka report is late",
        None,
        30,
    )
    .await;
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.synced_items WHERE text LIKE '%quokka%'")
            .await,
        1
    );
    assert_eq!(
        found(d.port, &token, "quokka").await,
        0,
        "read on the paused standby"
    );
    // Writing tools still write the primary.
    let out = drive(http_plan(
        d.port,
        &token,
        "auto",
        json!([{"op": "call", "tool": "request_sync",
                "args": {"integration_id": seeded.slack.to_string()}}]),
    ))
    .await;
    ok_step(&out, 0);

    // A daemon with a bound of one second: once the paused standby is that far behind, its
    // reading tools read the primary, and find the item the other daemon still cannot.
    let bounded = Daemon::start(
        &db.url,
        &[
            ("MCP_WORKER__DATABASE__READ_URL", read_url.as_str()),
            ("MCP_WORKER__DATABASE__READ_MAX_LAG", "1s"),
        ],
    )
    .await;
    reads_on_replica_becomes(bounded.port, 0.0).await;
    assert!(gauge(bounded.port, "mcp_db_replica_lag_seconds").await > 1.0);
    assert!(gauge(bounded.port, "mcp_db_replica_lag_bytes").await > 0.0);
    assert_eq!(
        found(bounded.port, &token, "quokka").await,
        1,
        "read on the primary"
    );
    assert_eq!(gauge(d.port, "mcp_db_reads_on_replica").await, 1.0);
    assert_eq!(
        found(d.port, &token, "quokka").await,
        0,
        "still the standby"
    );

    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&mut on_standby)
        .await
        .expect("resume");
    let start = std::time::Instant::now();
    while found(d.port, &token, "quokka").await != 1 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "replayed within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Caught up: the bounded daemon reads the standby again.
    reads_on_replica_becomes(bounded.port, 1.0).await;
    assert!(gauge(bounded.port, "mcp_db_replica_lag_seconds").await < 0.5);
    for daemon in [d, bounded] {
        daemon.signal(libc::SIGTERM);
        daemon.wait(Duration::from_secs(20)).await;
    }
}

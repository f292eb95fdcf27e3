//! Sync end to end: a real worker (or daemon), a real database, the sandbox as the platforms.

use std::time::{Duration, Instant};

use mcp_daemon::config::{Config, KindOverride};
use mcp_daemon::integrations;
use mcp_daemon::sync::config::RateLimit;
use mcp_platforms::connectors::Platform;
use mcp_sandbox::{self as sandbox, FaultKind, Sandbox};
use uuid::Uuid;

use crate::common::{start_configured_worker, test_config, Daemon, TestDb};

pub(super) use mcp_testkit::integrations::{active as seed, set_settings};

mod listing;
mod rates;
mod recovery;

pub(super) fn config(db: &TestDb, sb: &Sandbox, limit: RateLimit) -> Config {
    let mut c = test_config(&db.url);
    c.platforms = sb.config_overrides();
    c.http_client.timeout = Duration::from_millis(2000);
    for p in Platform::ALL {
        c.sync.rate_limits.insert(p.as_str().into(), limit);
    }
    // Notion's block calls have a bucket of their own (3/s, as documented).
    c.sync
        .method_limits
        .insert("notion:blocks.children".into(), limit);
    c.kinds.insert(
        "sync".into(),
        KindOverride {
            max_attempts: Some(5),
            backoff_base: Some(Duration::from_millis(10)),
            backoff_max: Some(Duration::from_millis(20)),
            timeout: None,
            concurrency: None,
        },
    );
    c
}

pub(super) const FAST: RateLimit = RateLimit {
    capacity: 1000.0,
    per_sec: 1000.0,
};

/// What an integration of `p` (of the login `acme`) has in its settings for these tests: one
/// channel for Discord (the first text channel of acme's guild, whose id follows the
/// guild's; without one it reads every text channel of the guild), nothing elsewhere.
pub(super) fn settings_for(p: Platform) -> serde_json::Value {
    match p {
        Platform::Discord => {
            let guild: u64 = sandbox::account_of(p, "acme").parse().expect("guild id");
            serde_json::json!({"channels": [(guild + 1).to_string()]})
        }
        _ => serde_json::json!({}),
    }
}

pub(super) async fn sync_now(db: &TestDb, id: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT mcp.enqueue_job('sync', jsonb_build_object('integration_id', $1::uuid), \
         unique_key => 'sync:' || $1::text)",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("enqueue sync")
}

pub(super) async fn wait_done(db: &TestDb, jobs: &[i64]) {
    let list = jobs
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let start = Instant::now();
    loop {
        let left = db
            .scalar_i64(&format!(
                "SELECT count(*) FROM mcp.sync_jobs WHERE id IN ({list}) AND state <> 'completed'"
            ))
            .await;
        if left == 0 {
            return;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let rows: Vec<(i64, String, i16, Option<serde_json::Value>)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT id, state, attempt, errors FROM mcp.sync_jobs WHERE id IN ({list})"
                )))
                .fetch_all(&db.pool)
                .await
                .expect("jobs");
            panic!("sync jobs not completed: {rows:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(super) async fn rows(db: &TestDb, id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM mcp.synced_items WHERE integration_id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("count")
}

/// The platforms whose listing starts from a watermark (besides Gmail and Outlook).
pub(super) const INCREMENTAL: [Platform; 10] = [
    Platform::Slack,
    Platform::Discord,
    Platform::Zoom,
    Platform::Notion,
    Platform::Fireflies,
    Platform::ZeroVoice,
    Platform::Otter,
    Platform::Loom,
    Platform::Granola,
    Platform::ZeroDb,
];

pub(super) async fn cursor_of(db: &TestDb, id: Uuid) -> Option<String> {
    sqlx::query_scalar("SELECT sync_cursor FROM core.integrations WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("cursor")
}

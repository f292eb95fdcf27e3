//! The sync's content step, driven through a connector of the tests' own (`fake`): Otter's real
//! listing against the sandbox, with a content call that paces itself as a real one must. These
//! run today, whatever the real connectors fetch; `kill.rs` has the same story with the real
//! connectors and a killed daemon.

use std::time::{Duration, Instant};

use mcp_daemon::config::{Config, KindOverride};
use mcp_daemon::items::config::PlatformItems;
use mcp_daemon::sync::config::RateLimit;
use mcp_platforms::connectors::Platform;
use mcp_queue::worker::RunningWorker;
use mcp_sandbox::{self as sandbox, Sandbox};
use uuid::Uuid;

use super::fake::Fake;
use super::*;
use crate::sync::{config, seed, sync_now, wait_done, FAST};

struct Env {
    db: TestDb,
    _sb: Sandbox,
    ws: Uuid,
    id: Uuid,
    fake: Fake,
    worker: RunningWorker,
}

impl Env {
    /// `n` Otter items in the sandbox, an ACTIVE Otter integration, a worker whose Otter
    /// connector is the fake (answering `text`), with `tweak` applied to its config and the fake.
    async fn new(n: u64, text: &str, tweak: impl FnOnce(&mut Config, &mut Fake)) -> Env {
        let db = TestDb::new().await;
        let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
        sb.set_items_per_account(n);
        let mut cfg = config(&db, &sb, FAST);
        let connectors = cfg.connectors().expect("connectors");
        let mut fake = Fake::new(&connectors, text);
        tweak(&mut cfg, &mut fake);
        let ws = workspace(&db, "acme").await;
        let id = seed(&db, &sb, ws, Platform::Otter, "acme").await;
        let worker =
            mcp_testkit::worker::start_configured_worker_with(&db, cfg, fake.install(connectors))
                .await;
        Env {
            db,
            _sb: sb,
            ws,
            id,
            fake,
            worker,
        }
    }

    /// Syncs and waits for the job; returns its attempts.
    async fn sync(&self) -> i16 {
        let job = sync_now(&self.db, self.id).await;
        wait_done(&self.db, &[job]).await;
        sqlx::query_scalar("SELECT attempt FROM mcp.sync_jobs WHERE id = $1")
            .bind(job)
            .fetch_one(&self.db.pool)
            .await
            .expect("attempt")
    }

    /// Items by content state.
    async fn states(&self) -> Vec<(String, i64)> {
        sqlx::query_as(
            "SELECT content_state, count(*) FROM mcp.synced_items WHERE integration_id = $1 \
             AND deleted_at IS NULL GROUP BY 1 ORDER BY 1",
        )
        .bind(self.id)
        .fetch_all(&self.db.pool)
        .await
        .expect("states")
    }

    async fn forget_cursor(&self) {
        self.db
            .exec("UPDATE core.integrations SET sync_cursor = NULL")
            .await;
    }

    async fn finish(self) {
        self.worker.shutdown().await;
        self.db.drop_db().await;
    }
}

fn fetched(n: i64) -> Vec<(String, i64)> {
    vec![("fetched".to_string(), n)]
}

#[tokio::test]
async fn fetched_content_is_the_items_text_and_an_unchanged_listing_fetches_nothing_again() {
    let env = Env::new(
        30,
        "The whole transcript of {id}, zebra crossing.",
        |_, _| {},
    )
    .await;
    assert_eq!(env.sync().await, 1);
    assert_eq!(env.states().await, fetched(30));
    assert_eq!(env.fake.calls(), 30, "one content call per item");
    let (kind, text, content, version): (String, Option<String>, Option<serde_json::Value>, i16) =
        sqlx::query_as(
            "SELECT kind, text, content, model_version FROM mcp.synced_items \
             WHERE integration_id = $1 AND external_id = 'otter-7'",
        )
        .bind(env.id)
        .fetch_one(&env.db.pool)
        .await
        .expect("item");
    assert_eq!(kind, "transcript");
    assert_eq!(
        text.as_deref(),
        Some("The whole transcript of otter-7, zebra crossing.")
    );
    assert_eq!(
        content.and_then(|c| c.get("id").cloned()),
        Some("otter-7".into())
    );
    assert_eq!(version, mcp_platforms::items::MODEL_VERSION);
    // Search finds the fetched words.
    let found: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mcp.search_items($1, 'zebra', '{}', NULL, 100)")
            .bind(env.ws)
            .fetch_one(&env.db.pool)
            .await
            .expect("search");
    assert_eq!(found, 30);
    // The whole listing again, every record as it was: nothing fetched again, nothing lost.
    env.forget_cursor().await;
    env.sync().await;
    assert_eq!(env.fake.calls(), 30);
    assert_eq!(env.states().await, fetched(30));
    // One record the listing shows differently from what is stored: that one is fetched again.
    env.db
        .exec("UPDATE mcp.synced_items SET raw = raw || '{\"stale\": true}' WHERE external_id = 'otter-4'")
        .await;
    env.forget_cursor().await;
    env.sync().await;
    assert_eq!(env.fake.calls(), 31);
    assert_eq!(env.fake.asked_twice(), vec!["otter-4".to_string()]);
    assert_eq!(env.states().await, fetched(30));
    env.finish().await;
}

/// The attempt stops for good in the middle of its content calls (it hangs until the job's
/// timeout abandons it, as a killed daemon's would): the next attempt fetches only what the
/// first had not stored, and the item in flight once more.
#[tokio::test]
async fn an_abandoned_sync_resumes_its_content_calls_without_fetching_again() {
    let env = Env::new(30, "text of {id}", |cfg, fake| {
        cfg.kinds.insert(
            "sync".into(),
            KindOverride {
                max_attempts: Some(5),
                backoff_base: Some(Duration::from_millis(10)),
                backoff_max: Some(Duration::from_millis(20)),
                timeout: Some(Duration::from_secs(2)),
                concurrency: None,
            },
        );
        fake.script.lock().expect("script").hang_at = Some(15);
    })
    .await;
    assert_eq!(env.sync().await, 2, "the first attempt was abandoned");
    assert_eq!(env.states().await, fetched(30));
    assert_eq!(
        env.fake.calls(),
        31,
        "each item once, the one in flight twice"
    );
    assert_eq!(env.fake.asked_twice().len(), 1);
    env.finish().await;
}

#[tokio::test]
async fn a_429_on_a_content_call_blocks_the_bucket_and_snoozes_without_spending_an_attempt() {
    let env = Env::new(20, "text of {id}", |_, fake| {
        fake.script.lock().expect("script").rate_limited_at = Some((5, 1));
    })
    .await;
    let started = Instant::now();
    assert_eq!(env.sync().await, 1, "a snooze gives its attempt back");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited the 429 out"
    );
    assert_eq!(env.states().await, fetched(20));
    assert_eq!(env.fake.calls(), 21);
    let recorded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mcp.integration_errors WHERE integration_id = $1 \
         AND error_type = 'rate_limited'",
    )
    .bind(env.id)
    .fetch_one(&env.db.pool)
    .await
    .expect("errors");
    assert_eq!(recorded, 1);
    env.finish().await;
}

/// Every HTTP call of a content fetch (two per item here) takes a token from the integration's
/// shared bucket; a wait longer than a job sleeps snoozes the job (no attempt spent) and the
/// next run goes on.
#[tokio::test]
async fn content_calls_take_tokens_from_the_shared_bucket_and_long_waits_snooze() {
    let env = Env::new(12, "text of {id}", |cfg, fake| {
        cfg.sync.rate_limits.insert(
            "otter".into(),
            RateLimit {
                capacity: 3.0,
                per_sec: 20.0,
            },
        );
        cfg.sync.max_inline_wait = Duration::from_millis(10);
        fake.calls_per_item = 2;
    })
    .await;
    let started = Instant::now();
    assert_eq!(env.sync().await, 1);
    // 1 list call and 24 content calls through a bucket of 3 refilled at 20 a second.
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    // A fetch of several calls that a snooze interrupts starts over on the next run.
    assert!(env.fake.calls() >= 24, "{}", env.fake.calls());
    assert_eq!(env.states().await, fetched(12));
    env.finish().await;
}

#[tokio::test]
async fn an_item_whose_content_is_gone_becomes_a_tombstone_with_its_change() {
    let env = Env::new(10, "text of {id}", |_, fake| {
        fake.script
            .lock()
            .expect("script")
            .gone
            .insert("otter-3".into());
    })
    .await;
    env.sync().await;
    assert_eq!(env.states().await, fetched(9));
    assert_eq!(
        tombstone_of(&env.db.pool, env.id, "otter-3").await,
        (true, Some("otter: content_gone".into()))
    );
    let ops = ops_of(&env.db, env.ws, 10 + 9 + 1).await;
    assert!(
        ops.contains(&("DELETED".into(), "otter-3".into())),
        "{ops:?}"
    );
    env.finish().await;
}

#[tokio::test]
async fn an_item_whose_content_call_fails_for_good_keeps_its_listings_model() {
    let env = Env::new(10, "text of {id}", |_, fake| {
        fake.script
            .lock()
            .expect("script")
            .broken
            .insert("otter-4".into());
    })
    .await;
    assert_eq!(
        env.sync().await,
        1,
        "one item's failure does not fail the sync"
    );
    assert_eq!(
        env.states().await,
        vec![("fetched".to_string(), 9), ("listed".to_string(), 1)]
    );
    let (title, text): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT title, text FROM mcp.synced_items WHERE external_id = 'otter-4'")
            .fetch_one(&env.db.pool)
            .await
            .expect("item");
    assert_eq!((title.as_deref(), text), (Some("item 4"), None));
    // Not asked again while its listing stays the same.
    env.forget_cursor().await;
    env.sync().await;
    assert_eq!(env.fake.calls(), 10);
    env.finish().await;
}

#[tokio::test]
async fn text_above_max_text_bytes_is_cut_at_a_character_boundary_and_flagged() {
    let long = "é".repeat(300);
    let env = Env::new(3, &format!("{{id}} {long}"), |cfg, _| {
        cfg.items.max_text_bytes = 101;
    })
    .await;
    env.sync().await;
    let rows: Vec<(Option<String>, bool)> =
        sqlx::query_as("SELECT text, text_truncated FROM mcp.synced_items ORDER BY external_id")
            .fetch_all(&env.db.pool)
            .await
            .expect("items");
    assert_eq!(rows.len(), 3);
    for (text, cut) in rows {
        let text = text.expect("text");
        assert!(cut);
        assert!(text.len() <= 101, "{}", text.len());
        assert!(
            text.ends_with('é'),
            "cut between characters, never inside one"
        );
    }
    env.finish().await;
}

#[tokio::test]
async fn a_platform_that_keeps_no_text_stores_neither_text_nor_content_and_makes_no_call() {
    let env = Env::new(5, "secret words of {id}", |cfg, _| {
        cfg.items.platforms.insert(
            "otter".into(),
            PlatformItems {
                text: false,
                content: true,
            },
        );
    })
    .await;
    env.sync().await;
    assert_eq!(env.fake.calls(), 0);
    let rows: Vec<(String, Option<String>, bool, bool)> = sqlx::query_as(
        "SELECT content_state, title, text IS NULL, content IS NULL FROM mcp.synced_items",
    )
    .fetch_all(&env.db.pool)
    .await
    .expect("items");
    assert_eq!(rows.len(), 5);
    for (state, title, no_text, no_content) in rows {
        assert_eq!(state, "withheld");
        assert!(title.is_some_and(|t| t.starts_with("item ")));
        assert!(no_text && no_content);
    }
    env.finish().await;
}

#[tokio::test]
async fn a_platform_without_content_calls_keeps_its_listings_model_and_makes_no_call() {
    let env = Env::new(5, "secret words of {id}", |cfg, _| {
        cfg.items.platforms.insert(
            "otter".into(),
            PlatformItems {
                text: true,
                content: false,
            },
        );
    })
    .await;
    env.sync().await;
    assert_eq!(env.fake.calls(), 0, "no content call");
    let rows: Vec<(String, Option<String>, bool)> =
        sqlx::query_as("SELECT content_state, title, content IS NULL FROM mcp.synced_items")
            .fetch_all(&env.db.pool)
            .await
            .expect("items");
    assert_eq!(rows.len(), 5);
    for (state, title, no_content) in rows {
        assert_eq!(state, "listed", "the listing's model");
        assert!(title.is_some_and(|t| t.starts_with("item ")));
        assert!(no_content);
    }
    env.finish().await;
}

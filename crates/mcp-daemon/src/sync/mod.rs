//! Sync: reading each integration's records page by page into `mcp.synced_items`, with the
//! cursor checkpointed in the same transaction as the page, the shared token buckets every
//! daemon takes from before a platform call, and the sweep that decides who is due (the
//! polling fallback for silent webhooks included). It never logs a credential or an item's
//! content, and never writes a page without its checkpoint (or a checkpoint without its page).

pub mod config;
pub mod store;

use mcp_queue::pg::{self, Db};
use std::time::Duration;

use metrics::{counter, gauge};

use config::RateLimit;
use mcp_platforms::connectors::Platform;

pub const SYNC_ITEMS: &str = "mcp_sync_items_total";
pub const SYNC_PAGES: &str = "mcp_sync_pages_total";
pub const SYNC_RUNS: &str = "mcp_sync_runs_total";
pub const RATE_LIMIT_WAITS: &str = "mcp_rate_limit_waits_total";
pub const POLLING_FALLBACK: &str = "mcp_sync_polling_fallback";

/// Outcomes of a sync run (the `outcome` label).
pub const RUN_OUTCOMES: &[&str] = &[
    "completed",
    "resync",
    "rate_limited",
    "retry",
    "auth_failed",
    "failed",
    "skipped_not_in_service",
    "skipped_breaker_open",
    "skipped_not_configured",
    "credentials_error",
];

/// The bucket a sync takes its tokens from (shared with anything else calling the platform).
pub const BUCKET: &str = "default";

/// Describes the sync series and registers them at zero for every platform.
pub fn register_metrics() {
    metrics::describe_counter!(SYNC_ITEMS, "Items written by syncs, by platform.");
    metrics::describe_counter!(SYNC_PAGES, "Pages read by syncs, by platform.");
    metrics::describe_counter!(SYNC_RUNS, "Sync runs by platform and outcome.");
    metrics::describe_counter!(
        RATE_LIMIT_WAITS,
        "Times a sync waited for its platform's token bucket, by platform."
    );
    metrics::describe_gauge!(
        POLLING_FALLBACK,
        "Integrations synced on the fallback interval (webhook missing, failing or silent)."
    );
    for p in Platform::ALL {
        let p = p.as_str();
        counter!(SYNC_ITEMS, "platform" => p).increment(0);
        counter!(SYNC_PAGES, "platform" => p).increment(0);
        counter!(RATE_LIMIT_WAITS, "platform" => p).increment(0);
        gauge!(POLLING_FALLBACK, "platform" => p).set(0.0);
        for o in RUN_OUTCOMES {
            counter!(SYNC_RUNS, "platform" => p, "outcome" => *o).increment(0);
        }
    }
}

/// `try_take_token`'s statement (exposed for the plan tests).
pub const TAKE_TOKEN_SQL: &str =
    "SELECT EXTRACT(EPOCH FROM mcp.take_rate_limit_token($1, $2, $3, $4))::float8";

/// One try at the integration's bucket: `Duration::ZERO` when a token was taken, else how
/// long to wait before trying again.
pub async fn try_take_token(
    pool: &Db,
    integration_id: uuid::Uuid,
    limit: RateLimit,
) -> Result<Duration, sqlx::Error> {
    try_take_token_in(pool, integration_id, BUCKET, limit).await
}

/// `try_take_token` from the integration's bucket named `bucket` (a method's own limit).
pub async fn try_take_token_in(
    pool: &Db,
    integration_id: uuid::Uuid,
    bucket: &str,
    limit: RateLimit,
) -> Result<Duration, sqlx::Error> {
    let secs: f64 = pg::query_scalar(TAKE_TOKEN_SQL)
        .bind(integration_id)
        .bind(bucket)
        .bind(limit.capacity)
        .bind(limit.per_sec)
        .fetch_one(pool)
        .await?;
    Ok(Duration::from_secs_f64(secs.max(0.0)))
}

/// What waiting for a token came to.
#[derive(Debug, PartialEq)]
pub enum Token {
    Taken,
    /// The wait is longer than we sleep in a job: snooze it this long.
    WaitLonger(Duration),
}

/// Takes a token, sleeping for short waits (each counted in `mcp_rate_limit_waits_total`).
pub async fn take_token(
    pool: &Db,
    platform: Platform,
    integration_id: uuid::Uuid,
    limit: RateLimit,
    max_inline_wait: Duration,
) -> Result<Token, sqlx::Error> {
    take_token_in(
        pool,
        platform,
        integration_id,
        BUCKET,
        limit,
        max_inline_wait,
    )
    .await
}

/// `take_token` from the integration's bucket named `bucket`.
pub async fn take_token_in(
    pool: &Db,
    platform: Platform,
    integration_id: uuid::Uuid,
    bucket: &str,
    limit: RateLimit,
    max_inline_wait: Duration,
) -> Result<Token, sqlx::Error> {
    loop {
        let wait = try_take_token_in(pool, integration_id, bucket, limit).await?;
        if wait.is_zero() {
            return Ok(Token::Taken);
        }
        counter!(RATE_LIMIT_WAITS, "platform" => platform.as_str()).increment(1);
        if wait > max_inline_wait {
            return Ok(Token::WaitLonger(wait));
        }
        tokio::time::sleep(wait).await;
    }
}

/// Takes a token from the integration's bucket named by `method` (a method's own limit, where
/// the platform has one) and then from its shared bucket, sleeping for short waits: `Some(wait)`
/// when a wait is longer than `max_inline_wait` (the job should snooze). The method's bucket is
/// asked first, so a snoozed call spends no token of the other.
pub async fn take_tokens(
    pool: &Db,
    platform: Platform,
    integration_id: uuid::Uuid,
    method: Option<mcp_platforms::connectors::MethodLimit>,
    limit: RateLimit,
    max_inline_wait: Duration,
) -> Result<Option<Duration>, sqlx::Error> {
    if let Some(m) = method {
        let own = RateLimit {
            capacity: m.capacity,
            per_sec: m.per_sec,
        };
        let taken = take_token_in(
            pool,
            platform,
            integration_id,
            m.bucket,
            own,
            max_inline_wait,
        )
        .await?;
        if let Token::WaitLonger(wait) = taken {
            return Ok(Some(wait));
        }
    }
    match take_token(pool, platform, integration_id, limit, max_inline_wait).await? {
        Token::Taken => Ok(None),
        Token::WaitLonger(wait) => Ok(Some(wait)),
    }
}

/// A 429: the integration's bucket gives no token to any daemon for `wait`.
pub async fn block(
    pool: &Db,
    integration_id: uuid::Uuid,
    wait: Duration,
) -> Result<(), sqlx::Error> {
    pg::query(
        "SELECT mcp.block_rate_limit($1, $2, clock_timestamp() + $3 * interval '1 millisecond')",
    )
    .bind(integration_id)
    .bind(BUCKET)
    .bind(wait.as_millis().min(i64::MAX as u128) as i64)
    .execute(pool)
    .await?;
    Ok(())
}

//! What integrations leave behind: pruning of their history tables by age, the vacuum after it,
//! and the gauges sampled from them.

use mcp_queue::pg::{self, Db};
use std::time::Duration;

use super::{IntegrationError, IntegrationState};
use mcp_platforms::connectors::Platform;

/// The oldest `$2` rows of a table whose `$cond` holds (`$1`: an age in seconds), locked and
/// deleted by id in one statement, skipping rows another pruner holds.
macro_rules! prune_oldest {
    ($table:literal, $order:literal, $cond:literal) => {
        concat!(
            "DELETE FROM ",
            $table,
            " WHERE id = ANY (ARRAY(SELECT id FROM ",
            $table,
            " WHERE ",
            $cond,
            " ORDER BY ",
            $order,
            " LIMIT $2 FOR UPDATE SKIP LOCKED))"
        )
    };
}

/// Health checks older than the age.
pub const PRUNE_HEALTH_CHECKS_SQL: &str = prune_oldest!(
    "mcp.health_checks",
    "checked_at",
    "checked_at < now() - $1 * interval '1 second'"
);

/// Integration errors older than the age.
pub const PRUNE_INTEGRATION_ERRORS_SQL: &str = prune_oldest!(
    "mcp.integration_errors",
    "occurred_at",
    "occurred_at < now() - $1 * interval '1 second'"
);

/// Processed webhook events received before the age.
pub const PRUNE_WEBHOOK_EVENTS_SQL: &str = prune_oldest!(
    "mcp.webhook_events",
    "received_at",
    "processed_at IS NOT NULL AND received_at < now() - $1 * interval '1 second'"
);

/// Notifications (the outbox's rows) created before the age: their deliveries end within about
/// a day and a half of the change.
pub const PRUNE_NOTIFICATIONS_SQL: &str = prune_oldest!(
    "mcp.notifications",
    "created_at",
    "created_at < now() - $1 * interval '1 second'"
);

/// Seen dedup keys (migration 0015) first seen before the age: kept far longer than the events.
pub const PRUNE_WEBHOOK_DEDUP_SQL: &str = "\
DELETE FROM mcp.webhook_dedup WHERE (webhook_id, key_sha256) IN (\
SELECT webhook_id, key_sha256 FROM mcp.webhook_dedup \
WHERE first_seen < now() - $1 * interval '1 second' \
ORDER BY first_seen LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// Connect states expired for more than a day (`$1` is the batch).
pub const PRUNE_OAUTH_STATES_SQL: &str = "\
DELETE FROM mcp.oauth_states WHERE state_hash = ANY (ARRAY(\
SELECT state_hash FROM mcp.oauth_states WHERE expires_at < now() - interval '1 day' \
ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED))";

/// Retention of the tables that grow daily: health checks, errors, processed webhook events
/// older than their ages are deleted `batch` rows per statement (each its own transaction, so
/// no lock is held long). Returns rows deleted per table.
/// Vacuums the history tables that `prune_history` deleted rows from (names from its report,
/// which come from this module's own list), so their space is reused even where autovacuum is
/// off or slow to come.
pub async fn vacuum_history(
    pool: &Db,
    pruned: &[(&'static str, u64)],
) -> Result<(), IntegrationError> {
    for (table, deleted) in pruned {
        if *deleted > 0 && table.starts_with("mcp.") {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("VACUUM (SKIP_LOCKED) {table}")))
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

/// How long each history table keeps its rows (`[retention]`).
#[derive(Debug, Clone, Copy)]
pub struct HistoryAges {
    pub health_checks: Duration,
    pub integration_errors: Duration,
    pub webhook_events: Duration,
    pub webhook_dedup: Duration,
    pub notifications: Duration,
}

pub async fn prune_history(
    pool: &Db,
    ages: &HistoryAges,
    batch: u32,
) -> Result<Vec<(&'static str, u64)>, IntegrationError> {
    let tables: [(&'static str, &'static str, Duration); 5] = [
        (
            "mcp.health_checks",
            PRUNE_HEALTH_CHECKS_SQL,
            ages.health_checks,
        ),
        (
            "mcp.integration_errors",
            PRUNE_INTEGRATION_ERRORS_SQL,
            ages.integration_errors,
        ),
        (
            "mcp.webhook_events",
            PRUNE_WEBHOOK_EVENTS_SQL,
            ages.webhook_events,
        ),
        (
            "mcp.webhook_dedup",
            PRUNE_WEBHOOK_DEDUP_SQL,
            ages.webhook_dedup,
        ),
        (
            "mcp.notifications",
            PRUNE_NOTIFICATIONS_SQL,
            ages.notifications,
        ),
    ];
    let mut out = Vec::new();
    // Connect states are useless once expired; a day's grace keeps them for debugging.
    let states = pg::query(PRUNE_OAUTH_STATES_SQL)
        .bind(batch as i64)
        .execute(pool)
        .await?
        .rows_affected();
    for (table, sql, age) in tables {
        let mut total = 0u64;
        loop {
            let n = pg::query(sql)
                .bind(age.as_secs_f64())
                .bind(batch as i64)
                .execute(pool)
                .await?
                .rows_affected();
            total += n;
            if n < batch as u64 {
                break;
            }
        }
        out.push((table, total));
    }
    out.push(("mcp.oauth_states", states));
    Ok(out)
}

/// The integration gauges' statement (exposed for the plan tests).
pub const GAUGES_SQL: &str =
    "SELECT platform, state, circuit_breaker_state, count(*) FROM core.integrations \
     GROUP BY 1, 2, 3";

/// Samples the integration gauges (by platform and state; breakers by platform and state).
pub async fn sample_gauges(pool: &Db) -> Result<(), IntegrationError> {
    use crate::metrics as m;
    let rows: Vec<(String, String, String, i64)> = pg::query_as(GAUGES_SQL).fetch_all(pool).await?;
    for p in Platform::ALL {
        let p = p.as_str();
        for st in IntegrationState::ALL.map(IntegrationState::as_str) {
            let n: i64 = rows
                .iter()
                .filter(|r| r.0 == p && r.1 == st)
                .map(|r| r.3)
                .sum();
            metrics::gauge!(m::INTEGRATIONS, "platform" => p, "state" => st).set(n as f64);
        }
        for b in m::BREAKER_STATES {
            let n: i64 = rows
                .iter()
                .filter(|r| r.0 == p && r.2 == *b && r.1 != IntegrationState::Deleted.as_str())
                .map(|r| r.3)
                .sum();
            metrics::gauge!(m::CIRCUIT_BREAKERS, "platform" => p, "state" => *b).set(n as f64);
        }
    }
    let disabled: i64 =
        pg::query_scalar("SELECT count(*) FROM mcp.notification_endpoints WHERE NOT enabled")
            .fetch_one(pool)
            .await?;
    metrics::gauge!(m::NOTIFICATION_ENDPOINTS_DISABLED).set(disabled as f64);
    Ok(())
}

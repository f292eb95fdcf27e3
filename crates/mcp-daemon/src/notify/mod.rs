//! Notifications: critical changes told to the product's endpoints. The outbox is `ops.events`
//! (migration 0010: a trigger writes `mcp.notifications` and one `notify_deliver` job per
//! endpoint in the transaction that records the change). This module manages the endpoints and
//! their sealed secrets (`endpoints`), and delivers one notification to one endpoint, signed as
//! the Standard Webhooks specification says (`deliver`). It never logs a secret or a body.

mod address;
pub mod deliver;
pub mod endpoints;

use mcp_queue::pg;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use deliver::{Deliverer, Delivery};
pub use endpoints::{Endpoint, NotifyError};

/// The daemon's one `Deliverer` (made at the first delivery), and whether any endpoint wants
/// the opt-in `sync.completed` (read at most every `INTEREST_TTL`).
#[derive(Default)]
pub struct Notifier {
    deliverer: std::sync::OnceLock<Deliverer>,
    sync_completed: std::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

/// How long the answer to "does any endpoint want `sync.completed`" is reused.
const INTEREST_TTL: Duration = Duration::from_secs(5);

impl Notifier {
    pub fn get(&self, cfg: &NotifyConfig) -> Result<&Deliverer, reqwest::Error> {
        if let Some(d) = self.deliverer.get() {
            return Ok(d);
        }
        let d = Deliverer::new(cfg)?;
        Ok(self.deliverer.get_or_init(|| d))
    }

    /// Records a completed sync in `ops.events` (so it notifies) when an enabled endpoint asked
    /// for `sync.completed`. Best effort: a failure is logged, the sync stays done.
    pub async fn sync_completed(
        &self,
        pool: &mcp_queue::pg::Db,
        integration: &crate::integrations::Integration,
        pages: u64,
        items: u64,
        resynced: bool,
    ) {
        let now = std::time::Instant::now();
        let cached = self
            .sync_completed
            .lock()
            .ok()
            .and_then(|c| *c)
            .filter(|(at, _)| now.duration_since(*at) < INTEREST_TTL)
            .map(|(_, wanted)| wanted);
        let wanted = match cached {
            Some(w) => w,
            None => {
                let w: Result<bool, sqlx::Error> = pg::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM mcp.notification_endpoints \
                     WHERE enabled AND 'sync.completed' = ANY (event_types))",
                )
                .fetch_one(pool)
                .await;
                let w = w.unwrap_or(false);
                if let Ok(mut c) = self.sync_completed.lock() {
                    *c = Some((now, w));
                }
                w
            }
        };
        if !wanted {
            return;
        }
        let r = pg::query(
            "INSERT INTO ops.events (workspace_id, integration_id, event_type, payload) \
             VALUES ($1, $2, 'sync.completed', jsonb_build_object('platform', $3::text, \
                     'pages', $4::bigint, 'items', $5::bigint, 'resynced', $6::boolean))",
        )
        .bind(integration.workspace_id)
        .bind(integration.id)
        .bind(integration.platform.as_str())
        .bind(pages as i64)
        .bind(items as i64)
        .bind(resynced)
        .execute(pool)
        .await;
        if let Err(e) = r {
            tracing::warn!(integration_id = %integration.id, error = %e, "cannot record sync.completed");
        }
    }
}

/// `[notify]`.
#[derive(Clone, Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Deliver to loopback, private and link-local addresses too (tests, on-premises
    /// receivers). Off: such destinations are refused, whatever a name resolves to.
    pub allow_private: bool,
    /// One delivery's limit, connect to last byte.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// After `rotate-secret`, the old secret keeps signing beside the new one this long.
    #[serde(with = "humantime_serde")]
    pub secret_overlap: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            allow_private: false,
            timeout: Duration::from_secs(15),
            secret_overlap: Duration::from_secs(24 * 3600),
        }
    }
}

/// The critical types an endpoint gets when it names none, and the opt-in one.
pub const CRITICAL_TYPES: &[&str] = &[
    "integration.state_changed",
    "integration.reconnect_required",
    "integration.breaker_opened",
    "integration.breaker_closed",
    TOKEN_REFRESH_FAILED,
    SUBSCRIPTION_LOST,
    SYNC_FAILING,
];
/// A `token_refresh` job failed for good.
pub const TOKEN_REFRESH_FAILED: &str = "token.refresh_failed";
/// A `webhook_renew` or `webhook_subscribe` job failed for good.
pub const SUBSCRIPTION_LOST: &str = "webhook.subscription_lost";
/// A `sync` job failed for good.
pub const SYNC_FAILING: &str = "sync.failing";

/// Records `event_type` in `ops.events` (so it notifies) for each of the jobs `ids`, just
/// discarded in this transaction (a kind's discard hook): its integration (the row's, or the
/// payload's for a job enqueued by SQL without one), attempts and error.
pub async fn failed_for_good(
    conn: &mut sqlx::PgConnection,
    ids: &[i64],
    event_type: &str,
) -> Result<(), sqlx::Error> {
    pg::query(FAILED_FOR_GOOD_SQL)
        .bind(ids)
        .bind(event_type)
        .execute(conn)
        .await
        .map(drop)
}

const FAILED_FOR_GOOD_SQL: &str = "\
    INSERT INTO ops.events (workspace_id, integration_id, event_type, payload) \
    SELECT i.workspace_id, i.id, $2, \
           jsonb_build_object('platform', i.platform, 'job_id', j.id, 'kind', j.kind, \
                              'attempts', j.attempt, 'error', j.last_error) \
    FROM mcp.sync_jobs_done j \
    JOIN core.integrations i ON i.id = COALESCE(j.integration_id, \
        CASE WHEN j.payload ->> 'integration_id' ~* \
                  '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' \
             THEN (j.payload ->> 'integration_id')::uuid END) \
    WHERE j.id = ANY ($1) AND j.state = 'discarded' \
    ORDER BY j.id";
pub const OPT_IN_TYPES: &[&str] = &["sync.completed"];
/// What `notify test` sends.
pub const TEST_TYPE: &str = "notification.test";

//! What a subscribe run made (`Subscribed`) and the record of each subscription the platform
//! made (`record`), shared by `subscriptions` and `monday`.

use mcp_queue::pg::{self, Db};
use serde_json::Value;
use uuid::Uuid;

use super::renew::RenewError;
use super::WebhooksConfig;
use crate::vault::Vault;
use mcp_platforms::connectors::Connectors;

/// What making subscriptions needs: the pool, the vault (their secrets), the connectors (the
/// calls) and `[webhooks]`.
#[derive(Clone, Copy)]
pub struct Maker<'a> {
    pub pool: &'a Db,
    pub vault: &'a Vault,
    pub connectors: &'a Connectors,
    pub cfg: &'a WebhooksConfig,
}

/// What one subscribe run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Subscribed {
    /// Subscriptions made now.
    pub created: usize,
    /// Already there from an earlier run.
    pub existing: usize,
    /// Why nothing could be made, when the config or settings leave nothing to do.
    pub skipped: Option<&'static str>,
}

pub(super) fn skipped(why: &'static str) -> Subscribed {
    Subscribed {
        skipped: Some(why),
        ..Subscribed::default()
    }
}

/// Records what the platform made for webhook row `webhook` (its id there, its expiry, what
/// it watches); when it made nothing, deletes the row (a retry makes a fresh one) and returns
/// the platform's error.
pub(super) async fn record(
    pool: &Db,
    webhook: Uuid,
    made: Result<(String, Option<chrono::DateTime<chrono::Utc>>, Value), RenewError>,
) -> Result<(), RenewError> {
    match made {
        Ok((external_id, expires, settings)) => {
            pg::query(
                "UPDATE mcp.webhooks SET created_by = 'daemon', external_id = $2, expires_at = $3, \
                 settings = $4 WHERE id = $1",
            )
            .bind(webhook)
            .bind(external_id)
            .bind(expires)
            .bind(settings)
            .execute(pool)
            .await?;
            Ok(())
        }
        Err(e) => {
            pg::query("DELETE FROM mcp.webhooks WHERE id = $1")
                .bind(webhook)
                .execute(pool)
                .await?;
            Err(e)
        }
    }
}

//! Webhook subscriptions that expire at the platform: Gmail's `users.watch` (7 days) and
//! Microsoft Graph subscriptions (under 3 days for mail). `webhook_renew_sweep` enqueues one
//! `webhook_renew` per subscription that expires within `webhooks.renew_ahead`, once across
//! daemons (unique key per webhook); a renewal calls the platform and records the new expiry.
//! App-level webhooks (Slack, Zoom, Discord, …) have no expiry and are never touched here.

use mcp_queue::pg::{self, Db};
use std::time::Duration;

use uuid::Uuid;

use crate::kinds::{Kind, WebhookRenew};
use mcp_platforms::connectors::{
    self, ConnectorError, Connectors, Credentials, ErrorType, Platform,
};

/// Platforms whose subscriptions expire and are renewed through their API.
pub const RENEWABLE: &[Platform] = &[Platform::Gmail, Platform::Outlook];

#[derive(Debug, thiserror::Error)]
pub enum RenewError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Platform(#[from] ConnectorError),
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("webhook {0} not found")]
    NotFound(Uuid),
    #[error(transparent)]
    Webhook(#[from] super::WebhookError),
}

/// The renew sweep's statement (exposed for the plan tests): `$1` the renewable platforms,
/// `$2` how far ahead in milliseconds.
pub const RENEW_SWEEP_SQL: &str = const_format::concatcp!(
    "\
SELECT count(*) FROM ( \
  SELECT array_agg(w.integration_id) AS ids, \
         array_agg(jsonb_build_object('webhook_id', w.id)) AS payloads, \
         array_agg('",
    WebhookRenew::KIND,
    ":' || w.id) AS keys \
  FROM mcp.webhooks w JOIN core.integrations i ON i.id = w.integration_id \
  WHERE w.platform = ANY($1) AND w.status <> 'disabled' AND w.expires_at IS NOT NULL \
    AND w.expires_at < now() + $2 * interval '1 millisecond' \
    AND core.state_subscribed(i.state)) s, \
  LATERAL mcp.enqueue_many('",
    WebhookRenew::KIND,
    "', s.ids, s.payloads, unique_keys => s.keys)"
);

/// Enqueues a renewal for every renewable subscription expiring within `ahead`.
pub async fn enqueue_renew_sweep(pool: &Db, ahead: Duration) -> Result<u64, sqlx::Error> {
    let names: Vec<&str> = RENEWABLE.iter().map(|p| p.as_str()).collect();
    let n: i64 = pg::query_scalar(RENEW_SWEEP_SQL)
        .bind(&names)
        .bind(ahead.as_millis() as i64)
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Renews one subscription at its platform and stores the new expiry. Returns it.
pub async fn renew(
    pool: &Db,
    vault: &crate::vault::Vault,
    connectors: &Connectors,
    cfg: &super::WebhooksConfig,
    webhook_id: Uuid,
) -> Result<chrono::DateTime<chrono::Utc>, RenewError> {
    let row: Option<(Uuid, String, Option<String>)> = pg::query_as(
        "SELECT integration_id, platform, external_id FROM mcp.webhooks WHERE id = $1",
    )
    .bind(webhook_id)
    .fetch_optional(pool)
    .await?;
    let (integration, platform, external_id) = row.ok_or(RenewError::NotFound(webhook_id))?;
    let p = Platform::parse(&platform).ok_or(RenewError::NotFound(webhook_id))?;
    let token = bearer(pool, vault, integration).await?;
    let api = connectors.api(p, &token);
    let expires = match p {
        Platform::Gmail => connectors::gmail::watch(&api, &cfg.gmail_topic).await?,
        Platform::Outlook => {
            let id = external_id
                .ok_or_else(|| RenewError::Credentials("subscription id unknown".into()))?;
            let want = chrono::Utc::now()
                + chrono::Duration::from_std(cfg.outlook_subscription_ttl)
                    .unwrap_or(chrono::Duration::days(2));
            connectors::outlook::renew(&api, &id, want).await?
        }
        _ => {
            return Err(ConnectorError::new(
                p,
                ErrorType::BadRequest,
                None,
                None,
                "this platform's webhooks do not expire",
            )
            .into())
        }
    };
    pg::query("UPDATE mcp.webhooks SET expires_at = $2, status = 'active' WHERE id = $1")
        .bind(webhook_id)
        .bind(expires)
        .execute(pool)
        .await?;
    Ok(expires)
}

/// The integration's OAuth access token; any other credential is an error.
pub(super) async fn bearer(
    pool: &Db,
    vault: &crate::vault::Vault,
    id: Uuid,
) -> Result<mcp_platforms::secret::Secret, RenewError> {
    match crate::integrations::credentials(pool, vault, id).await {
        Ok(Credentials::Bearer(t)) => Ok(t),
        Ok(_) => Err(RenewError::Credentials("not an OAuth integration".into())),
        Err(e) => Err(RenewError::Credentials(e.to_string())),
    }
}

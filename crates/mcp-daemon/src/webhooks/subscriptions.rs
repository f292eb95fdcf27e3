//! Subscriptions the daemon makes at the platform when an integration connects, and removes when
//! it disconnects: Gmail's `users.watch` (to the Pub/Sub topic of `webhooks.gmail_topic`; its
//! pushes come to the app-level URL), a Microsoft Graph subscription to the mailbox (its own URL
//! `/webhooks/outlook/{id}` and a fresh `clientState`, sealed in the vault) and Monday board
//! webhooks (`monday`: `create_webhook` for each board in the integration's `settings.boards`,
//! each URL with a secret of its own, sealed in the vault; the JWT is the app's). Each is a row of `mcp.webhooks` with `created_by = 'daemon'`,
//! its platform id in `external_id` and its expiry, renewed by `renew` as before. The
//! `webhook_subscribe` job runs this, so a failure is retried with backoff while the sync sweep
//! polls the integration meanwhile.

use mcp_queue::pg::{self, Db};
use rand::RngCore;
use serde_json::json;
use uuid::Uuid;

use super::made::{record, skipped};
pub use super::made::{Maker, Subscribed};
use super::renew::{bearer, RenewError};
use crate::vault::Vault;
use mcp_platforms::connectors::{gmail, monday, outlook};
use mcp_platforms::connectors::{Connectors, Platform};
use mcp_platforms::secret::Secret;

/// The platforms whose subscriptions the daemon makes at connect.
pub const SUBSCRIBED_AT_CONNECT: [Platform; 3] =
    [Platform::Gmail, Platform::Outlook, Platform::Monday];

pub use super::monday::MONDAY_EVENTS;

/// Makes the integration's subscriptions that do not exist yet (a retry skips those an earlier
/// run made).
pub async fn subscribe(m: &Maker<'_>, integration_id: Uuid) -> Result<Subscribed, RenewError> {
    let integration = crate::integrations::load(m.pool, integration_id)
        .await
        .map_err(|e| RenewError::Credentials(e.to_string()))?;
    let p = integration.platform;
    if !integration.state.subscribed() {
        return Ok(skipped(
            "the integration is not in a state that keeps subscriptions",
        ));
    }
    match p {
        Platform::Gmail => gmail_watch(m, integration_id).await,
        Platform::Outlook => graph_subscribe(m, integration_id).await,
        Platform::Monday => super::monday::subscribe(m, integration_id).await,
        _ => Ok(skipped(
            "the platform has no subscriptions the daemon makes",
        )),
    }
}

async fn gmail_watch(m: &Maker<'_>, id: Uuid) -> Result<Subscribed, RenewError> {
    let (pool, vault, connectors, cfg) = (m.pool, m.vault, m.connectors, m.cfg);
    if cfg.gmail_topic.is_empty() {
        return Ok(skipped("webhooks.gmail_topic is not set"));
    }
    // The pushes come to the app-level URL, routed by address: the watch is the app route.
    super::ensure_app_route(pool, id).await?;
    let webhook: Uuid = pg::query_scalar(
        "UPDATE mcp.webhooks SET created_by = 'daemon', settings = jsonb_build_object('topic', $2::text) \
         WHERE integration_id = $1 AND delivery = 'app' RETURNING id",
    )
    .bind(id)
    .bind(&cfg.gmail_topic)
    .fetch_one(pool)
    .await?;
    // A watch is renewed by calling watch again: the renewal records its expiry.
    super::renew::renew(pool, vault, connectors, cfg, webhook).await?;
    Ok(Subscribed {
        created: 1,
        ..Subscribed::default()
    })
}

async fn graph_subscribe(m: &Maker<'_>, id: Uuid) -> Result<Subscribed, RenewError> {
    let (pool, vault, connectors, cfg) = (m.pool, m.vault, m.connectors, m.cfg);
    if cfg.public_base.is_empty() {
        return Ok(skipped(
            "webhooks.public_base is not set (Graph needs the URL to call)",
        ));
    }
    let existing: i64 = pg::query_scalar(
        "SELECT count(*) FROM mcp.webhooks WHERE integration_id = $1 AND created_by = 'daemon' \
         AND status <> 'disabled' AND external_id IS NOT NULL",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    if existing > 0 {
        return Ok(Subscribed {
            existing: existing as usize,
            ..Subscribed::default()
        });
    }
    let token = bearer(pool, vault, id).await?;
    let mut raw = [0u8; 24];
    rand::rng().fill_bytes(&mut raw);
    let client_state = Secret::new(hex::encode(raw));
    let webhook = super::register(
        pool,
        vault,
        id,
        Platform::Outlook,
        Some(&client_state),
        None,
    )
    .await?;
    let resource = "me/messages";
    let until = chrono::Utc::now()
        + chrono::Duration::from_std(cfg.outlook_subscription_ttl)
            .unwrap_or(chrono::Duration::days(2));
    let url = super::registration::url(&cfg.public_base, "outlook", "endpoint", webhook);
    let p = Platform::Outlook;
    let api = connectors.api(p, &token);
    let wanted = outlook::NewSubscription {
        notification_url: &url,
        resource,
        until,
        client_state: &client_state,
    };
    let made = outlook::subscribe(&api, &wanted)
        .await
        .map(|(sub_id, expires)| (sub_id, Some(expires), json!({ "resource": resource })))
        .map_err(RenewError::from);
    // Not made: the row goes, and the job retries with a fresh clientState.
    record(pool, webhook, made).await?;
    Ok(Subscribed {
        created: 1,
        ..Subscribed::default()
    })
}

/// Why an integration's subscriptions are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// A disconnect: best effort, every row disabled whatever the platform answered.
    Disconnect,
    /// A takeover (the account connected again in the same workspace): the new integration
    /// makes its own. A Gmail watch is left alone at the platform (`users.stop` ends the
    /// mailbox's pushes to the app, the new integration's watch included,
    /// https://developers.google.com/workspace/gmail/api/guides/push) and only its row disabled; a
    /// subscription whose removal may succeed later stays active for the next attempt.
    Takeover,
}

/// What `unsubscribe_all` did.
#[derive(Debug, Default)]
pub struct Unsubscribed {
    /// Subscriptions the platform confirmed removed.
    pub removed: usize,
    /// Failures, one per subscription (or one for the credentials).
    pub failures: Vec<RenewError>,
    /// Subscriptions left active because another attempt may remove them (takeover only).
    pub pending: usize,
}

/// Removes at the platform every subscription the daemon made for the integration, with the
/// integration's own token, and disables the rows removed (for a disconnect, every row: no
/// event of them is accepted any more). Runs at disconnect before the token is revoked, and
/// for a superseded integration before its token is deleted (`webhook_unsubscribe`).
pub async fn unsubscribe_all(
    pool: &Db,
    vault: &Vault,
    connectors: &Connectors,
    integration_id: Uuid,
    why: Removal,
) -> Result<Unsubscribed, sqlx::Error> {
    let rows: Vec<(Uuid, String, Option<String>)> = pg::query_as(
        "SELECT id, platform, external_id FROM mcp.webhooks \
         WHERE integration_id = $1 AND created_by = 'daemon' AND status <> 'disabled' \
           AND (external_id IS NOT NULL OR (platform = 'gmail' AND expires_at IS NOT NULL))",
    )
    .bind(integration_id)
    .fetch_all(pool)
    .await?;
    let mut done = Unsubscribed::default();
    let mut kept: Vec<Uuid> = Vec::new();
    let remote: Vec<_> = rows
        .iter()
        .filter(|r| !(why == Removal::Takeover && r.1 == Platform::Gmail.as_str()))
        .collect();
    if !remote.is_empty() {
        match bearer(pool, vault, integration_id).await {
            Ok(token) => {
                for (id, platform, external_id) in remote {
                    match remove_one(connectors, &token, platform, external_id.as_deref()).await {
                        Ok(()) => done.removed += 1,
                        Err(e) => {
                            if why == Removal::Takeover && may_succeed_later(&e) {
                                kept.push(*id);
                            }
                            done.failures.push(e);
                        }
                    }
                }
            }
            Err(e) => done.failures.push(e),
        }
    }
    done.pending = kept.len();
    pg::query(
        "UPDATE mcp.webhooks SET status = 'disabled', expires_at = NULL \
         WHERE integration_id = $1 AND created_by = 'daemon' AND id <> ALL($2)",
    )
    .bind(integration_id)
    .bind(&kept)
    .execute(pool)
    .await?;
    Ok(done)
}

/// Whether a failed removal is worth another attempt (a transient fault or a rate limit).
pub fn may_succeed_later(e: &RenewError) -> bool {
    use mcp_platforms::connectors::Action;
    match e {
        RenewError::Platform(ce) => matches!(ce.action(), Action::Retry | Action::Wait),
        RenewError::Db(_) => true,
        _ => false,
    }
}

async fn remove_one(
    connectors: &Connectors,
    token: &Secret,
    platform: &str,
    external_id: Option<&str>,
) -> Result<(), RenewError> {
    let Some(p) = Platform::parse(platform) else {
        return Ok(());
    };
    let api = connectors.api(p, token);
    match (p, external_id) {
        (Platform::Gmail, _) => gmail::stop(&api).await?,
        (Platform::Outlook, Some(id)) => outlook::unsubscribe(&api, id).await?,
        (Platform::Monday, Some(id)) => monday::delete_webhook(&api, id).await?,
        _ => {}
    }
    Ok(())
}

//! Monday board webhooks the daemon makes at connect: `create_webhook` for each board of the
//! integration's `settings.boards` and each of [`MONDAY_EVENTS`], and `delete_webhook` at
//! disconnect (`subscriptions::unsubscribe_all`).
//!
//! Monday signs a board webhook's deliveries with a JWT keyed by the app's signing secret
//! ("Webhooks created from mutations will be signed by your app's signing_secret",
//! https://developer.monday.com/apps/docs/integration-authorization), one secret for every
//! customer of the app, and `create_webhook` takes only `board_id`, `url`, `event` and `config`
//! (https://developer.monday.com/api-reference/reference/webhooks): there is no per-webhook
//! signing secret. So each webhook made here gets an unguessable secret of its own in its URL,
//! `/webhooks/monday/{id}/{secret}`, sealed in the vault like Outlook's clientState
//! (`mcp.webhooks.secret_in_url`); the intake refuses a delivery without it. A board webhook
//! made before (no URL secret) is replaced: the new one is made, the old one deleted at Monday
//! and its row disabled.

use mcp_queue::pg::{self, Db};
use rand::RngCore;
use serde_json::{json, Value};
use uuid::Uuid;

use super::made::{record, skipped, Subscribed};
use super::renew::{bearer, RenewError};
use mcp_platforms::connectors::{self, Connectors, Platform};
use mcp_platforms::secret::Secret;

/// The Monday events a board webhook is made for, one webhook each.
pub const MONDAY_EVENTS: [&str; 3] = ["create_item", "change_column_value", "item_deleted"];

fn boards(settings: &Value) -> Vec<String> {
    settings
        .get("boards")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|b| match b {
                    Value::String(s) if !s.is_empty() => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A fresh URL secret: 32 random bytes, hex (URL-safe, 256 bits).
fn url_secret() -> Secret {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    Secret::new(hex::encode(raw))
}

/// Makes the integration's board webhooks that do not exist yet (with their URL secrets), then
/// replaces those made without one.
pub(super) async fn subscribe(
    m: &super::made::Maker<'_>,
    id: Uuid,
) -> Result<Subscribed, RenewError> {
    let (pool, vault, connectors, cfg) = (m.pool, m.vault, m.connectors, m.cfg);
    let settings: Value = pg::query_scalar("SELECT settings FROM core.integrations WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await?;
    let boards = boards(&settings);
    if boards.is_empty() {
        return Ok(skipped("no boards in the integration's settings.boards"));
    }
    if cfg.public_base.is_empty() {
        return Ok(skipped(
            "webhooks.public_base is not set (Monday needs the URL to call)",
        ));
    }
    let token = bearer(pool, vault, id).await?;
    let mut done = Subscribed::default();
    for board in &boards {
        for event in MONDAY_EVENTS {
            let have: Option<Uuid> = pg::query_scalar(
                "SELECT id FROM mcp.webhooks WHERE integration_id = $1 AND created_by = 'daemon' \
                 AND status <> 'disabled' AND external_id IS NOT NULL AND secret_in_url \
                 AND settings = jsonb_build_object('board_id', $2::text, 'event', $3::text)",
            )
            .bind(id)
            .bind(board)
            .bind(event)
            .fetch_optional(pool)
            .await?;
            if have.is_some() {
                done.existing += 1;
                continue;
            }
            let secret = url_secret();
            let webhook =
                super::register_secret_in_url(pool, vault, id, Platform::Monday, &secret).await?;
            let url = format!(
                "{}/{}",
                super::registration::url(&cfg.public_base, "monday", "endpoint", webhook),
                secret.expose()
            );
            let api = connectors.api(Platform::Monday, &token);
            let made = connectors::monday::create_webhook(&api, board, &url, event)
                .await
                .map_err(RenewError::from)
                .map(|hook_id| (hook_id, None, json!({"board_id": board, "event": event})));
            record(pool, webhook, made).await?;
            done.created += 1;
        }
    }
    replace_unkeyed(pool, connectors, &token, id).await?;
    Ok(done)
}

/// Deletes at Monday the integration's board webhooks made without a URL secret (whose
/// deliveries the intake refuses) and disables their rows. Best effort at Monday (a webhook
/// gone already, or a failure, is logged): the row is disabled either way, as at disconnect.
async fn replace_unkeyed(
    pool: &Db,
    connectors: &Connectors,
    token: &Secret,
    id: Uuid,
) -> Result<(), RenewError> {
    let old: Vec<(Uuid, String)> = pg::query_as(
        "SELECT id, external_id FROM mcp.webhooks WHERE integration_id = $1 \
         AND created_by = 'daemon' AND platform = 'monday' AND status <> 'disabled' \
         AND external_id IS NOT NULL AND NOT secret_in_url",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    for (webhook, external_id) in old {
        let api = connectors.api(Platform::Monday, token);
        if let Err(e) = connectors::monday::delete_webhook(&api, &external_id).await {
            tracing::warn!(integration_id = %id, webhook_id = %webhook, error = %e, "cannot delete a Monday board webhook without a URL secret; its row is disabled");
        }
        pg::query("UPDATE mcp.webhooks SET status = 'disabled', expires_at = NULL WHERE id = $1")
            .bind(webhook)
            .execute(pool)
            .await?;
        tracing::info!(integration_id = %id, webhook_id = %webhook, "Monday board webhook without a URL secret replaced");
    }
    Ok(())
}

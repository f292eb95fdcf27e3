//! Registering webhooks for people (`mcp-worker webhooks register|list|remove` and
//! `POST/GET/DELETE /integrations/{id}/webhooks`): the per-webhook URL and secret of the
//! platforms that deliver per subscription (Outlook by hand, Monday, Twilio, Fireflies, Otter,
//! Loom, Granola, …). Sealing a secret needs the vault's key, which only the daemon's process
//! holds; that is why registration is not a plain SQL insert (SQL can list and disable:
//! `mcp.webhook_overview`). Nothing here returns or logs a secret.

use mcp_queue::pg::{self, Db};
use serde::Serialize;
use uuid::Uuid;

use super::{register, WebhookError};
use crate::vault::Vault;
use mcp_platforms::accounts::APP_LEVEL;
use mcp_platforms::connectors::Platform;
use mcp_platforms::secret::Secret;

/// A webhook as people see it: where the platform must deliver, and its state. No secret.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Listed {
    pub id: Uuid,
    pub integration_id: Uuid,
    pub platform: String,
    /// `endpoint` (its own URL and secret) or `app` (routed from the app-level URL).
    pub delivery: String,
    /// `operator` (registered by a person) or `daemon` (made at connect).
    pub created_by: String,
    pub status: String,
    pub has_secret: bool,
    /// Its secret is the last segment of its URL (Monday board webhooks the daemon makes): the
    /// `url` shown ends in `/{secret}`, never the secret itself.
    pub secret_in_url: bool,
    pub external_id: Option<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_event_at: Option<chrono::DateTime<chrono::Utc>>,
    pub external_account_id: Option<String>,
    /// The URL to give the platform.
    #[sqlx(skip)]
    pub url: String,
}

/// The URL the platform delivers a webhook's events to: `base` is `webhooks.public_base` (or
/// the daemon's own address when that is empty).
pub fn url(base: &str, platform: &str, delivery: &str, id: Uuid) -> String {
    let base = base.trim_end_matches('/');
    if delivery == "app" {
        format!("{base}/webhooks/{platform}")
    } else {
        format!("{base}/webhooks/{platform}/{id}")
    }
}

/// Why a registration is refused before anything is written.
fn check(
    p: Platform,
    secret: Option<&Secret>,
    public_key: Option<&str>,
) -> Result<(), WebhookError> {
    match p {
        Platform::Discord if public_key.is_none() => Err(WebhookError::Missing(
            "Discord needs the application's public key",
        )),
        Platform::Gmail if secret.is_some() => Err(WebhookError::Missing(
            "Gmail pushes are checked with the [webhooks] JWKS and audience: no secret",
        )),
        Platform::Discord | Platform::Gmail => Ok(()),
        _ if secret.is_none_or(|s| s.is_empty()) => Err(WebhookError::Missing(
            "this platform signs with a shared secret: give it (from a file or standard input)",
        )),
        _ => Ok(()),
    }
}

/// Where an app-level platform's events are checked: what to configure instead of a webhook.
fn app_level_setting(p: Platform) -> &'static str {
    match p {
        Platform::Slack => "[platforms.slack] signing_secret",
        Platform::Zoom => "[platforms.zoom] signing_secret",
        Platform::Discord => "[platforms.discord] public_key",
        Platform::Notion => {
            "the verification token Notion posts there (`mcp-worker webhooks notion-token`) or \
             [platforms.notion] signing_secret"
        }
        _ => "[webhooks] gmail_topic and the gmail_* JWKS settings",
    }
}

/// Refuses while `webhooks.public_base` is empty: the URL printed for the platform would be
/// the daemon's own listen address (`listen`), which no platform reaches.
pub fn reachable(public_base: &str, listen: &str) -> Result<(), WebhookError> {
    if public_base.is_empty() {
        return Err(WebhookError::NoPublicBase(format!("http://{listen}")));
    }
    Ok(())
}

/// What a registration asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    pub secret: Option<&'a Secret>,
    pub public_key: Option<&'a str>,
    /// The platform is app-level but this integration's app is its own (made for this one
    /// customer, its own secret): register it anyway.
    pub own_app: bool,
}

/// Registers a webhook of its own for an integration; returns it with the URL to give the
/// platform. Refused before anything is written while `public_base` (`webhooks.public_base`)
/// is empty, and for an app-level platform, whose app URL serves every integration, unless the
/// request says the integration's app is its own. `listen` is the daemon's own address, named
/// in the refusal.
pub async fn add(
    pool: &Db,
    vault: &Vault,
    public_base: &str,
    listen: &str,
    integration_id: Uuid,
    req: Request<'_>,
) -> Result<Listed, WebhookError> {
    let platform: Option<String> =
        pg::query_scalar("SELECT platform FROM core.integrations WHERE id = $1")
            .bind(integration_id)
            .fetch_optional(pool)
            .await?;
    let platform = platform.ok_or(WebhookError::UnknownIntegration(integration_id))?;
    let p = Platform::parse(&platform).ok_or(WebhookError::UnknownIntegration(integration_id))?;
    reachable(public_base, listen)?;
    if app_level(p) && !req.own_app {
        return Err(WebhookError::AppLevel {
            platform: p.as_str(),
            url: url(public_base, p.as_str(), "app", integration_id),
            setting: app_level_setting(p),
        });
    }
    check(p, req.secret, req.public_key)?;
    let id = register(pool, vault, integration_id, p, req.secret, req.public_key).await?;
    let mut all = list(pool, public_base, Some(integration_id)).await?;
    all.retain(|w| w.id == id);
    all.pop()
        .ok_or(WebhookError::UnknownIntegration(integration_id))
}

/// The webhooks of one integration, or of all, newest first.
pub async fn list(
    pool: &Db,
    base: &str,
    integration_id: Option<Uuid>,
) -> Result<Vec<Listed>, WebhookError> {
    let mut rows: Vec<Listed> = pg::query_as(
        "SELECT id, integration_id, platform, delivery, created_by, status, has_secret, \
                secret_in_url, external_id, expires_at, last_event_at, external_account_id \
         FROM mcp.webhook_overview WHERE $1::uuid IS NULL OR integration_id = $1 \
         ORDER BY created_at DESC, id",
    )
    .bind(integration_id)
    .fetch_all(pool)
    .await?;
    for r in &mut rows {
        r.url = url(base, &r.platform, &r.delivery, r.id);
        if r.secret_in_url {
            r.url.push_str("/{secret}");
        }
    }
    Ok(rows)
}

/// Removes a webhook: it is disabled (its deliveries are refused from now on) and its secret
/// erased; its stored events stay until `prune`. `integration_id`, when given, must be its
/// integration. Whether there was one to remove.
pub async fn remove(
    pool: &Db,
    id: Uuid,
    integration_id: Option<Uuid>,
) -> Result<bool, WebhookError> {
    let n = pg::query(
        "UPDATE mcp.webhooks SET status = 'disabled', secret_ct = NULL, key_id = NULL \
         WHERE id = $1 AND ($2::uuid IS NULL OR integration_id = $2) AND status <> 'disabled'",
    )
    .bind(id)
    .bind(integration_id)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Whether `p` has an app-level URL (no per-integration registration needed).
pub fn app_level(p: Platform) -> bool {
    APP_LEVEL.contains(&p)
}

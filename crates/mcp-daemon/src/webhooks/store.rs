//! The webhook rows: registering a webhook with its sealed secret and looking one up for a
//! delivery (verified events are stored by `batcher`, with their jobs, in one transaction).
//! It never stores an unverified delivery, and never returns or logs a secret except as
//! `Secret`.

use mcp_queue::pg::{self, Db};
use uuid::Uuid;

use crate::vault::{Binding, Vault, VaultError};
use mcp_platforms::connectors::Platform;
use mcp_platforms::secret::Secret;

/// The vault field webhook secrets are bound to (with the webhook id as the record);
/// `credentials::rotate` relies on exactly this.
pub const SECRET_FIELD: &str = "webhook_secret";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("integration {0} does not exist")]
    UnknownIntegration(Uuid),
    #[error("{0} has no webhooks")]
    NoWebhooks(&'static str),
    #[error("a Discord public key is 32 bytes as 64 lowercase hex digits")]
    BadPublicKey,
    #[error("{0}")]
    Missing(&'static str),
    #[error(
        "webhooks.public_base is not set: the URL to give the platform would be this daemon's \
         listen address ({0}), which the platform cannot reach. Set [webhooks] public_base to \
         the public URL that reaches http.listen (e.g. \"https://hooks.example.com/mcp\") and \
         register again"
    )]
    NoPublicBase(String),
    #[error(
        "{platform} delivers every customer's events to the app-level URL {url}, checked with \
         {setting}: set that, no registration is needed (docs/WEBHOOKS.md). Only a {platform} \
         app made for this one customer, with a secret of its own, is registered here: say so \
         with --own-app (\"own_app\": true)"
    )]
    AppLevel {
        platform: &'static str,
        url: String,
        setting: &'static str,
    },
}

/// A webhook as the intake needs it.
#[derive(Debug, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: Uuid,
    pub integration_id: Uuid,
    pub workspace_id: Uuid,
    pub platform: String,
    pub secret_ct: Option<Vec<u8>>,
    pub key_id: Option<String>,
    pub public_key: Option<String>,
    /// The secret is the last segment of the webhook's URL (`/webhooks/{platform}/{id}/{secret}`)
    /// and the platform's signature is the app's (Monday board webhooks the daemon makes).
    pub secret_in_url: bool,
}

impl WebhookRow {
    /// The webhook's secret, if it has one.
    pub fn secret(&self, vault: &Vault) -> Result<Option<Secret>, VaultError> {
        match (&self.key_id, &self.secret_ct) {
            (Some(k), Some(ct)) => {
                let record = self.id.to_string();
                vault
                    .open(
                        k,
                        ct,
                        Binding {
                            record: &record,
                            field: SECRET_FIELD,
                        },
                    )
                    .map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// Stores a webhook for an integration: its shared secret sealed (record = webhook id), and
/// for Discord the application's public key. Returns the webhook id (the last segment of
/// `/webhooks/{platform}/{id}`).
pub async fn register(
    pool: &Db,
    vault: &Vault,
    integration_id: Uuid,
    platform: Platform,
    secret: Option<&Secret>,
    public_key: Option<&str>,
) -> Result<Uuid, WebhookError> {
    let new = New::of(integration_id, platform, secret, public_key);
    insert(pool, vault, new).await
}

/// Stores a webhook whose sealed `secret` is the last segment of its URL
/// (`/webhooks/{platform}/{id}/{secret}`), its deliveries signed with the app's secret: what the
/// daemon makes for a platform without per-webhook signing secrets (Monday). Returns its id.
pub async fn register_secret_in_url(
    pool: &Db,
    vault: &Vault,
    integration_id: Uuid,
    platform: Platform,
    secret: &Secret,
) -> Result<Uuid, WebhookError> {
    let new = New {
        secret_in_url: true,
        ..New::of(integration_id, platform, Some(secret), None)
    };
    insert(pool, vault, new).await
}

/// `register` with a chosen webhook id (the demo's documented one).
pub async fn register_with_id(
    pool: &Db,
    vault: &Vault,
    id: Uuid,
    integration_id: Uuid,
    platform: Platform,
    secret: Option<&Secret>,
    public_key: Option<&str>,
) -> Result<Uuid, WebhookError> {
    let new = New {
        id,
        ..New::of(integration_id, platform, secret, public_key)
    };
    insert(pool, vault, new).await
}

/// A webhook to store.
struct New<'a> {
    id: Uuid,
    integration_id: Uuid,
    platform: Platform,
    secret: Option<&'a Secret>,
    public_key: Option<&'a str>,
    secret_in_url: bool,
}

impl<'a> New<'a> {
    /// A new id, its secret (if any) not in its URL.
    fn of(
        integration_id: Uuid,
        platform: Platform,
        secret: Option<&'a Secret>,
        public_key: Option<&'a str>,
    ) -> Self {
        New {
            id: Uuid::new_v4(),
            integration_id,
            platform,
            secret,
            public_key,
            secret_in_url: false,
        }
    }
}

async fn insert(pool: &Db, vault: &Vault, new: New<'_>) -> Result<Uuid, WebhookError> {
    let New {
        id,
        integration_id,
        platform,
        secret,
        public_key,
        secret_in_url,
    } = new;
    if !super::PLATFORMS.contains(&platform) {
        return Err(WebhookError::NoWebhooks(platform.as_str()));
    }
    if let Some(k) = public_key {
        if k.len() != 64
            || !k
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(WebhookError::BadPublicKey);
        }
    }
    let record = id.to_string();
    let sealed = match secret {
        Some(s) => Some(vault.seal(
            s.expose(),
            Binding {
                record: &record,
                field: SECRET_FIELD,
            },
        )?),
        None => None,
    };
    let (key_id, ct) = sealed.unzip();
    let mut tx = pool.begin().await?;
    let n = pg::query(
        "INSERT INTO mcp.webhooks (id, integration_id, workspace_id, platform, secret_ct, key_id, \
                                   public_key, secret_in_url) \
         SELECT $1, i.id, i.workspace_id, $3, $4, $5, $6, $7 FROM core.integrations i WHERE i.id = $2",
    )
    .bind(id)
    .bind(integration_id)
    .bind(platform.as_str())
    .bind(ct)
    .bind(key_id)
    .bind(public_key)
    .bind(secret_in_url)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(WebhookError::UnknownIntegration(integration_id));
    }
    pg::query("UPDATE core.integrations SET webhook_id = $1 WHERE id = $2")
        .bind(id)
        .bind(integration_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// `lookup`'s statement (exposed for the plan tests).
pub const LOOKUP_SQL: &str = "\
SELECT w.id, w.integration_id, w.workspace_id, w.platform, w.secret_ct, w.key_id, w.public_key, \
       w.secret_in_url \
FROM mcp.webhooks w JOIN core.integrations i ON i.id = w.integration_id \
WHERE w.id = $1 AND w.platform = $2 AND w.status <> 'disabled' \
  AND i.state NOT IN ('REVOKED', 'DELETED')";

/// The active webhook `id` of `platform`; `None` if there is none, it is disabled, or its
/// integration was revoked or deleted.
pub async fn lookup(
    pool: &Db,
    id: Uuid,
    platform: Platform,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    pg::query_as(LOOKUP_SQL)
        .bind(id)
        .bind(platform.as_str())
        .fetch_optional(pool)
        .await
}

/// `route`'s statement (exposed for the plan tests): `$1` the platform, `$2` the accounts the
/// event names, most specific first. The integration must hold a grant
/// (`core.state_revocable`); at most one does per account (index integrations_live_account).
pub const ROUTE_SQL: &str = "\
SELECT w.id, w.integration_id, w.workspace_id, w.platform, w.secret_ct, w.key_id, w.public_key, \
       w.secret_in_url \
FROM unnest($2::text[]) WITH ORDINALITY AS a(account, n) \
JOIN core.integrations i ON i.platform = $1 AND i.external_account_id = a.account \
     AND core.state_revocable(i.state) \
JOIN mcp.webhooks w ON w.integration_id = i.id AND w.delivery = 'app' AND w.status <> 'disabled' \
ORDER BY a.n LIMIT 1";

/// The app route of the live integration connected to the first of `accounts` that has one.
pub async fn route(
    pool: &Db,
    platform: Platform,
    accounts: &[String],
) -> Result<Option<WebhookRow>, sqlx::Error> {
    pg::query_as(ROUTE_SQL)
        .bind(platform.as_str())
        .bind(accounts)
        .fetch_optional(pool)
        .await
}

/// Gives an integration of an app-level platform its route from `/webhooks/{platform}` (one per
/// integration: a reconnect makes a route disabled at disconnect active again). Its events are
/// verified with the app's secret, so it has none.
pub async fn ensure_app_route(
    db: impl sqlx::PgExecutor<'_>,
    integration_id: Uuid,
) -> Result<(), sqlx::Error> {
    pg::query(
        "INSERT INTO mcp.webhooks (integration_id, workspace_id, platform, delivery, created_by) \
         SELECT id, workspace_id, platform, 'app', 'daemon' FROM core.integrations WHERE id = $1 \
         ON CONFLICT (integration_id) WHERE delivery = 'app' DO UPDATE SET status = 'active'",
    )
    .bind(integration_id)
    .execute(db)
    .await?;
    Ok(())
}

/// What storing a verified event did.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// A new event (its id) with its `webhook_process` job.
    New(i64),
    /// The same delivery was stored before: nothing written.
    Duplicate,
}

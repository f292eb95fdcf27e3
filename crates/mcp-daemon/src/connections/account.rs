//! The account an integration is connected to (`core.integrations.external_account_id`):
//! captured at connect from the token answer or an identity call, and unique per platform among
//! the integrations that hold a grant (index integrations_live_account).
//!
//! A second connect of an account already connected decides by workspace:
//! - in the same workspace, the new integration takes over: the old one is REVOKED ("superseded
//!   by …") and its jobs cancelled, so the account's events go to the new one; its Graph and
//!   Monday subscriptions are removed at the platform with its token (`webhook_unsubscribe`),
//!   which is deleted then (at once when there are none);
//! - in another workspace, the connect is refused (`AccountTaken`): one customer's connect must
//!   never move another customer's events, and nothing is stored.

use mcp_queue::pg;
use sqlx::PgConnection;
use uuid::Uuid;

use super::ConnectError;
use crate::integrations::{self, IntegrationState};
use crate::kinds::{Kind, WebhookUnsubscribe};
use mcp_platforms::accounts;
use mcp_platforms::connectors::{Connectors, Credentials, Platform};
use mcp_platforms::oauth::TokenSet;
use mcp_platforms::secret::Secret;

/// The account a new grant is for: the token answer's, else the identity call's. `None` when
/// the platform names none or the identity call failed (logged; the connect goes on, and the
/// health checks fill it in later).
pub async fn of_grant(c: &Connectors, p: Platform, tokens: &TokenSet) -> Option<String> {
    if let Some(a) = &tokens.account {
        return Some(accounts::normalise(p, a));
    }
    of_credentials(
        c,
        p,
        &Credentials::Bearer(Secret::new(tokens.access_token.expose())),
    )
    .await
}

/// The account the identity call names for these credentials.
pub async fn of_credentials(c: &Connectors, p: Platform, creds: &Credentials) -> Option<String> {
    match c.get(p).health_check(creds).await {
        Ok(identity) => identity.account.map(|a| accounts::normalise(p, &a)),
        Err(e) => {
            tracing::warn!(platform = %p, error = %e, "cannot read the connected account");
            None
        }
    }
}

/// Who claims an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// A connect: takes the account over from a live integration of the same workspace.
    Connect,
    /// A health check filling in an account not known at connect: never takes one over.
    Backfill,
}

/// Records that integration `id` is connected to `account`, in the caller's transaction: a
/// connect takes the account over from a live integration of the same workspace; it is
/// refused (`AccountTaken`) when one of another workspace holds it (or any, for a backfill).
/// For an app-level platform, also makes its route from `/webhooks/{platform}`.
pub async fn claim(
    tx: &mut PgConnection,
    id: Uuid,
    p: Platform,
    account: &str,
    how: Claim,
) -> Result<(), ConnectError> {
    let holders: Vec<(Uuid, bool)> = pg::query_as(
        "SELECT o.id, o.workspace_id = me.workspace_id \
         FROM core.integrations me JOIN core.integrations o \
           ON o.platform = me.platform AND o.external_account_id = $2 AND o.id <> me.id \
         WHERE me.id = $1 AND core.state_revocable(o.state) \
         FOR UPDATE OF o",
    )
    .bind(id)
    .bind(account)
    .fetch_all(&mut *tx)
    .await?;
    if holders
        .iter()
        .any(|(_, same_workspace)| !same_workspace || how == Claim::Backfill)
    {
        return Err(ConnectError::AccountTaken(p));
    }
    for (old, _) in holders {
        supersede(tx, old, id).await?;
    }
    let set = pg::query("UPDATE core.integrations SET external_account_id = $2 WHERE id = $1")
        .bind(id)
        .bind(account)
        .execute(&mut *tx)
        .await;
    match set {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            // A concurrent connect of the same account committed first.
            return Err(ConnectError::AccountTaken(p));
        }
        other => {
            other?;
        }
    }
    if accounts::APP_LEVEL.contains(&p) {
        crate::webhooks::ensure_app_route(&mut *tx, id).await?;
    }
    Ok(())
}

/// The old integration of a re-connected account: REVOKED and its jobs cancelled. Its token is
/// kept only while subscriptions the daemon made at the platform remain: `webhook_unsubscribe`
/// removes them with it, then deletes it; with none, it is deleted here.
async fn supersede(tx: &mut PgConnection, old: Uuid, new: Uuid) -> Result<(), ConnectError> {
    let reason = format!("superseded by integration {new}: the same account was connected again");
    integrations::transition(&mut *tx, old, IntegrationState::Revoked, &reason).await?;
    integrations::cancel_jobs(&mut *tx, old, None).await?;
    let subscribed: bool = pg::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM mcp.webhooks WHERE integration_id = $1 \
           AND created_by = 'daemon' AND status <> 'disabled' AND external_id IS NOT NULL)",
    )
    .bind(old)
    .fetch_one(&mut *tx)
    .await?;
    if subscribed {
        WebhookUnsubscribe {
            integration_id: old,
        }
        .enqueue(&mut *tx)
        .await?;
    } else {
        pg::query("DELETE FROM mcp.oauth_tokens WHERE integration_id = $1")
            .bind(old)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

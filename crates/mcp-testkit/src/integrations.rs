//! Integration fixtures: workspaces and integrations made through the daemon's own calls, with
//! credentials minted by the sandbox and sealed in the test vault.

use mcp_daemon::integrations;
use mcp_daemon::vault::Vault;
use mcp_platforms::connectors::Platform;
use mcp_sandbox::Sandbox;
use uuid::Uuid;

use crate::db::TestDb;
use crate::worker::test_vault;

/// A new workspace named `name`.
pub async fn workspace(db: &TestDb, name: &str) -> Uuid {
    integrations::create_workspace(&db.pool, name)
        .await
        .expect("create workspace")
}

/// An integration of `p` in `ws` moved to ACTIVE by plain SQL (PENDING → CONNECTED → ACTIVE),
/// without credentials: for what only needs the row and its state.
pub async fn bare_active(pool: &mcp_queue::pg::Db, ws: Uuid, p: Platform) -> Uuid {
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, $2) RETURNING id",
    )
    .bind(ws)
    .bind(p.as_str())
    .fetch_one(pool)
    .await
    .expect("integration");
    for to in ["CONNECTED", "ACTIVE"] {
        sqlx::query("SELECT mcp.transition_integration_state($1, $2)")
            .bind(id)
            .bind(to)
            .execute(pool)
            .await
            .expect("transition");
    }
    id
}

/// An ACTIVE integration of `p` in `ws` for the sandbox account `account`, its credentials
/// sealed in the test vault.
/// A Discord integration is a bot install: its guild (where the sandbox's bot now is) is
/// recorded as its account, as the connect's token answer would.
pub async fn active(db: &TestDb, sb: &Sandbox, ws: Uuid, p: Platform, account: &str) -> Uuid {
    let (creds, _refresh) = sb.mint_credentials(p, account);
    let id = integrations::create_active(&db.pool, &test_vault(), ws, p, &creds)
        .await
        .expect("seed integration");
    if p == Platform::Discord {
        let guild = sb.install_discord_bot(account);
        let mut tx = db.pool.begin().await.expect("begin");
        use mcp_daemon::connections::account::{claim, Claim};
        // Another live integration of this guild keeps it (the sync then waits for it).
        if claim(&mut tx, id, p, &guild, Claim::Backfill).await.is_ok() {
            tx.commit().await.expect("commit");
        }
    }
    id
}

/// An ACTIVE integration of `p` in a workspace of its own, with an access token that expires in
/// `expires_in_s` and the sandbox's refresh token, sealed in `vault`.
pub async fn with_tokens(
    db: &TestDb,
    sb: &Sandbox,
    vault: &Vault,
    p: Platform,
    expires_in_s: i64,
) -> Uuid {
    let ws = workspace(db, "w").await;
    let (creds, refresh) = sb.mint_credentials(p, &format!("acct-{}", rand::random::<u32>()));
    let id = integrations::create_active(&db.pool, vault, ws, p, &creds)
        .await
        .expect("seed");
    integrations::store_credentials(
        &db.pool,
        vault,
        id,
        &creds,
        refresh.as_ref(),
        Some(chrono::Utc::now() + chrono::Duration::seconds(expires_in_s)),
    )
    .await
    .expect("store credentials");
    id
}

/// Replaces the integration's `settings`.
pub async fn set_settings(db: &TestDb, id: Uuid, settings: serde_json::Value) {
    sqlx::query("UPDATE core.integrations SET settings = $2 WHERE id = $1")
        .bind(id)
        .bind(settings)
        .execute(&db.pool)
        .await
        .expect("settings");
}

//! Webhook fixtures: the real intake router on loopback over a test database, webhooks
//! registered per platform, and deliveries signed as each platform signs them — by the sandbox
//! (`mcp_sandbox::sign_webhook`), never by the verifiers' code.

use std::io::Write;
use std::sync::Arc;

use mcp_daemon::http::ready::Readiness;
use mcp_daemon::http::webhooks::{routes, WebhookState};
use mcp_daemon::vault::Vault;
use mcp_daemon::webhooks::{AppKeys, AppSecrets, WebhooksConfig};
use mcp_platforms::connectors::Platform;
use mcp_platforms::secret::Secret;
use mcp_queue::pg::Db;
use mcp_sandbox::{discord_public_key, sign_webhook, GMAIL_TEST_JWKS};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::TestDb;
use crate::worker::test_vault;

pub const PUBLIC_BASE: &str = "https://hooks.example.test/mcp";
pub const GMAIL_AUD: &str = "https://hooks.example.test/mcp/webhooks/gmail";
pub const MAX_BODY: usize = 64 * 1024;

pub struct Env {
    pub db: TestDb,
    /// The pool the router uses (closing it makes the database unreachable to the intake).
    pub router_pool: Db,
    pub vault: Arc<Vault>,
    pub base: String,
    pub client: reqwest::Client,
    pub ws: Uuid,
    stop: CancellationToken,
    _jwks: tempfile::NamedTempFile,
    /// The pooler in front of the intake's pool, if any (stopped with the `Env`).
    pub route: Option<crate::pooler::Route>,
}

pub async fn env() -> Env {
    env_with(|_| {}).await
}

/// `env` with the intake's `[webhooks]` changed by `change` (Gmail's keys come from the
/// sandbox's JWKS file unless `change` sets another source).
pub async fn env_with(change: impl FnOnce(&mut WebhooksConfig)) -> Env {
    env_on(change, false).await
}

/// `env`, its intake's pool going through a PgBouncer of its own in transaction mode.
pub async fn env_through_pooler() -> Env {
    env_on(|_| {}, true).await
}

async fn env_on(change: impl FnOnce(&mut WebhooksConfig), pooled: bool) -> Env {
    let db = TestDb::new().await;
    let mut jwks = tempfile::NamedTempFile::new().expect("tempfile");
    jwks.write_all(GMAIL_TEST_JWKS.as_bytes())
        .expect("write jwks");
    let mut cfg = WebhooksConfig {
        max_body_bytes: MAX_BODY,
        public_base: PUBLIC_BASE.into(),
        gmail_audience: GMAIL_AUD.into(),
        gmail_jwks_file: jwks.path().to_string_lossy().into_owned(),
        ..WebhooksConfig::default()
    };
    change(&mut cfg);
    let metrics = mcp_daemon::metrics::install().expect("metrics");
    mcp_daemon::metrics::register_platforms();
    mcp_daemon::sync::register_metrics();
    let (router_pool, bouncer) = if pooled {
        let route = crate::pooler::Route::pooled(&db, false).await;
        (route.db(4).await, Some(route))
    } else {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&db.url)
            .await
            .map(Db::direct)
            .expect("router pool");
        (pool, None)
    };
    let vault = Arc::new(test_vault());
    let mut apps = AppSecrets::default();
    // Monday: the app's signing secret, for the board webhooks whose URL carries their secret.
    for p in mcp_platforms::accounts::APP_LEVEL
        .into_iter()
        .chain([Platform::Monday])
    {
        let secret = Secret::new(app_secret_of(p));
        let keys = match p {
            Platform::Discord => AppKeys {
                secret: None,
                previous: None,
                public_key: Some(discord_public_key(secret.expose().as_bytes())),
            },
            _ => AppKeys {
                secret: Some(secret),
                previous: Some(Secret::new(previous_app_secret_of(p))),
                public_key: None,
            },
        };
        apps.insert(p, keys);
    }
    let state =
        WebhookState::new(router_pool.clone(), vault.clone(), &cfg, apps, None).expect("state");
    let stop = CancellationToken::new();
    let readiness = Readiness::start(&router_pool.connect_options(), stop.clone());
    let app =
        mcp_daemon::http::router(readiness, metrics, CancellationToken::new()).merge(routes(state));
    let limits = mcp_daemon::config::HttpConfig::default().public();
    let (addr, _task) = mcp_daemon::listener::serve("127.0.0.1:0", app, limits, stop.clone())
        .await
        .expect("serve");
    let ws = mcp_daemon::integrations::create_workspace(&db.pool, "hooks")
        .await
        .expect("workspace");
    Env {
        db,
        router_pool,
        vault,
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        ws,
        stop,
        _jwks: jwks,
        route: bouncer,
    }
}

/// The app-level secret before a rotation, still taken by the test intake for `p`.
pub fn previous_app_secret_of(p: Platform) -> String {
    format!("{}-previous-app-secret-1357", p.as_str())
}

/// The secret each test webhook of `p` is registered with.
pub fn secret_of(p: Platform) -> String {
    format!("{}-signing-secret-0123456789", p.as_str())
}

/// The app-level secret the test intake is configured with for `p` (Discord: the seed of the
/// application key).
pub fn app_secret_of(p: Platform) -> String {
    format!("{}-app-secret-9876543210", p.as_str())
}

pub fn content_type(p: Platform) -> &'static str {
    if p == Platform::ZeroVoice {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    }
}

/// The URL a signer needs: Twilio's full public URL, Gmail's audience.
pub fn url_for(p: Platform, path: &str) -> String {
    if p == Platform::Gmail {
        GMAIL_AUD.to_string()
    } else {
        format!("{PUBLIC_BASE}{path}")
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Headers for `body` as `p` would sign it with `secret` at `ts`.
pub fn sign(p: Platform, secret: &str, body: &[u8], ts: i64, path: &str) -> Vec<(String, String)> {
    sign_webhook(p, secret.as_bytes(), body, ts, &url_for(p, path))
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Env {
    pub async fn finish(self) {
        self.stop.cancel();
        self.router_pool.close().await;
        self.db.drop_db().await;
    }

    /// The integration of the webhook at `path`, moved to ACTIVE.
    pub async fn activate(&self, path: &str) -> Uuid {
        let integration: Uuid =
            sqlx::query_scalar("SELECT integration_id FROM mcp.webhooks WHERE id = $1::uuid")
                .bind(path.rsplit('/').next().expect("id"))
                .fetch_one(&self.db.pool)
                .await
                .expect("integration");
        for to in ["CONNECTED", "ACTIVE"] {
            sqlx::query("SELECT mcp.transition_integration_state($1, $2)")
                .bind(integration)
                .bind(to)
                .execute(&self.db.pool)
                .await
                .expect("transition");
        }
        integration
    }

    /// A webhook of `p` on a new integration; returns its path `/webhooks/{p}/{id}`.
    pub async fn hook(&self, p: Platform) -> String {
        let integration: Uuid = sqlx::query_scalar(
            "INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, $2) RETURNING id",
        )
        .bind(self.ws)
        .bind(p.as_str())
        .fetch_one(&self.db.pool)
        .await
        .expect("integration");
        let secret = Secret::new(secret_of(p));
        let (secret, public_key) = match p {
            Platform::Discord => (None, Some(discord_public_key(secret.expose().as_bytes()))),
            Platform::Gmail => (None, None),
            _ => (Some(&secret), None),
        };
        let id = mcp_daemon::webhooks::register(
            &self.db.pool,
            &self.vault,
            integration,
            p,
            secret,
            public_key.as_deref(),
        )
        .await
        .expect("register webhook");
        format!("/webhooks/{}/{id}", p.as_str())
    }

    pub async fn post(
        &self,
        path: &str,
        ctype: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Reply {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", ctype)
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp.text().await.unwrap_or_default();
        Reply {
            status,
            content_type,
            body,
        }
    }

    /// (events stored, webhook_process jobs).
    pub async fn counts(&self) -> (i64, i64) {
        (
            self.db
                .scalar_i64("SELECT count(*) FROM mcp.webhook_events")
                .await,
            self.db
                .scalar_i64("SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'webhook_process'")
                .await,
        )
    }
}

/// A typical event body of `p`, unique by `n` (Outlook's carries `client_state`). Slack's,
/// Discord's and Fireflies' come from the sandbox's builders (`mcp_sandbox::events`).
pub fn event_body(p: Platform, n: u64, client_state: &str) -> Vec<u8> {
    use mcp_sandbox::events;
    let s = match p {
        Platform::Slack => events::slack_event(
            &format!("Ev{n}"),
            "T0SANDBOX",
            &events::SlackInstallation::workspace("T0SANDBOX"),
            events::slack_message("C0SANDBOX1", &format!("1700000000.{n:06}"), "hello"),
        )
        .to_string(),
        Platform::Zoom => {
            format!(r#"{{"event":"recording.completed","event_ts":{n},"payload":{{}}}}"#)
        }
        Platform::Notion => format!(r#"{{"id":"evt-{n}","type":"page.created"}}"#),
        Platform::Fireflies => events::fireflies_v1(&format!("m{n}")).to_string(),
        Platform::ZeroVoice => format!("MessageSid=SM{n}&MessageStatus=delivered&From=%2B15550001"),
        Platform::Discord => events::discord_interaction(&n.to_string(), 2, None).to_string(),
        Platform::Outlook => format!(
            r#"{{"value":[{{"subscriptionId":"sub-1","clientState":"{client_state}","changeType":"created","resource":"me/messages/{n}"}}]}}"#
        ),
        Platform::Gmail => format!(
            r#"{{"message":{{"data":"e30=","messageId":"{n}"}},"subscription":"projects/p/subscriptions/s"}}"#
        ),
        Platform::Monday => format!(r#"{{"event":{{"type":"create_item","triggerUuid":"t{n}"}}}}"#),
        _ => format!(r#"{{"id":"e{n}","type":"note.created"}}"#),
    };
    s.into_bytes()
}

/// An event of app-level platform `p` naming `account` as the platform names it, unique by `n`
/// (Slack's occurred in and delivered for workspace `account`; Discord's is an interaction from
/// guild `account`).
pub fn event_for_account(p: Platform, n: u64, account: &str) -> Vec<u8> {
    use base64::Engine;
    use mcp_sandbox::events;
    let v = match p {
        Platform::Slack => slack_event_in(n, account, account),
        Platform::Zoom => serde_json::json!({"event": "meeting.started", "event_ts": n,
            "payload": {"account_id": account, "object": {"id": n}}}),
        Platform::Discord => events::discord_interaction(&n.to_string(), 2, Some(account)),
        Platform::Notion => serde_json::json!({"id": format!("evt-{n}"), "type": "page.created",
            "workspace_id": account}),
        Platform::Gmail => {
            let data = base64::engine::general_purpose::STANDARD.encode(
                serde_json::json!({"emailAddress": account, "historyId": n.to_string()})
                    .to_string(),
            );
            serde_json::json!({"message": {"data": data, "messageId": n.to_string()},
                "subscription": "projects/p/subscriptions/s"})
        }
        _ => serde_json::json!({"id": format!("e{n}"), "account": account}),
    };
    v.to_string().into_bytes()
}

/// A Slack message event `n` that occurred in workspace `occurred_in` and is delivered for the
/// installation in workspace `installed_in` (they differ in a Slack Connect channel).
pub fn slack_event_in(n: u64, occurred_in: &str, installed_in: &str) -> serde_json::Value {
    use mcp_sandbox::events;
    events::slack_event(
        &format!("Ev{n}"),
        occurred_in,
        &events::SlackInstallation::workspace(installed_in),
        events::slack_message("C0SHARED1", &format!("1700000000.{n:06}"), "hi"),
    )
}

impl Env {
    /// An ACTIVE integration of `p` in workspace `ws` connected to `account` (claimed as a
    /// connect claims it, which also makes its app route).
    pub async fn connected(&self, ws: Uuid, p: Platform, account: &str) -> Uuid {
        let id = crate::integrations::bare_active(&self.db.pool, ws, p).await;
        let mut tx = self.db.pool.begin().await.expect("tx");
        mcp_daemon::connections::account::claim(
            &mut tx,
            id,
            p,
            account,
            mcp_daemon::connections::account::Claim::Connect,
        )
        .await
        .expect("claim");
        tx.commit().await.expect("commit");
        id
    }

    /// Events stored per integration, as (integration, count) sorted.
    pub async fn events_by_integration(&self) -> Vec<(Uuid, i64)> {
        sqlx::query_as(
            "SELECT integration_id, count(*) FROM mcp.webhook_events GROUP BY 1 ORDER BY 1",
        )
        .fetch_all(&self.db.pool)
        .await
        .expect("events")
    }
}

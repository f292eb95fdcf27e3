//! The integration endpoints end to end: the real routers served on loopback (the management
//! one and, beside it, the public one), a real database,
//! the sandbox as the platforms (its authorize page, its PKCE-checking token endpoint, its
//! revocation). The test plays the gateway: it adds the bearer token and forwards the callback
//! that the platform sends to the public redirect base.

use std::sync::Arc;

use mcp_daemon::config::Config;
use mcp_daemon::http::api::ApiState;
use mcp_daemon::http::ready::Readiness;
use mcp_daemon::integrations;
use mcp_daemon::vault::Binding;
use mcp_platforms::connectors::{Credentials, Platform};
use mcp_platforms::secret::Secret;
use mcp_sandbox::{self as sandbox, Sandbox};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::common::{test_config, test_vault, TestDb};

mod accounts;
mod daemon_log;
mod flow;
mod initiator;
mod lifecycle;
mod workspace_tokens;

pub const TOKEN: &str = "gateway-token-0123456789";
pub const REDIRECT_BASE: &str = "https://gateway.example.test/mcp";

pub struct Env {
    pub db: TestDb,
    pub sb: Sandbox,
    /// The management listener.
    pub base: String,
    /// The public listener (probes, `/metrics`; no management route).
    pub public: String,
    pub client: reqwest::Client,
    pub config: Config,
    /// The browser's cookies (`name=value`), as the connect redirects set them.
    pub jar: std::sync::Mutex<Vec<String>>,
    stop: CancellationToken,
}

/// Serves the real routers: the management API on one listener, the public routes on another.
pub async fn env_with(edit: impl FnOnce(&mut Config)) -> Env {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let mut config = test_config(&db.url);
    config.platforms = sb.config_overrides();
    config.http.api_token = Secret::new(TOKEN);
    config.oauth.redirect_base = REDIRECT_BASE.into();
    edit(&mut config);
    let metrics = mcp_daemon::metrics::install().expect("metrics");
    let api = ApiState {
        pool: db.pool.clone(),
        vault: Arc::new(test_vault()),
        connectors: Arc::new(config.connectors().expect("connectors")),
        config: Arc::new(config.clone()),
    };
    let stop = CancellationToken::new();
    let public = mcp_daemon::http::router(
        Readiness::start(&db.pool.connect_options(), stop.clone()),
        metrics,
        tokio_util::sync::CancellationToken::new(),
    );
    let (public_addr, _task) =
        mcp_daemon::listener::serve("127.0.0.1:0", public, config.http.public(), stop.clone())
            .await
            .expect("serve");
    let admin = mcp_daemon::http::management(api);
    let (addr, _task) =
        mcp_daemon::listener::serve("127.0.0.1:0", admin, config.http.admin(), stop.clone())
            .await
            .expect("serve");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Env {
        db,
        sb,
        base: format!("http://{addr}"),
        public: format!("http://{public_addr}"),
        client,
        config,
        jar: Default::default(),
        stop,
    }
}

pub async fn env() -> Env {
    env_with(|_| {}).await
}

/// A fresh daemon, a workspace, and an integration of `p` connected in it.
pub async fn connected(p: Platform) -> (Env, Uuid, Uuid) {
    let e = env().await;
    let ws = e.workspace().await;
    let (id, _) = e.connect(p, ws).await;
    (e, ws, id)
}

impl Env {
    /// `POST /integrations/{id}/disconnect`, which must answer 200: its answer.
    pub async fn disconnect(&self, id: Uuid) -> Value {
        let path = format!("/integrations/{id}/disconnect");
        let (status, _, body) = self.call("POST", &path, None).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("json")
    }

    pub async fn finish(self) {
        self.stop.cancel();
        self.db.drop_db().await;
    }

    /// A request with the gateway's bearer token; returns (status, Location, body).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String, String) {
        self.call_as(Some(&format!("Bearer {TOKEN}")), method, path, body)
            .await
    }

    pub async fn call_as(
        &self,
        auth: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String, String) {
        read(self.send(&self.base, auth, method, path, body, true).await).await
    }

    /// A gateway's request from another browser: the bearer token, none of this browser's
    /// cookies.
    pub async fn call_elsewhere(&self, path: &str) -> (u16, String, String) {
        let auth = format!("Bearer {TOKEN}");
        read(
            self.send(&self.base, Some(&auth), "GET", path, None, false)
                .await,
        )
        .await
    }

    /// `GET` on the public listener, without a token.
    pub async fn get_public(&self, path: &str) -> (u16, String, String) {
        read(self.send(&self.public, None, "GET", path, None, true).await).await
    }

    async fn send(
        &self,
        base: &str,
        auth: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
        cookies: bool,
    ) -> reqwest::Response {
        let url = format!("{base}{path}");
        let mut req = match method {
            "POST" => self.client.post(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.get(url),
        };
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let jar = self.jar.lock().expect("jar").join("; ");
        if cookies && !jar.is_empty() {
            req = req.header("cookie", jar);
        }
        let resp = req.send().await.expect("request");
        for set in resp.headers().get_all("set-cookie") {
            let pair = set
                .to_str()
                .expect("ascii")
                .split(';')
                .next()
                .expect("pair");
            let name = pair.split('=').next().expect("name").to_string();
            let mut jar = self.jar.lock().expect("jar");
            jar.retain(|c| !c.starts_with(&format!("{name}=")));
            if !pair.ends_with('=') {
                jar.push(pair.to_string());
            }
        }
        resp
    }

    /// `GET /integrations/connect/{p}`, then the platform's authorize page: returns the
    /// authorize URL and the callback path (what the gateway forwards to the daemon).
    pub async fn start_connect(
        &self,
        p: Platform,
        ws: Uuid,
        reuse: Option<Uuid>,
    ) -> (String, String) {
        self.start_connect_as(p, ws, reuse, None).await
    }

    /// `start_connect` where the user signs in at the platform as `login` (the sandbox's
    /// `login_hint`: each login is its own account there).
    pub async fn start_connect_as(
        &self,
        p: Platform,
        ws: Uuid,
        reuse: Option<Uuid>,
        login: Option<&str>,
    ) -> (String, String) {
        let mut path = format!("/integrations/connect/{p}?workspace_id={ws}");
        if let Some(id) = reuse {
            path.push_str(&format!("&integration_id={id}"));
        }
        let (status, mut to_platform, body) = self.call("GET", &path, None).await;
        assert_eq!(status, 302, "{body}");
        if let Some(l) = login {
            let l: String = url::form_urlencoded::byte_serialize(l.as_bytes()).collect();
            to_platform.push_str(&format!("&login_hint={l}"));
        }
        let (status, back, body) = read(
            self.client
                .get(&to_platform)
                .send()
                .await
                .expect("authorize"),
        )
        .await;
        assert_eq!(status, 302, "sandbox authorize: {body}");
        let callback = back
            .strip_prefix(REDIRECT_BASE)
            .unwrap_or_else(|| panic!("redirected to {back}"))
            .to_string();
        assert!(
            callback.starts_with(&format!("/integrations/callback/{p}?")),
            "{callback}"
        );
        (to_platform, callback)
    }

    /// A full connect; returns the integration id and every body seen.
    pub async fn connect(&self, p: Platform, ws: Uuid) -> (Uuid, Vec<String>) {
        self.connect_as(p, ws, None).await
    }

    /// A full connect as `login` at the platform.
    pub async fn connect_as(
        &self,
        p: Platform,
        ws: Uuid,
        login: Option<&str>,
    ) -> (Uuid, Vec<String>) {
        let (_, callback) = self.start_connect_as(p, ws, None, login).await;
        let (status, _, body) = self.call("GET", &callback, None).await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["state"], "ACTIVE", "{body}");
        let id = v["integration_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("id");
        (id, vec![body])
    }

    pub async fn workspace(&self) -> Uuid {
        integrations::create_workspace(&self.db.pool, "acme")
            .await
            .expect("ws")
    }

    /// Every row of every table a connect may write, as one digest: equal digests mean
    /// nothing was written.
    pub async fn digest(&self) -> String {
        let mut out = String::new();
        for t in [
            "core.integrations",
            "ops.events",
            "mcp.oauth_tokens",
            "mcp.oauth_states",
            "mcp.sync_jobs",
            "mcp.integration_errors",
            "mcp.health_checks",
        ] {
            let d: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) || ':' || COALESCE(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {t} t"
            )))
            .fetch_one(&self.db.pool)
            .await
            .expect("digest");
            out.push_str(&format!("{t}={d} "));
        }
        out
    }

    pub async fn state_of(&self, id: Uuid) -> (String, Option<String>) {
        sqlx::query_as("SELECT state, state_reason FROM core.integrations WHERE id = $1")
            .bind(id)
            .fetch_one(&self.db.pool)
            .await
            .expect("state")
    }

    /// The stored access and refresh tokens, decrypted.
    pub async fn tokens(&self, id: Uuid) -> (String, Option<String>) {
        let access = match integrations::credentials(&self.db.pool, &test_vault(), id).await {
            Ok(Credentials::Bearer(s)) => s.expose().to_string(),
            other => panic!("no bearer token: {other:?}"),
        };
        let (ct, key): (Option<Vec<u8>>, String) = sqlx::query_as(
            "SELECT refresh_token_ct, key_id FROM mcp.oauth_tokens WHERE integration_id = $1",
        )
        .bind(id)
        .fetch_one(&self.db.pool)
        .await
        .expect("tokens");
        let record = id.to_string();
        let refresh = ct.map(|ct| {
            test_vault()
                .open(
                    &key,
                    &ct,
                    Binding {
                        record: &record,
                        field: "refresh_token",
                    },
                )
                .expect("refresh")
                .expose()
                .to_string()
        });
        (access, refresh)
    }
}

pub async fn read(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, location, resp.text().await.expect("body"))
}

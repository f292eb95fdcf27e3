//! The sandbox: a local HTTP fake of the 13 platforms (identity, OAuth, list endpoints with
//! their cursors, items removed from and restored to listings, rate-limit and failure forms,
//! fault injection, webhook signing), for tests, the demo and benchmarks. It is a test double
//! of the outside world only: it must never be part of the daemon's production path nor hold
//! real credentials.

mod api;
pub mod content;
mod content_state;
mod control;
pub mod demo;
pub mod events;
pub mod facts;
mod faults;
mod forms;
mod gmail_keys;
mod installs;
mod lists;
mod oauth;
mod req;
mod state;
#[cfg(test)]
mod tests;
mod timeline;
mod webhook;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State as AxState;
use axum::routing::{any, get};
use axum::Router;

use mcp_platforms::connectors::{Platform, PlatformOverride};
use mcp_platforms::secret::Secret;
use state::State;

pub use gmail_keys::{
    sign_gmail, sign_test_jwt, GmailTestKey, GMAIL_JWKS_MAX_AGE_S, GMAIL_JWKS_PATH,
    GMAIL_TEST_ISSUER, GMAIL_TEST_JWKS, GMAIL_TEST_JWKS_2, GMAIL_TEST_SERVICE_ACCOUNT,
};
pub use lists::DISCORD_BOT_TOKEN;
pub use lists::{SLACK_CHANNEL, ZOOM_RECORDINGS_PER_DAY};
pub use oauth::{client_id, client_secret, pkce_s256};
pub use req::account_of;
pub use state::{FaultKind, FaultSpec};
pub use webhook::{
    discord_public_key, fireflies_signature, sign_webhook, twilio_payload, FirefliesSignature,
};

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot listen on {listen}: {source}")]
    Bind {
        listen: String,
        source: std::io::Error,
    },
    #[error("cannot set up the sandbox's TLS: {0}")]
    Tls(String),
}

/// A running sandbox; stops when dropped (or on `shutdown`).
pub struct Sandbox {
    base: String,
    state: Arc<State>,
    task: Option<tokio::task::JoinHandle<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Starts the sandbox on `listen` (`127.0.0.1:0` picks a free port).
pub async fn start(listen: &str) -> Result<Sandbox, SandboxError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| SandboxError::Bind {
            listen: listen.into(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
        listen: listen.into(),
        source,
    })?;
    let base = format!("http://{addr}");
    let state = Arc::new(State::new(base.clone()));
    let app = app(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app);
        tokio::select! {
            r = serve => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "sandbox server stopped");
                }
            }
            _ = rx => {}
        }
    });
    Ok(Sandbox {
        base,
        state,
        task: Some(task),
        stop: Some(tx),
    })
}

fn app(state: Arc<State>) -> Router {
    control::routes()
        .route(
            GMAIL_JWKS_PATH,
            get(
                |AxState(st): AxState<Arc<State>>| async move { gmail_keys::certs(&st.gmail_keys) },
            ),
        )
        .route("/{platform}/{*path}", any(api::handle))
        .with_state(state)
}

/// The sandbox over HTTPS (rustls, TLS 1.2 and 1.3) with a fresh self-signed certificate for
/// 127.0.0.1; returns the sandbox and the certificate (PEM) a client must trust.
pub async fn start_https(listen: &str) -> Result<(Sandbox, String), SandboxError> {
    let tls = |e: &dyn std::fmt::Display| SandboxError::Tls(e.to_string());
    let bind = |source| SandboxError::Bind {
        listen: listen.into(),
        source,
    };
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .map_err(|e| tls(&e))?;
    let cert_pem = certified.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| tls(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .map_err(|e| tls(&e))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(server));
    let std_listener = std::net::TcpListener::bind(listen).map_err(bind)?;
    std_listener.set_nonblocking(true).map_err(bind)?;
    let addr = std_listener.local_addr().map_err(bind)?;
    let base = format!("https://{addr}");
    let state = Arc::new(State::new(base.clone()));
    let app = app(state.clone());
    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp_rustls(std_listener, config)
        .handle(handle.clone())
        .serve(app.into_make_service());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        tokio::select! {
            r = server => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "sandbox server stopped");
                }
            }
            _ = rx => handle.shutdown(),
        }
    });
    Ok((
        Sandbox {
            base,
            state,
            task: Some(task),
            stop: Some(tx),
        },
        cert_pem,
    ))
}

impl Sandbox {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.base.clone()
    }

    /// `{base}/{platform}`: what the platform's `api_base` should be.
    pub fn platform_base(&self, p: Platform) -> String {
        format!("{}/{}", self.base, p.as_str())
    }

    /// `[platforms.*]` overrides pointing all 13 connectors (API and OAuth URLs, client id
    /// and secret) at this sandbox.
    pub fn config_overrides(&self) -> BTreeMap<String, PlatformOverride> {
        Platform::ALL
            .into_iter()
            .map(|p| {
                let b = self.platform_base(p);
                let oauth = facts::oauth(p).is_some();
                let o = PlatformOverride {
                    api_base: Some(b.clone()),
                    authorize_url: oauth.then(|| format!("{b}/oauth/authorize")),
                    token_url: oauth.then(|| format!("{b}/oauth/token")),
                    revoke_url: oauth.then(|| format!("{b}/oauth/revoke")),
                    client_id: oauth.then(|| client_id(p)),
                    client_secret: oauth.then(|| Secret::new(client_secret(p))),
                    scopes: None,
                    identity_path: None,
                    api_version: None,
                    signing_secret: None,
                    previous_signing_secret: None,
                    public_key: None,
                    bot_token: (p == Platform::Discord).then(|| Secret::new(DISCORD_BOT_TOKEN)),
                    non_marketplace_app: None,
                };
                (p.as_str().to_string(), o)
            })
            .collect()
    }

    /// Valid credentials without an OAuth round trip: (access, refresh) for OAuth platforms,
    /// (key, key) for API-key platforms, (AccountSid, AuthToken) for ZeroVoice.
    pub fn mint_token(&self, p: Platform, account: &str) -> (String, String) {
        self.state.mint(p, account)
    }

    /// `mint_token` as the `Credentials` a connector takes (bearer, API key or Basic), with the
    /// refresh token where the platform has one.
    pub fn mint_credentials(
        &self,
        p: Platform,
        account: &str,
    ) -> (
        mcp_platforms::connectors::Credentials,
        Option<mcp_platforms::secret::Secret>,
    ) {
        use mcp_platforms::connectors::Credentials;
        use mcp_platforms::secret::Secret;
        let (a, b) = self.mint_token(p, account);
        if p == Platform::ZeroVoice {
            let basic = Credentials::Basic {
                user: a,
                secret: Secret::new(b),
            };
            (basic, None)
        } else if facts::oauth(p).is_some() {
            let refresh = (!b.is_empty()).then(|| Secret::new(b));
            (Credentials::Bearer(Secret::new(a)), refresh)
        } else {
            (Credentials::ApiKey(Secret::new(a)), None)
        }
    }

    /// Revokes a token (and its grant) as the user or an admin would.
    pub fn revoke_token(&self, token: &str) -> bool {
        self.state.revoke(token)
    }

    /// Makes an access token expire now, as time would; its refresh token stays good.
    pub fn expire_token(&self, token: &str) -> bool {
        self.state.expire(token)
    }

    /// `refresh_token` grants of `p` answered with new tokens.
    pub fn refreshes(&self, p: Platform) -> u64 {
        self.state.refreshes(p)
    }

    /// Adds the sandbox's Discord bot to the guild of `login`, as a bot install does (minted
    /// Discord credentials come with it); returns the guild id.
    pub fn install_discord_bot(&self, login: &str) -> String {
        self.state.installs.install_bot(login)
    }

    /// Arms a fault.
    pub fn set_fault(&self, f: FaultSpec) {
        self.state.add_fault(f);
    }

    /// Arms `kind` on a platform for its next `count` requests (forever when `None`).
    pub fn fault(
        &self,
        p: Platform,
        kind: FaultKind,
        count: Option<u64>,
        retry_after_secs: Option<u64>,
    ) {
        self.state.add_fault(FaultSpec {
            platform: p.as_str().into(),
            token: None,
            fault: kind,
            count,
            retry_after_secs,
            after: None,
            code: None,
        });
    }

    /// Arms a fault that counts and fires on content calls only (Gmail `messages.get`, Zoom
    /// transcript downloads, Fireflies `transcript(id:)`, Notion block children): with
    /// `after: Some(n)`, the content call after `n` others fails, whatever listing calls come
    /// between.
    pub fn set_content_fault(&self, f: FaultSpec) {
        self.state.content.add_fault(f);
    }

    /// Makes the content of items (by index) of `login`'s on `p` about `bytes` long: a Gmail
    /// message's text part, a Zoom transcript.
    pub fn enlarge_items(&self, p: Platform, login: &str, indexes: &[u64], bytes: usize) {
        self.state.content.enlarge(p, login, indexes, bytes);
    }

    /// (files Zoom's storage host served, requests of those that carried an `Authorization`
    /// header): a download's token must stay with Zoom.
    pub fn zoom_storage_downloads(&self) -> (u64, u64) {
        self.state.content.downloads()
    }

    /// Removes items (by index, as the listings number them) from `login`'s listings on `p`;
    /// returns how many were listed until now.
    pub fn remove_items(&self, p: Platform, login: &str, indexes: &[u64]) -> u64 {
        self.state.remove_items(p, login, indexes)
    }

    /// Lists removed items again (all of `login`'s on `p` with `None`); returns how many.
    pub fn restore_items(&self, p: Platform, login: &str, indexes: Option<&[u64]>) -> u64 {
        self.state.restore_items(p, login, indexes)
    }

    /// Clears the faults of one platform, or all with `None` (content faults too).
    pub fn clear_faults(&self, p: Option<Platform>) {
        self.state.clear_faults(p);
        self.state.content.clear_faults(p);
    }

    /// Requests received per platform.
    pub fn calls(&self, p: Platform) -> u64 {
        self.state.calls(p)
    }

    /// Requests of content fetches received per platform (Gmail `messages.get`, Zoom
    /// transcript downloads and the storage host's files they redirect to, Fireflies
    /// `transcript(id:)`, Notion block children), part of `calls`.
    pub fn content_calls(&self, p: Platform) -> u64 {
        let storage = match p {
            Platform::Zoom => self.state.content.downloads().0,
            _ => 0,
        };
        self.state.content.calls(p) + storage
    }

    /// List items served per platform (every list endpoint, filters applied).
    pub fn served(&self, p: Platform) -> u64 {
        self.state.served(p)
    }

    /// Lifetime of access tokens issued from now on, for the platforms whose tokens expire
    /// (0: each platform's documented lifetime, the default).
    pub fn set_expires_in(&self, secs: u64) {
        self.state.expires_in.store(secs, Ordering::Relaxed);
    }

    /// Holds Slack's app to the non-Marketplace limits on `conversations.history` (1 request a
    /// minute per installation, 15 messages a page), as Slack does for commercially
    /// distributed apps outside the Marketplace installed since 29 May 2025.
    pub fn set_slack_non_marketplace(&self, on: bool) {
        self.state.installs.set_slack_non_marketplace(on);
    }

    /// `conversations.history` calls refused (429) by those limits.
    pub fn slack_limited(&self) -> u64 {
        self.state.installs.slack_limited()
    }

    /// Synthetic list items per account.
    pub fn set_items_per_account(&self, n: u64) {
        self.state.items_per_account.store(n, Ordering::Relaxed);
    }

    /// Every platform request (listings, content, tokens, downloads) waits this long before it
    /// is answered, as a platform's round trip does (none by default).
    pub fn set_latency(&self, d: Duration) {
        *self.state.latency.lock().unwrap_or_else(|e| e.into_inner()) = d;
    }

    /// How long the `timeout` fault hangs (30 s by default).
    pub fn set_hang(&self, d: Duration) {
        *self.state.hang.lock().unwrap_or_else(|e| e.into_inner()) = d;
    }

    /// Google's JWKS URL as the sandbox serves it (`{base}/gmail/oauth2/v3/certs`).
    pub fn gmail_jwks_url(&self) -> String {
        format!("{}{GMAIL_JWKS_PATH}", self.base)
    }

    /// Rotates Google's signing key: the second test key signs from now on and is listed in
    /// the JWKS beside the first.
    pub fn rotate_gmail_key(&self) {
        self.state.gmail_keys.rotate();
    }

    /// Makes Google's JWKS endpoint answer 503 while `failing`.
    pub fn fail_gmail_jwks(&self, failing: bool) {
        self.state.gmail_keys.set_failing(failing);
    }

    /// How many times the JWKS was fetched (failed answers too).
    pub fn gmail_jwks_fetches(&self) -> u64 {
        self.state.gmail_keys.fetches()
    }

    /// A Pub/Sub push's headers for audience `aud`, signed with the key that signs now.
    pub fn sign_gmail(&self, timestamp: i64, aud: &str) -> Vec<(String, String)> {
        sign_gmail(self.state.gmail_keys.current(), None, timestamp, aud)
    }

    /// Stops accepting requests.
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// The sandbox's `[platforms.*]` overrides as TOML, with its (fake) client secrets and bot
/// token written out so the text can be pasted into a config file, and the
/// `[http_client] allow_plain_http` its `http://` URLs need.
pub fn overrides_toml(sb: &Sandbox) -> String {
    let mut root = toml::Table::new();
    let mut platforms = toml::Table::new();
    for (name, o) in sb.config_overrides() {
        let mut t = toml::Table::new();
        let fields = [
            ("api_base", o.api_base),
            ("authorize_url", o.authorize_url),
            ("token_url", o.token_url),
            ("revoke_url", o.revoke_url),
            ("client_id", o.client_id),
            (
                "client_secret",
                o.client_secret.map(|s| s.expose().to_string()),
            ),
            ("bot_token", o.bot_token.map(|s| s.expose().to_string())),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                t.insert(k.into(), toml::Value::String(v));
            }
        }
        platforms.insert(name, toml::Value::Table(t));
    }
    root.insert("platforms".into(), toml::Value::Table(platforms));
    // The sandbox speaks plain HTTP on loopback: the one place it is allowed.
    let mut client = toml::Table::new();
    client.insert("allow_plain_http".into(), toml::Value::Boolean(true));
    root.insert("http_client".into(), toml::Value::Table(client));
    toml::to_string(&root).unwrap_or_default()
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shutdown();
    }
}

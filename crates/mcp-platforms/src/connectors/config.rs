//! Connector configuration: the shared HTTP client's limits, and per-platform overrides of base
//! URLs (so tests, the demo and benchmarks point at the sandbox) and of OAuth client settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

#[derive(Clone, Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct HttpClientConfig {
    /// Whole-request timeout of every platform call.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Idle connections kept per platform host.
    pub pool_max_idle_per_host: usize,
    pub user_agent: String,
    /// PEM files of extra certificate authorities to trust besides the built-in roots (a
    /// company proxy's CA, or the sandbox's HTTPS mode).
    pub extra_root_certs: Vec<std::path::PathBuf>,
    /// Allows `http://` platform URLs in `[platforms.*]`. Off: client secrets, codes and
    /// tokens cross the network only over TLS. Only a local fake of the platforms (the sandbox
    /// sets it in the overrides it prints) has a reason to turn it on.
    pub allow_plain_http: bool,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            pool_max_idle_per_host: 32,
            user_agent: concat!("mcp-worker/", env!("CARGO_PKG_VERSION")).into(),
            extra_root_certs: Vec::new(),
            allow_plain_http: false,
        }
    }
}

/// `[platforms.<name>]`: every field optional; what is left out keeps the platform's default.
#[derive(Clone, Deserialize, Serialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PlatformOverride {
    /// Base URL of the platform's API (e.g. `https://gmail.googleapis.com`); the connector adds
    /// the documented paths to it.
    pub api_base: Option<String>,
    /// OAuth authorize, token and revoke URLs.
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub revoke_url: Option<String>,
    /// OAuth client credentials of our app at this platform.
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    /// Scopes requested at connect time (joined as the platform expects: commas for Slack,
    /// spaces elsewhere).
    pub scopes: Option<Vec<String>>,
    /// Path of the identity call the health check makes (for the platforms whose API is not
    /// publicly documented: Otter, Loom, Granola, ZeroDB).
    pub identity_path: Option<String>,
    /// Version header value (`Notion-Version` for Notion, `API-Version` for Monday).
    pub api_version: Option<String>,
    /// The app's webhook secret, for the platforms that deliver every account's events to one
    /// app-level URL (`POST /webhooks/{platform}`): Slack's signing secret, Zoom's secret token,
    /// Notion's verification token; Monday's signing secret for the board webhooks the daemon
    /// creates. Also read from the systemd credential `signing-secret-<platform>`.
    pub signing_secret: Option<Secret>,
    /// The app's secret before its last rotation: while it is set, deliveries signed with it are
    /// taken beside those signed with `signing_secret`, so that the secret can be changed at the
    /// platform without refusing what is still in flight. Remove it once the platform signs
    /// with the new one. Also read from the systemd credential
    /// `previous-signing-secret-<platform>`.
    pub previous_signing_secret: Option<Secret>,
    /// Discord's application public key (64 hex digits): its app-level deliveries are signed
    /// with the matching Ed25519 key.
    pub public_key: Option<String>,
    /// Discord's bot token (`Authorization: Bot …`): channel messages are read as the app's
    /// bot, which a bot install added to the customer's guild. Also read from the systemd
    /// credential `bot-token-discord`.
    pub bot_token: Option<Secret>,
    /// Slack: the app is distributed to other organisations outside the Slack Marketplace and
    /// was installed since 29 May 2025, so `conversations.history` and
    /// `conversations.replies` allow it 1 request a minute and 15 messages a page
    /// (https://docs.slack.dev/changelog/2025/05/29/rate-limit-changes-for-non-marketplace-apps).
    /// Internal (customer-built) and Marketplace apps keep the method's tier (the default).
    pub non_marketplace_app: Option<bool>,
}

/// Checks `[platforms.*]` and `[http_client]`; the error is (key, message), naming the key.
pub fn check(
    http_client: &HttpClientConfig,
    platforms: &std::collections::BTreeMap<String, PlatformOverride>,
) -> Result<(), (String, String)> {
    if http_client.timeout.is_zero() {
        return Err((
            "http_client.timeout".into(),
            "must be longer than zero".into(),
        ));
    }
    for (name, p) in platforms {
        if super::Platform::parse(name).is_none() {
            let names: Vec<&str> = super::Platform::ALL.iter().map(|p| p.as_str()).collect();
            return Err((
                format!("platforms.{name}"),
                format!("no such platform ({})", names.join(", ")),
            ));
        }
        for (field, value) in [
            ("api_base", &p.api_base),
            ("authorize_url", &p.authorize_url),
            ("token_url", &p.token_url),
            ("revoke_url", &p.revoke_url),
        ] {
            let ok = value.as_deref().is_none_or(|v| {
                url::Url::parse(v).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
            });
            if !ok {
                return Err((
                    format!("platforms.{name}.{field}"),
                    "must be an http:// or https:// URL".into(),
                ));
            }
            let plain = value
                .as_deref()
                .and_then(|v| url::Url::parse(v).ok())
                .is_some_and(|u| u.scheme() == "http");
            if plain && !http_client.allow_plain_http {
                return Err((
                    format!("platforms.{name}.{field}"),
                    "is http://: the client secret, codes and tokens would cross the network in \
                     clear; use https://, or set http_client.allow_plain_http = true for a local \
                     fake of the platforms such as the sandbox"
                        .into(),
                ));
            }
        }
        if p.previous_signing_secret.is_some() && p.signing_secret.is_none() {
            return Err((
                format!("platforms.{name}.previous_signing_secret"),
                "is the secret before a rotation: set signing_secret (the new one) too".into(),
            ));
        }
        if let Some(k) = &p.public_key {
            let hex64 = k.len() == 64
                && k.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if name != "discord" || !hex64 {
                return Err((
                    format!("platforms.{name}.public_key"),
                    "only Discord has one: 32 bytes as 64 lowercase hex digits".into(),
                ));
            }
        }
        if p.bot_token.is_some() && name != "discord" {
            return Err((
                format!("platforms.{name}.bot_token"),
                "only Discord has one".into(),
            ));
        }
        if p.bot_token.as_ref().is_some_and(|s| s.is_empty()) {
            return Err((
                format!("platforms.{name}.bot_token"),
                "must not be empty (leave it out instead)".into(),
            ));
        }
        if p.non_marketplace_app.is_some() && name != "slack" {
            return Err((
                format!("platforms.{name}.non_marketplace_app"),
                "only Slack has one".into(),
            ));
        }
        if p.signing_secret.as_ref().is_some_and(|s| s.is_empty()) {
            return Err((
                format!("platforms.{name}.signing_secret"),
                "must not be empty (leave it out instead)".into(),
            ));
        }
    }
    Ok(())
}

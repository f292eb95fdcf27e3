//! Connectors: one file per platform, the `Connector` trait they implement, the registry that
//! holds all 13, and what they share (the error taxonomy, rate-limit parsing, one HTTP client).
//! A connector talks HTTP to its platform and classifies what comes back; it never touches the
//! database and never logs, prints or puts a credential into an error.

pub mod base;
pub mod config;
pub mod content;
pub mod event;
pub mod http;
pub mod lists;
pub mod meaning;
pub mod page;
pub mod ratelimit;
pub mod registry;
pub mod spec;
pub mod taxonomy;
pub mod unconfirmed;
pub mod watermark;

pub mod discord;
pub mod fireflies;
pub mod gmail;
pub mod monday;
pub mod notion;
pub mod outlook;
pub mod slack;
pub mod zerovoice;
pub mod zoom;

use std::time::Duration;

use futures::future::BoxFuture;

use crate::secret::Secret;

pub use base::{ClientAuth, OAuthSpec};
pub use config::{HttpClientConfig, PlatformOverride};
pub use http::ConnectorBuildError;
pub use page::{Page, PageRequest, SyncItem, CURSOR_EXPIRED};
pub use registry::Connectors;
pub use spec::Spec;
pub use taxonomy::{Action, ErrorType};

/// The registry: one line per platform, `Variant = "name" => its module's spec`. It makes the
/// `Platform` enum, `Platform::ALL` (in this order), `as_str` and `spec`.
macro_rules! platforms {
    ($($variant:ident = $name:literal => $spec:path,)*) => {
        /// The 13 platforms. `as_str()` is the name used in SQL (`core.integrations.platform`),
        /// config keys (`[platforms.gmail]`), metrics labels and URLs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Platform {
            $($variant,)*
        }

        impl Platform {
            pub const ALL: [Platform; [$(Platform::$variant),*].len()] = [$(Platform::$variant),*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Platform::$variant => $name,)*
                }
            }

            /// Everything the crate knows of this platform (`spec::Spec`).
            pub const fn spec(self) -> &'static Spec {
                match self {
                    $(Platform::$variant => &$spec,)*
                }
            }
        }
    };
}

platforms! {
    Gmail = "gmail" => gmail::SPEC,
    Outlook = "outlook" => outlook::SPEC,
    Slack = "slack" => slack::SPEC,
    Discord = "discord" => discord::SPEC,
    Zoom = "zoom" => zoom::SPEC,
    Fireflies = "fireflies" => fireflies::SPEC,
    Otter = "otter" => unconfirmed::OTTER,
    Loom = "loom" => unconfirmed::LOOM,
    Monday = "monday" => monday::SPEC,
    Notion = "notion" => notion::SPEC,
    Granola = "granola" => unconfirmed::GRANOLA,
    ZeroDb = "zerodb" => unconfirmed::ZERODB,
    ZeroVoice = "zerovoice" => zerovoice::SPEC,
}

/// How many platforms' specs `s` satisfy `$has` (a `const` expression), at compile time.
macro_rules! count_where {
    (|$s:ident| $has:expr) => {{
        let all = $crate::connectors::Platform::ALL;
        let (mut i, mut n) = (0, 0);
        while i < all.len() {
            let $s = all[i].spec();
            if $has {
                n += 1;
            }
            i += 1;
        }
        n
    }};
}
pub(crate) use count_where;

/// A constant list of the platforms whose spec `s` satisfies `$has`, in `Platform::ALL` order,
/// computed at compile time from the specs.
macro_rules! platforms_where {
    ($(#[$m:meta])* $vis:vis const $name:ident = |$s:ident| $has:expr;) => {
        $(#[$m])*
        $vis const $name: [$crate::connectors::Platform;
            $crate::connectors::count_where!(|$s| $has)] = {
            let all = $crate::connectors::Platform::ALL;
            let mut out = [all[0]; $crate::connectors::count_where!(|$s| $has)];
            let (mut i, mut n) = (0, 0);
            while i < all.len() {
                let $s = all[i].spec();
                if $has {
                    out[n] = all[i];
                    n += 1;
                }
                i += 1;
            }
            out
        };
    };
}
pub(crate) use platforms_where;

platforms_where! {
    /// The platforms whose records' links need the workspace's web address
    /// (`items::Context::web_base`) and whose identity call names it (`Identity::web_base`):
    /// Slack's `auth.test` `url`.
    pub const WEB_BASE_FROM_IDENTITY = |s| s.web_base_from_identity;
}

/// The model of one synced record of `platform` (its spec's `model`). `raw` is the listing
/// record as stored (`mcp.synced_items.raw`); `content` is what the platform's content call
/// answered, when it has been fetched (its shape per platform is in docs/ITEMS.md). Without
/// `content` the model holds what the listing has.
pub fn model(
    platform: Platform,
    raw: &serde_json::Value,
    content: Option<&serde_json::Value>,
    ctx: &crate::items::Context,
) -> crate::items::Model {
    (platform.spec().model)(raw, content, ctx)
}

impl Platform {
    /// Every platform's name beside a value of it: two arrays to bind for SQL's
    /// `unnest($1::text[], $2::…[])`.
    pub fn columns<T>(value: impl Fn(Platform) -> T) -> (Vec<&'static str>, Vec<T>) {
        Platform::ALL
            .iter()
            .map(|p| (p.as_str(), value(*p)))
            .unzip()
    }

    pub fn parse(s: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a platform authenticates our calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// OAuth 2.0 authorization code (+ refresh token where the platform issues one).
    OAuth2,
    /// A static API key sent as a bearer token or header.
    ApiKey,
    /// HTTP Basic with an account id and a secret (Twilio).
    Basic,
}

/// What a call is made with. Built from the vault at the last moment; never logged.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// An OAuth access token.
    Bearer(Secret),
    /// An API key.
    ApiKey(Secret),
    /// HTTP Basic: account id (not secret) and secret.
    Basic { user: String, secret: Secret },
}

/// What a successful health check learned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    /// The platform's id of the identity the credentials belong to (user, bot, account).
    pub account_id: Option<String>,
    /// The account the platform names in its events, where the identity call returns it
    /// (Zoom's `account_id`, Gmail's address, Slack's team, …): what routes app-level
    /// deliveries (`crate::accounts`). `None` where only the token answer names it.
    pub account: Option<String>,
    /// The workspace's own web address, where the identity call gives it and the records'
    /// links need it (Slack's `auth.test` `url`, https://docs.slack.dev/reference/methods/auth.test):
    /// what `crate::items::Context::web_base` reads, kept in the integration's settings.
    pub web_base: Option<String>,
}

/// A failed platform call, classified. `message` is safe to store and show: it carries the
/// platform's error code and a short reason, never a credential or a whole response body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{platform} {error_type}: {message}")]
pub struct ConnectorError {
    pub platform: Platform,
    pub error_type: ErrorType,
    /// HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The platform's own error code (`invalid_auth`, `rateLimitExceeded`, `20429`, …).
    pub code: Option<String>,
    pub message: String,
    /// How long the platform asked us to wait (Retry-After and its platform forms).
    pub retry_after: Option<Duration>,
}

impl ConnectorError {
    pub fn action(&self) -> Action {
        self.error_type.action()
    }
}

/// One platform.
pub trait Connector: Send + Sync + 'static {
    fn platform(&self) -> Platform;
    fn auth_kind(&self) -> AuthKind;
    /// The platform's OAuth settings; `None` for API-key and Basic platforms.
    fn oauth(&self) -> Option<&OAuthSpec> {
        None
    }
    /// The effective API base URL (after config overrides).
    fn api_base(&self) -> &str;
    /// The cheapest authenticated call that proves the credentials work (the identity endpoint).
    fn health_check<'a>(
        &'a self,
        creds: &'a Credentials,
    ) -> BoxFuture<'a, Result<Identity, ConnectorError>>;
    /// One page of the platform's incremental listing, from `cursor` (the beginning when
    /// `None`). A cursor the platform refuses as too old is an error for which
    /// `is_cursor_expired()` holds: start again with `None`. `settings` are the integration's
    /// (`core.integrations.settings`; Slack and Discord read their channels from it);
    /// `account` is the one it is connected to (Discord reads only that guild).
    fn list_page<'a>(
        &'a self,
        creds: &'a Credentials,
        cursor: Option<&'a str>,
        settings: &'a serde_json::Value,
        account: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, ConnectorError>>;
    /// The limit of the method the next `list_page` from `cursor` calls, where the platform
    /// limits that method on its own, tighter than the connection's overall rate (Slack's
    /// history methods for non-Marketplace apps). The caller takes a token from that bucket
    /// too before the call.
    fn method_limit(
        &self,
        _cursor: Option<&str>,
        _settings: &serde_json::Value,
    ) -> Option<MethodLimit> {
        None
    }
    /// Whether a listed item (`raw`, as `list_page` gave it) needs a content call before its
    /// model is whole: its body, transcript or blocks are not in the listing (docs/ITEMS.md).
    fn needs_content(&self, _raw: &serde_json::Value) -> bool {
        false
    }
    /// The content of one listed item: the platform's documented answer to its content call(s),
    /// in the shape `model` (the spec's item mapping) reads as `content` (docs/ITEMS.md). `pace` is awaited
    /// before every HTTP call (a content fetch may take several: pages of Notion blocks, a Zoom
    /// transcript's download); an error from it ends the fetch with that error. An item the
    /// platform no longer has is an error of type `NotFound`.
    fn fetch_content<'a>(
        &'a self,
        _creds: &'a Credentials,
        _raw: &'a serde_json::Value,
        _settings: &'a serde_json::Value,
        _pace: &'a Pace,
    ) -> BoxFuture<'a, Result<serde_json::Value, ConnectorError>> {
        Box::pin(async { Ok(serde_json::Value::Null) })
    }
    /// The limit of the content call's method, where the platform limits it on its own.
    fn content_limit(&self) -> Option<MethodLimit> {
        None
    }
}

/// Awaited before each HTTP call of a content fetch (the caller takes its rate-limit tokens
/// there); an error stops the fetch.
pub type Pace = dyn Fn() -> BoxFuture<'static, Result<(), ConnectorError>> + Send + Sync;

/// A platform's limit on one method, per connection: a token bucket of `capacity` refilled at
/// `per_sec`, shared by every daemon under the name `bucket`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MethodLimit {
    pub bucket: &'static str,
    pub capacity: f64,
    pub per_sec: f64,
}

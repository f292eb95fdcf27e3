//! What every platform connector is made of: the shared client, its effective base URL and
//! identity path (defaults overridden by `[platforms.<name>]`), and its OAuth settings.
//! It builds requests and reads responses; it must never log or format a credential.

use super::http::{self, RawResponse};
use super::{ConnectorError, Credentials, Platform, PlatformOverride};
use crate::secret::Secret;

/// How our app authenticates itself at a platform's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(client_id:client_secret)`.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

/// A platform's OAuth 2.0 settings, defaults merged with the config overrides.
#[derive(Debug, Clone)]
pub struct OAuthSpec {
    pub authorize_url: String,
    pub token_url: String,
    /// Where a token is revoked, if the platform has such an endpoint.
    pub revoke_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub client_auth: ClientAuth,
    /// A refresh returns a new refresh token that replaces the stored one (store it
    /// atomically: the old one may stop working at once).
    pub rotates_refresh_tokens: bool,
    /// Whether the platform supports PKCE (S256) on the authorization code flow.
    pub pkce: bool,
    pub scopes: Vec<String>,
    /// What joins the scopes in the authorize URL's `scope` parameter: a space (RFC 6749
    /// §3.3), or the platform's own (Slack's v2 authorize: a comma).
    pub scope_separator: &'static str,
    /// Extra authorize query parameters (`access_type=offline`, `owner=user`, …).
    pub extra_authorize_params: Vec<(String, String)>,
}

/// A platform's built-in defaults, before overrides.
pub struct Defaults {
    pub api_base: &'static str,
    /// Path of the identity call used by the health check.
    pub identity_path: &'static str,
    /// Version header value (`Notion-Version`, `API-Version`), where the platform has one.
    pub api_version: Option<&'static str>,
    /// The published request rate per connection for the list calls a sync makes, as a token
    /// bucket: (burst, per second); where none is published, a cautious one.
    pub rate: (f64, f64),
    pub oauth: Option<OAuthDefaults>,
}

pub struct OAuthDefaults {
    pub authorize_url: &'static str,
    pub token_url: &'static str,
    pub revoke_url: Option<&'static str>,
    pub client_auth: ClientAuth,
    pub rotates_refresh_tokens: bool,
    pub pkce: bool,
    pub scopes: &'static [&'static str],
    pub scope_separator: &'static str,
    pub extra_authorize_params: &'static [(&'static str, &'static str)],
}

/// The effective settings of one connector.
#[derive(Debug, Clone)]
pub struct Base {
    pub platform: Platform,
    pub client: reqwest::Client,
    /// The client of downloads that follow redirects themselves (`http::build_download_client`;
    /// the registry sets it, `new` starts with the shared client).
    pub downloads: reqwest::Client,
    pub api_base: String,
    pub identity_path: String,
    pub api_version: Option<String>,
    pub oauth: Option<OAuthSpec>,
    /// The app's bot token, where the platform reads as a bot (Discord).
    pub bot_token: Option<Secret>,
    /// Slack: the non-Marketplace limits on history methods apply (`non_marketplace_app`).
    pub limited_history: bool,
}

impl Base {
    /// Merges a platform's defaults with its `[platforms.<name>]` override.
    pub fn new(
        platform: Platform,
        client: reqwest::Client,
        d: &Defaults,
        o: &PlatformOverride,
    ) -> Base {
        let oauth = d.oauth.as_ref().map(|od| OAuthSpec {
            authorize_url: o
                .authorize_url
                .clone()
                .unwrap_or_else(|| od.authorize_url.into()),
            token_url: o.token_url.clone().unwrap_or_else(|| od.token_url.into()),
            revoke_url: o
                .revoke_url
                .clone()
                .or_else(|| od.revoke_url.map(String::from)),
            client_id: o.client_id.clone(),
            client_secret: o.client_secret.clone(),
            client_auth: od.client_auth,
            rotates_refresh_tokens: od.rotates_refresh_tokens,
            pkce: od.pkce,
            scope_separator: od.scope_separator,
            scopes: o
                .scopes
                .clone()
                .unwrap_or_else(|| od.scopes.iter().map(|s| s.to_string()).collect()),
            extra_authorize_params: od
                .extra_authorize_params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        Base {
            platform,
            downloads: client.clone(),
            client,
            api_base: o.api_base.clone().unwrap_or_else(|| d.api_base.into()),
            identity_path: o
                .identity_path
                .clone()
                .unwrap_or_else(|| d.identity_path.into()),
            api_version: o
                .api_version
                .clone()
                .or_else(|| d.api_version.map(String::from)),
            oauth,
            bot_token: o.bot_token.clone(),
            limited_history: o.non_marketplace_app.unwrap_or(false),
        }
    }

    /// The same settings with `downloads` as the client of self-following downloads.
    pub fn with_downloads(mut self, downloads: reqwest::Client) -> Base {
        self.downloads = downloads;
        self
    }

    pub fn url(&self, path: &str) -> String {
        http::join(&self.api_base, path)
    }

    /// `GET {api_base}{path}` with the credentials and extra headers.
    pub async fn get(
        &self,
        path: &str,
        creds: &Credentials,
        headers: &[(&str, &str)],
    ) -> Result<RawResponse, ConnectorError> {
        let mut req = http::authorize(self.client.get(self.url(path)), creds);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        http::send(self.platform, req).await
    }

    /// The identity call at the platform's identity path with no extra header: the user id at
    /// JSON pointer `pointer`, the account at `account`.
    pub async fn identity(
        &self,
        creds: &Credentials,
        pointer: &str,
        account: Option<&str>,
        classify: fn(&Base, &RawResponse) -> ConnectorError,
    ) -> Result<super::Identity, ConnectorError> {
        self.get_identity(&self.identity_path, creds, &[], pointer, account, classify)
            .await
    }

    /// The shape most identity calls share: `GET path`; a failure classified by the platform's
    /// `classify`; the account id read from the JSON answer at `pointer`.
    pub async fn get_identity(
        &self,
        path: &str,
        creds: &Credentials,
        headers: &[(&str, &str)],
        pointer: &str,
        account: Option<&str>,
        classify: fn(&Base, &RawResponse) -> ConnectorError,
    ) -> Result<super::Identity, ConnectorError> {
        let resp = self.get(path, creds, headers).await?;
        if !resp.is_success() {
            return Err(classify(self, &resp));
        }
        let v = resp
            .json()
            .ok_or_else(|| http::invalid_response(self.platform, &resp, "not JSON"))?;
        http::json_id(&v, pointer)
            .map(|id| super::Identity {
                account: account.and_then(|a| http::json_id(&v, a)),
                account_id: Some(id),
                web_base: None,
            })
            .ok_or_else(|| http::invalid_response(self.platform, &resp, "no account id"))
    }

    /// A request to `{api_base}{path}` without credentials (the platform adds its own form).
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<RawResponse, ConnectorError> {
        http::send(self.platform, req).await
    }
}

/// Implements `Connector` for a platform struct `$t(Base)` with an inherent
/// `async fn check(&self, &Credentials) -> Result<Identity, ConnectorError>` (and, with a third
/// argument, a module function `method_limit(&Base, cursor, settings)` for the per-method
/// limit of the next list call; with `; content`, the module functions
/// `needs_content(&Base, raw)`, `fetch_content(&Base, ContentRequest)` and
/// `content_limit(&Base)` of its content call).
macro_rules! connector_impl {
    ($t:ty, $auth:expr; content) => {
        connector_impl!(@impl $t, $auth,
            fn needs_content(&self, raw: &serde_json::Value) -> bool {
                needs_content(&self.0, raw)
            }
            fn fetch_content<'a>(
                &'a self,
                creds: &'a $crate::connectors::Credentials,
                raw: &'a serde_json::Value,
                settings: &'a serde_json::Value,
                pace: &'a $crate::connectors::Pace,
            ) -> futures::future::BoxFuture<
                'a,
                Result<serde_json::Value, $crate::connectors::ConnectorError>,
            > {
                let req = $crate::connectors::content::ContentRequest {
                    creds,
                    raw,
                    settings,
                    pace,
                };
                Box::pin(fetch_content(&self.0, req))
            }
            fn content_limit(&self) -> Option<$crate::connectors::MethodLimit> {
                content_limit(&self.0)
            }
        );
    };
    ($t:ty, $auth:expr, $limit:path) => {
        connector_impl!(@impl $t, $auth,
            fn method_limit(
                &self,
                cursor: Option<&str>,
                settings: &serde_json::Value,
            ) -> Option<$crate::connectors::MethodLimit> {
                $limit(&self.0, cursor, settings)
            }
        );
    };
    ($t:ty, $auth:expr) => {
        connector_impl!(@impl $t, $auth,);
    };
    (@impl $t:ty, $auth:expr, $($extra:tt)*) => {
        impl $crate::connectors::Connector for $t {
            fn platform(&self) -> $crate::connectors::Platform {
                self.0.platform
            }
            fn auth_kind(&self) -> $crate::connectors::AuthKind {
                $auth
            }
            fn oauth(&self) -> Option<&$crate::connectors::OAuthSpec> {
                self.0.oauth.as_ref()
            }
            fn api_base(&self) -> &str {
                &self.0.api_base
            }
            fn health_check<'a>(
                &'a self,
                creds: &'a $crate::connectors::Credentials,
            ) -> futures::future::BoxFuture<
                'a,
                Result<$crate::connectors::Identity, $crate::connectors::ConnectorError>,
            > {
                Box::pin(self.check(creds))
            }
            fn list_page<'a>(
                &'a self,
                creds: &'a $crate::connectors::Credentials,
                cursor: Option<&'a str>,
                settings: &'a serde_json::Value,
                account: Option<&'a str>,
            ) -> futures::future::BoxFuture<
                'a,
                Result<$crate::connectors::Page, $crate::connectors::ConnectorError>,
            > {
                let req = $crate::connectors::page::PageRequest {
                    creds,
                    cursor,
                    settings,
                    account,
                };
                Box::pin(page(&self.0, req))
            }
            $($extra)*
        }
    };
}
pub(crate) use connector_impl;

//! The registry: all 13 connectors built once from the config, sharing one HTTP client, with
//! `[platforms.<name>]` overrides applied. It only builds and hands out connectors; it must
//! never make a platform call or read credentials.

use std::collections::HashMap;
use std::sync::Arc;

use super::base::{Base, Defaults};
use super::config::HttpClientConfig;
use super::http::{self, ConnectorBuildError};
use super::{Connector, Platform, PlatformOverride};

/// All 13 connectors.
#[derive(Clone)]
pub struct Connectors {
    client: reqwest::Client,
    by_platform: HashMap<Platform, Arc<dyn Connector>>,
}

impl std::fmt::Debug for Connectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connectors")
            .field("platforms", &self.by_platform.len())
            .finish()
    }
}

/// Whether a platform connects with OAuth (the others take an API key or Basic credentials).
pub fn uses_oauth(p: Platform) -> bool {
    defaults(p).oauth.is_some()
}

/// The platforms that connect with OAuth, in `Platform::ALL` order.
pub fn oauth_platforms() -> Vec<Platform> {
    Platform::ALL
        .into_iter()
        .filter(|p| uses_oauth(*p))
        .collect()
}

/// A platform's built-in defaults.
pub fn defaults(p: Platform) -> Defaults {
    (p.spec().defaults)()
}

fn build(b: Base) -> Arc<dyn Connector> {
    (b.platform.spec().connector)(b)
}

fn check_url(
    platform: &str,
    field: &'static str,
    v: &Option<String>,
) -> Result<(), ConnectorBuildError> {
    if let Some(v) = v {
        let ok = url::Url::parse(v)
            .map(|u| matches!(u.scheme(), "http" | "https"))
            .unwrap_or(false);
        if !ok {
            return Err(ConnectorBuildError::Invalid {
                platform: platform.into(),
                field,
                reason: "must be an http:// or https:// URL".into(),
            });
        }
    }
    Ok(())
}

impl Connectors {
    /// Builds the shared client and all 13 connectors, applying `[platforms.<name>]`.
    pub fn from_config(
        http_client: &HttpClientConfig,
        platforms: &std::collections::BTreeMap<String, PlatformOverride>,
    ) -> Result<Connectors, ConnectorBuildError> {
        for (name, o) in platforms {
            if Platform::parse(name).is_none() {
                return Err(ConnectorBuildError::Invalid {
                    platform: name.clone(),
                    field: "name",
                    reason: "no such platform".into(),
                });
            }
            check_url(name, "api_base", &o.api_base)?;
            check_url(name, "authorize_url", &o.authorize_url)?;
            check_url(name, "token_url", &o.token_url)?;
            check_url(name, "revoke_url", &o.revoke_url)?;
        }
        let client = http::build_client(http_client)?;
        let downloads = http::build_download_client(http_client)?;
        let none = PlatformOverride::default();
        let by_platform = Platform::ALL
            .into_iter()
            .map(|p| {
                let o = platforms.get(p.as_str()).unwrap_or(&none);
                let base =
                    Base::new(p, client.clone(), &defaults(p), o).with_downloads(downloads.clone());
                (p, build(base))
            })
            .collect();
        Ok(Connectors {
            client,
            by_platform,
        })
    }

    /// The connector of a platform (all 13 are always present).
    pub fn get(&self, p: Platform) -> Arc<dyn Connector> {
        match self.by_platform.get(&p) {
            Some(c) => c.clone(),
            // Unreachable: from_config builds every platform. Build a default one rather
            // than panic.
            None => build(Base::new(
                p,
                self.client.clone(),
                &defaults(p),
                &PlatformOverride::default(),
            )),
        }
    }

    /// These connectors with `connector` in place of its platform's: a platform served by code
    /// of the embedder's own (a test's connector that wraps the built one, a platform reached
    /// through a proxy of its own). Makes no call.
    pub fn with_connector(mut self, connector: Arc<dyn Connector>) -> Connectors {
        self.by_platform.insert(connector.platform(), connector);
        self
    }

    /// The shared HTTP client (for OAuth and sync calls made outside the connectors).
    /// Platform `p`'s API with an integration's bearer `token` (the subscription calls).
    pub fn api<'a>(
        &'a self,
        p: Platform,
        token: &'a crate::secret::Secret,
    ) -> super::http::Api<'a> {
        super::http::Api {
            platform: p,
            client: self.client(),
            api_base: self.get(p).api_base().to_string(),
            token,
        }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

//! Otter: API key as a bearer token and a health check `GET {api_base}{identity_path}`
//! (`/v1/me` by default). It must never put the API key or a whole body into an error.
//!
//! UNCONFIRMED — Otter.ai has no widely public API; the base URL and identity path are modelled on the platform table and must be confirmed: set `[platforms.otter] api_base` and `identity_path` once confirmed.

use super::base::{connector_impl, Base, Defaults};
use super::{unconfirmed, AuthKind, ConnectorError, Credentials, Identity};

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://otter.ai/forward/api",
        identity_path: "/v1/me",
        api_version: None,
        oauth: None,
    }
}

pub struct Otter(pub Base);

impl Otter {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        unconfirmed::check(&self.0, creds).await
    }
}

connector_impl!(Otter, AuthKind::ApiKey);

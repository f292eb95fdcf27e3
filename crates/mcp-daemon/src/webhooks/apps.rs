//! The secrets of the app-level webhook URLs (`POST /webhooks/{platform}`): one per platform,
//! from `[platforms.<platform>] signing_secret` (Discord: `public_key`), never from the
//! database. Gmail's push is checked with the `[webhooks]` JWKS and audience instead.

use std::collections::{BTreeMap, HashMap};

use mcp_platforms::connectors::{Platform, PlatformOverride};
use mcp_platforms::secret::Secret;

/// One platform's app keys.
#[derive(Debug, Default, Clone)]
pub struct AppKeys {
    pub secret: Option<Secret>,
    /// The secret before a rotation, taken beside `secret` while configured.
    pub previous: Option<Secret>,
    /// Discord's application public key, hex.
    pub public_key: Option<String>,
}

/// The app keys of every platform that has them configured: the app-level platforms, and those
/// whose daemon-made webhooks are signed with the app's secret (Monday).
#[derive(Debug, Default, Clone)]
pub struct AppSecrets(HashMap<Platform, AppKeys>);

impl AppSecrets {
    pub fn from_platforms(platforms: &BTreeMap<String, PlatformOverride>) -> AppSecrets {
        let mut keys = HashMap::new();
        for p in Platform::ALL {
            if let Some(o) = platforms.get(p.as_str()) {
                if o.signing_secret.is_some() || o.public_key.is_some() {
                    keys.insert(
                        p,
                        AppKeys {
                            secret: o.signing_secret.clone(),
                            previous: o.previous_signing_secret.clone(),
                            public_key: o.public_key.clone(),
                        },
                    );
                }
            }
        }
        AppSecrets(keys)
    }

    /// `p`'s keys; `None` when its app-level URL is not configured.
    pub fn get(&self, p: Platform) -> Option<&AppKeys> {
        self.0.get(&p)
    }

    /// Sets `p`'s keys (tests and the bench configure them directly).
    pub fn insert(&mut self, p: Platform, keys: AppKeys) {
        self.0.insert(p, keys);
    }
}

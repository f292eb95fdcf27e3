//! The kinds that act on one integration, each keeping one live job per integration (its
//! unique key `<kind>:<integration_id>`).

use std::time::Duration;

use mcp_queue::catalog::RetryPolicy;
use mcp_queue::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Checks one integration against its platform's identity endpoint and records the result.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// core.integrations.id of the integration to check.
    pub integration_id: uuid::Uuid,
}

impl Kind for HealthCheck {
    const KIND: &'static str = "health_check";
    const DESCRIPTION: &'static str =
        "Checks one integration against its platform's identity endpoint and records the result.";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        timeout: Duration::from_secs(30),
        backoff_base: Duration::from_secs(10),
        backoff_max: Duration::from_secs(300),
    };
    const CONCURRENCY: Option<usize> = Some(50);

    fn unique_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::KIND, self.integration_id))
    }
}

/// Reads one integration's records from its platform into mcp.synced_items, resumable page by page.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sync {
    /// core.integrations.id of the integration to sync.
    pub integration_id: uuid::Uuid,
}

impl Kind for Sync {
    const KIND: &'static str = "sync";
    const DESCRIPTION: &'static str =
        "Reads one integration's records from its platform into mcp.synced_items, resumable page by page.";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        timeout: Duration::from_secs(1800),
        backoff_base: Duration::from_secs(30),
        backoff_max: Duration::from_secs(600),
    };
    const CONCURRENCY: Option<usize> = Some(100);

    fn unique_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::KIND, self.integration_id))
    }
}

/// Lists one integration's items in full and tombstones what the platform no longer has.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reconcile {
    /// core.integrations.id of the integration to reconcile.
    pub integration_id: uuid::Uuid,
}

impl Kind for Reconcile {
    const KIND: &'static str = "reconcile";
    const DESCRIPTION: &'static str =
        "Lists one integration's items in full and tombstones what the platform no longer has.";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        timeout: Duration::from_secs(7200),
        backoff_base: Duration::from_secs(60),
        backoff_max: Duration::from_secs(1800),
    };
    const CONCURRENCY: Option<usize> = Some(4);

    fn unique_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::KIND, self.integration_id))
    }
}

/// Refreshes one integration's OAuth access token (and rotated refresh token).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRefresh {
    /// core.integrations.id whose token to refresh.
    pub integration_id: uuid::Uuid,
}

impl Kind for TokenRefresh {
    const KIND: &'static str = "token_refresh";
    const DESCRIPTION: &'static str =
        "Refreshes one integration's OAuth access token (and rotated refresh token).";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        timeout: Duration::from_secs(60),
        backoff_base: Duration::from_secs(30),
        backoff_max: Duration::from_secs(600),
    };
    const CONCURRENCY: Option<usize> = Some(50);

    fn unique_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::KIND, self.integration_id))
    }
}

/// Makes an integration's webhook subscriptions at its platform (Gmail watch, Graph subscription, Monday board webhooks).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSubscribe {
    /// core.integrations.id whose subscriptions to make.
    pub integration_id: uuid::Uuid,
}

impl Kind for WebhookSubscribe {
    const KIND: &'static str = "webhook_subscribe";
    const DESCRIPTION: &'static str =
        "Makes an integration's webhook subscriptions at its platform (Gmail watch, Graph subscription, Monday board webhooks).";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 8,
        timeout: Duration::from_secs(60),
        backoff_base: Duration::from_secs(60),
        backoff_max: Duration::from_secs(3600),
    };

    fn unique_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::KIND, self.integration_id))
    }
}

/// Removes a superseded integration's webhook subscriptions at its platform with its own token, then deletes the token.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookUnsubscribe {
    /// core.integrations.id of the revoked integration whose subscriptions to remove.
    pub integration_id: uuid::Uuid,
}

impl Kind for WebhookUnsubscribe {
    const KIND: &'static str = "webhook_unsubscribe";
    const DESCRIPTION: &'static str =
        "Removes a superseded integration's webhook subscriptions at its platform with its own token, then deletes the token.";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        timeout: Duration::from_secs(60),
        backoff_base: Duration::from_secs(60),
        backoff_max: Duration::from_secs(1800),
    };

    fn unique_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::KIND, self.integration_id))
    }
}

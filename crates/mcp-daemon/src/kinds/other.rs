//! The engine's own kinds and those of webhooks, notifications and the item model.

use std::time::Duration;

use mcp_queue::catalog::RetryPolicy;
use mcp_queue::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Does nothing: sleeps sleep_ms, fails its first fail_times attempts.
#[derive(Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Noop {
    #[serde(default)]
    /// How long to sleep, in milliseconds (default 0).
    #[schemars(range(max = 3_600_000))]
    pub sleep_ms: u64,
    #[serde(default)]
    /// How many attempts fail before one succeeds (default 0).
    #[schemars(range(max = 1000))]
    pub fail_times: u32,
}

impl Kind for Noop {
    const KIND: &'static str = "noop";
    const DESCRIPTION: &'static str =
        "Does nothing: sleeps sleep_ms, fails its first fail_times attempts.";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        timeout: Duration::from_secs(30),
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(600),
    };
}

/// Deletes finished jobs, old health checks, integration errors and processed webhook events past their retention ages.
#[derive(Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Prune {
    /// Override retention.completed, in seconds.
    pub completed_older_than_s: Option<u64>,
    /// Override retention.cancelled, in seconds.
    pub cancelled_older_than_s: Option<u64>,
    /// Override retention.discarded, in seconds.
    pub discarded_older_than_s: Option<u64>,
    /// Override retention.batch_size.
    #[schemars(range(min = 1, max = 100_000))]
    pub batch_size: Option<u32>,
}

impl Kind for Prune {
    const KIND: &'static str = "prune";
    const DESCRIPTION: &'static str =
        "Deletes finished jobs, old health checks, integration errors and processed webhook events past their retention ages.";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        timeout: Duration::from_secs(1800),
        backoff_base: Duration::from_secs(60),
        backoff_max: Duration::from_secs(3600),
    };
    const DEFAULT_SCHEDULE: Option<&'static str> = Some("0 3 * * *");
}

/// Models the stored items written before the current item model, resumably.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemsBackfill {
    #[serde(default)]
    /// Model every row again, whatever its model's version (after changing [items.<platform>] text).
    pub all: bool,
}

impl Kind for ItemsBackfill {
    const KIND: &'static str = "items_backfill";
    const DESCRIPTION: &'static str =
        "Models the stored items written before the current item model, resumably.";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 10,
        timeout: Duration::from_secs(300),
        backoff_base: Duration::from_secs(10),
        backoff_max: Duration::from_secs(600),
    };
    const CONCURRENCY: Option<usize> = Some(1);

    fn unique_key(&self) -> Option<String> {
        Some(Self::KIND.into())
    }
}

/// Processes stored webhook events: revocations revoke, other events queue one sync.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookProcess {
    /// mcp.webhook_events.id of one event to process.
    pub event_id: Option<i64>,
    #[serde(default)]
    /// mcp.webhook_events.id of the events to process (the intake's form).
    pub event_ids: Vec<i64>,
}

impl Kind for WebhookProcess {
    const KIND: &'static str = "webhook_process";
    const DESCRIPTION: &'static str =
        "Processes stored webhook events: revocations revoke, other events queue one sync.";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        timeout: Duration::from_secs(30),
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(300),
    };
}

/// Renews one expiring webhook subscription (Gmail watch, Graph subscription).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRenew {
    /// mcp.webhooks.id of the subscription to renew.
    pub webhook_id: uuid::Uuid,
}

impl Kind for WebhookRenew {
    const KIND: &'static str = "webhook_renew";
    const DESCRIPTION: &'static str =
        "Renews one expiring webhook subscription (Gmail watch, Graph subscription).";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        timeout: Duration::from_secs(60),
        backoff_base: Duration::from_secs(60),
        backoff_max: Duration::from_secs(1800),
    };

    fn unique_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::KIND, self.webhook_id))
    }
}

/// Delivers one notification to one endpoint (Standard Webhooks signature), with its retry schedule.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyDeliver {
    /// mcp.notifications.id: the webhook-id of every delivery of it.
    pub notification_id: uuid::Uuid,
    /// mcp.notification_endpoints.id to deliver to.
    pub endpoint_id: uuid::Uuid,
}

impl Kind for NotifyDeliver {
    const KIND: &'static str = "notify_deliver";
    const DESCRIPTION: &'static str =
        "Delivers one notification to one endpoint (Standard Webhooks signature), with its retry schedule.";
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 8,
        timeout: Duration::from_secs(30),
        backoff_base: Duration::from_secs(5),
        backoff_max: Duration::from_secs(36000),
    };
    const CONCURRENCY: Option<usize> = Some(64);

    fn unique_key(&self) -> Option<String> {
        Some(format!(
            "{}:{}:{}",
            Self::KIND,
            self.notification_id,
            self.endpoint_id
        ))
    }
}

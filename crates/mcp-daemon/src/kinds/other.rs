//! The engine's own kinds and those of webhooks, notifications and the item model.

kind! {
    #[derive(Default)]
    Noop = "noop": "Does nothing: sleeps sleep_ms, fails its first fail_times attempts.",
    policy(3, 30, 1, 600);
    {
        #[serde(default)]
        /// How long to sleep, in milliseconds (default 0).
        #[schemars(range(max = 3_600_000))]
        pub sleep_ms: u64,
        #[serde(default)]
        /// How many attempts fail before one succeeds (default 0).
        #[schemars(range(max = 1000))]
        pub fail_times: u32,
    }
}

kind! {
    #[derive(Default)]
    Prune = "prune": "Deletes finished jobs, old health checks, integration errors and processed webhook events past their retention ages.",
    policy(3, 1800, 60, 3600), schedule "0 3 * * *";
    {
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
}

kind! {
    ItemsBackfill = "items_backfill": "Models the stored items written before the current item model, resumably.",
    policy(10, 300, 10, 600), concurrency 1, unique [];
    {
        #[serde(default)]
        /// Model every row again, whatever its model's version (after changing [items.<platform>] text).
        pub all: bool,
    }
}

kind! {
    WebhookProcess = "webhook_process": "Processes stored webhook events: revocations revoke, other events queue one sync.",
    policy(5, 30, 1, 300);
    {
        /// mcp.webhook_events.id of one event to process.
        pub event_id: Option<i64>,
        #[serde(default)]
        /// mcp.webhook_events.id of the events to process (the intake's form).
        pub event_ids: Vec<i64>,
    }
}

kind! {
    WebhookRenew = "webhook_renew": "Renews one expiring webhook subscription (Gmail watch, Graph subscription).",
    policy(5, 60, 60, 1800), unique [webhook_id];
    {
        /// mcp.webhooks.id of the subscription to renew.
        pub webhook_id: uuid::Uuid,
    }
}

kind! {
    NotifyDeliver = "notify_deliver": "Delivers one notification to one endpoint (Standard Webhooks signature), with its retry schedule.",
    policy(8, 30, 5, 36000), concurrency 64, unique [notification_id, endpoint_id];
    {
        /// mcp.notifications.id: the webhook-id of every delivery of it.
        pub notification_id: uuid::Uuid,
        /// mcp.notification_endpoints.id to deliver to.
        pub endpoint_id: uuid::Uuid,
    }
}

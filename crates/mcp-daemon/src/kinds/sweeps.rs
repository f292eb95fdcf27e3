//! The periodic sweeps: each enqueues the work of one kind for every integration due, on its
//! default cron schedule.

kind! {
    HealthSweep = "health_sweep": "Enqueues a health_check for every integration in service, spread over a window.",
    policy(3, 300, 30, 600), schedule "0 */6 * * *";
    seconds spread_s "Override health.spread, in seconds (0: all checks due at once)."
}

kind! {
    SyncSweep = "sync_sweep": "Enqueues a sync for every integration due, on the polling fallback interval when its webhook is silent.",
    policy(3, 300, 30, 300), schedule "*/5 * * * *";
    seconds spread_s "Override sync.spread, in seconds (0: all due syncs at once)."
}

kind! {
    ReconcileSweep = "reconcile_sweep": "Enqueues a reconcile for every integration whose last full listing is older than its interval.",
    policy(3, 300, 30, 300), schedule "23 * * * *";
    seconds spread_s "Override reconcile.spread, in seconds (0: all due reconciles at once)."
}

kind! {
    TokenRefreshSweep = "token_refresh_sweep": "Enqueues a token_refresh for every token that expires within the refresh window.",
    policy(3, 300, 30, 600), schedule "0 * * * *";
    seconds ahead_s "Override refresh.ahead, in seconds."
}

kind! {
    WebhookRenewSweep = "webhook_renew_sweep": "Enqueues a webhook_renew for every subscription that expires soon.",
    policy(3, 300, 30, 600), schedule "30 * * * *";
    seconds ahead_s "Override webhooks.renew_ahead, in seconds."
}

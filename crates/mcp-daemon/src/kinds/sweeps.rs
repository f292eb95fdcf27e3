//! The periodic sweeps: each enqueues the work of one kind for every integration due, on its
//! default cron schedule.

kind! {
    #[derive(Default)]
    HealthSweep = "health_sweep": "Enqueues a health_check for every integration in service, spread over a window.",
    policy(3, 300, 30, 600), schedule "0 */6 * * *";
    {
        /// Override health.spread, in seconds (0: all checks due at once).
        pub spread_s: Option<u64>,
    }
}

kind! {
    #[derive(Default)]
    SyncSweep = "sync_sweep": "Enqueues a sync for every integration due, on the polling fallback interval when its webhook is silent.",
    policy(3, 300, 30, 300), schedule "*/5 * * * *";
    {
        /// Override sync.spread, in seconds (0: all due syncs at once).
        pub spread_s: Option<u64>,
    }
}

kind! {
    #[derive(Default)]
    ReconcileSweep = "reconcile_sweep": "Enqueues a reconcile for every integration whose last full listing is older than its interval.",
    policy(3, 300, 30, 300), schedule "23 * * * *";
    {
        /// Override reconcile.spread, in seconds (0: all due reconciles at once).
        pub spread_s: Option<u64>,
    }
}

kind! {
    #[derive(Default)]
    TokenRefreshSweep = "token_refresh_sweep": "Enqueues a token_refresh for every token that expires within the refresh window.",
    policy(3, 300, 30, 600), schedule "0 * * * *";
    {
        /// Override refresh.ahead, in seconds.
        pub ahead_s: Option<u64>,
    }
}

kind! {
    #[derive(Default)]
    WebhookRenewSweep = "webhook_renew_sweep": "Enqueues a webhook_renew for every subscription that expires soon.",
    policy(3, 300, 30, 600), schedule "30 * * * *";
    {
        /// Override webhooks.renew_ahead, in seconds.
        pub ahead_s: Option<u64>,
    }
}

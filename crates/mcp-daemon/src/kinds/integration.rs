//! The kinds that act on one integration, each keeping one live job per integration (its
//! unique key `<kind>:<integration_id>`).

kind! {
    HealthCheck = "health_check": "Checks one integration against its platform's identity endpoint and records the result.",
    policy(3, 30, 10, 300), concurrency 50;
    integration "core.integrations.id of the integration to check."
}

kind! {
    Sync = "sync": "Reads one integration's records from its platform into mcp.synced_items, resumable page by page.",
    policy(5, 1800, 30, 600), concurrency 100;
    integration "core.integrations.id of the integration to sync."
}

kind! {
    Reconcile = "reconcile": "Lists one integration's items in full and tombstones what the platform no longer has.",
    policy(5, 7200, 60, 1800), concurrency 4;
    integration "core.integrations.id of the integration to reconcile."
}

kind! {
    TokenRefresh = "token_refresh": "Refreshes one integration's OAuth access token (and rotated refresh token).",
    policy(3, 60, 30, 600), concurrency 50;
    integration "core.integrations.id whose token to refresh."
}

kind! {
    WebhookSubscribe = "webhook_subscribe": "Makes an integration's webhook subscriptions at its platform (Gmail watch, Graph subscription, Monday board webhooks).",
    policy(8, 60, 60, 3600);
    integration "core.integrations.id whose subscriptions to make."
}

kind! {
    WebhookUnsubscribe = "webhook_unsubscribe": "Removes a superseded integration's webhook subscriptions at its platform with its own token, then deletes the token.",
    policy(5, 60, 60, 1800);
    integration "core.integrations.id of the revoked integration whose subscriptions to remove."
}

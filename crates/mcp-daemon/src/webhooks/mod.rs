//! Webhook intake's storage side: registered webhooks and their secrets (`store.rs`), verified
//! events grouped into `webhook_process` jobs (`batcher.rs`), their processing (`process.rs`),
//! the renewal of expiring subscriptions (`renew.rs`), the subscriptions made at connect
//! (`subscriptions.rs`, Monday's board webhooks in `monday.rs`) and Notion's subscription
//! verification token (`notion.rs`). Verification itself (the platforms' signature schemes) is
//! `mcp_platforms::webhooks`; the HTTP side is `crate::http::webhooks`.

mod apps;
pub mod batcher;
mod config;
mod made;
mod monday;
pub mod notion;
pub mod process;
pub mod registration;
pub mod renew;
mod store;
pub mod subscriptions;

pub use apps::{AppKeys, AppSecrets};
pub use config::WebhooksConfig;
pub use mcp_platforms::webhooks::{
    parse, url_secret, verify, Delivery, GmailKeys, Handshake, Keys, KeysError, Parsed, Refusal,
    PLATFORMS,
};
pub use store::{
    ensure_app_route, lookup, register, register_secret_in_url, register_with_id, route, Stored,
    WebhookError, WebhookRow, LOOKUP_SQL, ROUTE_SQL,
};

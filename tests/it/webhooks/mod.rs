//! The webhook intake end to end: the real router on loopback, a real database, deliveries
//! signed as each platform signs them (fixtures: `mcp_testkit::webhooks`).

pub use mcp_testkit::webhooks::*;

mod app_level;
mod cli;
mod documented;
mod gmail_keys;
mod handshakes;
mod intake;
mod monday_secret;
mod notion_verification;
mod outlook_dedup;
mod replay;
mod signed;

//! mcp-platforms: the 13 SaaS platforms as the daemon meets them over HTTP. Connectors (health
//! calls, listings, the 13-type error taxonomy, rate-limit signals), the OAuth client, the
//! webhook signature schemes and event parsing, and the item model (`items`: every platform's
//! records in one readable shape). No database: what is stored, and where, is the daemon's
//! business.

pub mod accounts;
pub mod connectors;
pub mod items;
pub mod oauth;
pub mod secret;
pub mod webhooks;

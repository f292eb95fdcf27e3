//! mcp-daemon: the daemon's library. Integrations and their states, credentials and the vault,
//! the job kinds' types, the HTTP surface (metrics, probes, integrations, webhook intake), config.
//! The queue engine is `mcp_queue`; the platforms are `mcp_platforms`; the handlers and the
//! daemon's run are `mcp_handlers`.
//! See docs/ARCHITECTURE.md for the map of crates and modules and the invariants they keep.

pub mod api_tokens;
pub mod args;
pub mod assistant;
pub mod config;
pub mod connections;
pub mod credentials;
pub mod db;
pub mod http;
pub mod integration_state;
pub mod integrations;
pub mod items;
pub mod keys;
pub mod kinds;
pub mod listener;
pub mod metrics;
pub mod notify;
pub mod replica;
pub mod sdnotify;
pub mod sync;
pub mod telemetry;
pub mod vault;
pub mod webhooks;

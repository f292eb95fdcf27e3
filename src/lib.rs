//! mcp-worker: a daemon that runs jobs from the Postgres table `mcp.sync_jobs`.
//! See docs/ARCHITECTURE.md for the map of modules and the invariants they keep.

pub mod bench;
pub mod bench_day;
pub mod bench_day_probe;
pub mod bench_health;
pub mod bench_history;
pub mod bench_oauth;
pub mod bench_refresh;
pub mod bench_sync;
pub mod bench_webhooks;
pub mod catalog;
pub mod config;
pub mod connections;
pub mod connectors;
pub mod credentials;
pub mod daemon;
pub mod db;
pub mod demo;
pub mod handlers;
pub mod http;
pub mod integrations;
pub mod keys;
pub mod metrics;
pub mod oauth;
pub mod queue;
pub mod sandbox;
pub mod scheduler;
pub mod schema;
pub mod sdnotify;
pub mod secret;
pub mod sync;
pub mod telemetry;
pub mod vault;
pub mod webhooks;
pub mod worker;

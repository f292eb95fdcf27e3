//! Integration tests: every test talks to a real PostgreSQL on its own database.

mod alerts;
mod architecture;
mod common;
mod concurrency;
mod connectors;
mod credentials;
mod cron;
mod daemon;
mod demo;
mod engine;
mod health;
mod integrations;
mod items;
mod notify;
mod notify_proxy;
mod oauth;
mod ops;
mod outage;
mod plans;
mod platform_docs;
mod prometheus;
mod sql;
mod sync;
mod tokens;
mod vault_keys;
mod webhooks;

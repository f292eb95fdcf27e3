//! Integration tests: every test talks to a real PostgreSQL on its own database.

mod common;
mod cron;
mod daemon;
mod engine;
mod integrations;
mod ops;
mod sql;

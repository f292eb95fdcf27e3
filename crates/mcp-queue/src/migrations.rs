//! The engine's own migrations (`crates/mcp-queue/migrations/`): `mcp.sync_jobs` and its
//! partitions, the catalogue table, and the functions that enqueue, claim, complete, rescue,
//! prune, cancel, retry and check jobs. They share one numbering and one history table with the
//! application's own migrations: `with` merges the two, and the application runs the result.
//! A released migration is never edited; a number belongs to one of the two sets.

use sqlx::migrate::Migrator;

/// The engine's migrations.
pub static ENGINE: Migrator = sqlx::migrate!("./migrations");

/// The engine's migrations and `app`'s, in one order by version.
pub fn with(app: &Migrator) -> Migrator {
    Migrator::with_migrations(ENGINE.iter().chain(app.iter()).cloned().collect())
}

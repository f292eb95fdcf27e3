//! The demo's database: the demo seeds 13 fake integrations, arms faults and sends alerts, so
//! it runs only in a database that holds nothing else, never in someone's. One that is empty
//! (no schema of the product's, no migrations) is taken and marked as the demo's (a comment on
//! the database); one already so marked is taken again; anything else is refused with a
//! sentence that says why and what to do. `demo` clears what it wrote when it ends unless
//! asked to keep it (`--keep`), leaving an empty, marked database.

use sqlx::{Connection, PgConnection};

/// The comment that marks a database as the demo's.
pub const MARK: &str = "mcp-worker demo database: the demo may write into it and clear it";

#[derive(Debug, thiserror::Error)]
pub enum DemoDbError {
    #[error(
        "the demo writes 13 fake integrations, their events and alerts, so it runs only in a \
         database of its own, and {database} holds {what}: it was not touched. Give the demo an \
         empty database: `createdb mcp_demo` and DATABASE_URL=…/mcp_demo (`scripts/run demo` \
         does this)"
    )]
    NotTheDemos { database: String, what: String },
    #[error("cannot mark {database} as the demo's ({source}): the demo needs to own its database")]
    Mark {
        database: String,
        source: sqlx::Error,
    },
    #[error("the demo's database: {0}")]
    Query(#[from] sqlx::Error),
}

/// Takes the database of `url` for the demo, or refuses it (see the module's text).
pub async fn claim(url: &str) -> Result<(), DemoDbError> {
    let mut c = PgConnection::connect(url).await?;
    let (database, mark, schemas, migrated): (String, Option<String>, i64, bool) = sqlx::query_as(
        "SELECT current_database(), \
                    shobj_description((SELECT oid FROM pg_database \
                                       WHERE datname = current_database()), 'pg_database'), \
                    (SELECT count(*) FROM pg_namespace WHERE nspname IN ('core', 'mcp', 'ops')), \
                    to_regclass('public._sqlx_migrations') IS NOT NULL",
    )
    .fetch_one(&mut c)
    .await?;
    if mark.as_deref() == Some(MARK) {
        return Ok(());
    }
    if schemas > 0 || migrated {
        let what: Option<i64> = if schemas > 0 {
            sqlx::query_scalar("SELECT count(*) FROM core.workspaces")
                .fetch_optional(&mut c)
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        return Err(DemoDbError::NotTheDemos {
            database,
            what: match what {
                Some(n) => format!("mcp-worker's tables with {n} workspace(s)"),
                None => "tables of its own".into(),
            },
        });
    }
    let quoted = database.replace('"', "\"\"");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "COMMENT ON DATABASE \"{quoted}\" IS '{MARK}'"
    )))
    .execute(&mut c)
    .await
    .map_err(|source| DemoDbError::Mark { database, source })?;
    Ok(())
}

/// Removes what the demo wrote (its schemas and the migrations' table); the database stays,
/// empty and marked.
pub async fn clear(url: &str) -> Result<(), DemoDbError> {
    let mut c = PgConnection::connect(url).await?;
    sqlx::raw_sql(
        "DROP SCHEMA IF EXISTS core, mcp, ops CASCADE; DROP TABLE IF EXISTS public._sqlx_migrations",
    )
    .execute(&mut c)
    .await?;
    Ok(())
}

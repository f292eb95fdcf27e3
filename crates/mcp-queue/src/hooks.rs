//! The hook on a job's final outcome: what a kind's domain does about its jobs that failed for
//! good. The engine runs it in the transaction that records them `discarded` (the completer's
//! batch and the rescuer's), with their ids, so the reaction commits exactly when the outcome
//! does: never for a job whose outcome was not written, never twice for one job. A hook that
//! fails is rolled back to its savepoint, logged and counted (`mcp_db_errors_total{op=
//! "discard_hook"}`): the outcomes are written all the same, so a broken hook never holds the
//! queue back.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use metrics::counter;
use sqlx::{Connection, PgConnection};

use crate::metrics as m;

/// One kind's hook, type-erased: given the transaction and the ids of its discarded jobs.
pub(crate) trait DiscardHook: Send + Sync {
    fn discarded<'c>(
        &self,
        conn: &'c mut PgConnection,
        ids: &'c [i64],
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;
}

/// The registry's hooks by kind, as the completer and the rescuer hold them.
#[derive(Clone, Default)]
pub struct DiscardHooks {
    by_kind: Arc<HashMap<&'static str, Arc<dyn DiscardHook>>>,
}

impl DiscardHooks {
    pub(crate) fn new(by_kind: HashMap<&'static str, Arc<dyn DiscardHook>>) -> Self {
        DiscardHooks {
            by_kind: Arc::new(by_kind),
        }
    }

    /// Runs each kind's hook once, with the ids of its jobs among `discarded` (id, kind).
    pub(crate) async fn run(
        &self,
        conn: &mut PgConnection,
        discarded: &[(i64, String)],
    ) -> Result<(), sqlx::Error> {
        let mut ids: HashMap<&str, Vec<i64>> = HashMap::new();
        for (id, kind) in discarded {
            ids.entry(kind.as_str()).or_default().push(*id);
        }
        for (kind, ids) in ids {
            let Some(hook) = self.by_kind.get(kind) else {
                continue;
            };
            let mut savepoint = conn.begin().await?;
            match hook.discarded(&mut savepoint, &ids).await {
                Ok(()) => savepoint.commit().await?,
                Err(e) => {
                    savepoint.rollback().await?;
                    counter!(m::DB_ERRORS, "op" => "discard_hook").increment(1);
                    tracing::error!(kind, jobs = ids.len(), error = %e, "a discard hook failed; the outcomes are written without it");
                }
            }
        }
        Ok(())
    }
}

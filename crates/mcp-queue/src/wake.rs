//! Waking workers without a NOTIFY per transaction. A NOTIFY holds a database-wide lock through
//! its transaction's commit (WAL flush included), so writers that notify commit one at a time;
//! the daemon's high-rate writers instead mark their transactions with `skip_notify`, wake the
//! worker of their own process at once, and leave the other daemons one coalesced NOTIFY (at
//! most one per `REMOTE_EVERY`; they also poll). Jobs are never lost by this: it only decides
//! how soon a worker looks.

use crate::pg::Db;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};

/// The most often the other daemons are told, however often jobs arrive.
const REMOTE_EVERY: Duration = Duration::from_millis(100);

/// Wakes this process's worker now and the other daemons soon.
#[derive(Clone)]
pub struct QuietWake {
    local: Arc<Notify>,
    remote: mpsc::Sender<()>,
}

impl QuietWake {
    /// `local` is the running worker's waker (`RunningWorker::waker`). The NOTIFY task ends
    /// when the last handle is dropped.
    pub fn start(pool: Db, local: Arc<Notify>) -> QuietWake {
        let (remote, mut rx) = mpsc::channel::<()>(1);
        tokio::spawn(async move {
            while rx.recv().await.is_some() {
                if let Err(e) = super::notify(&pool).await {
                    tracing::warn!(error = %e, "cannot notify the other daemons (they will poll)");
                }
                tokio::time::sleep(REMOTE_EVERY).await;
            }
        });
        QuietWake { local, remote }
    }

    /// Jobs were committed without a NOTIFY: look now (here) and soon (elsewhere).
    pub fn wake(&self) {
        self.local.notify_one();
        // Full: a NOTIFY is already due, which covers these jobs too.
        let _ = self.remote.try_send(());
    }
}

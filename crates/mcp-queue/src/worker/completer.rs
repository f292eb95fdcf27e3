//! The completer: writes the outcomes that have arrived in one statement, retrying until it
//! succeeds; permits are released only once an outcome is written.

use super::*;

pub(super) async fn complete_loop(
    _alive: AliveGuard,
    queue: Queue,
    hooks: DiscardHooks,
    mut rx: mpsc::UnboundedReceiver<Done>,
    max_batch: usize,
) {
    let mut batch: Vec<Done> = Vec::with_capacity(max_batch);
    let mut rows: Vec<OutcomeRow> = Vec::with_capacity(max_batch);
    loop {
        match rx.recv().await {
            Some(d) => batch.push(d),
            None => return,
        }
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(d) => batch.push(d),
                Err(_) => break,
            }
        }
        rows.clear();
        rows.extend(batch.iter().map(|d| d.row.clone()));
        let mut failures: u32 = 0;
        loop {
            match queue.complete(&rows, &hooks).await {
                Ok(written) => {
                    histogram!(m::COMPLETE_BATCH).record(rows.len() as f64);
                    if (written as usize) < rows.len() {
                        tracing::debug!(
                            skipped = rows.len() - written as usize,
                            "outcomes for jobs no longer ours were dropped (cancelled or rescued)"
                        );
                    }
                    break;
                }
                Err(e) => {
                    failures += 1;
                    counter!(m::DB_ERRORS, "op" => "complete").increment(1);
                    // The rows stay `running`; if this never succeeds their leases run out and
                    // the rescuer of some daemon takes them back. Nothing is lost either way.
                    if failures >= 30 && rx.is_closed() {
                        tracing::error!(error = %e, jobs = rows.len(), "giving up writing outcomes at shutdown; the rescuer will take these jobs back");
                        break;
                    }
                    tracing::warn!(error = %e, jobs = rows.len(), "writing outcomes failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50 * 2u64.pow(failures.min(6)))).await;
                }
            }
        }
        // Dropping the batch releases its permits: those slots may be claimed again.
        batch.clear();
    }
}

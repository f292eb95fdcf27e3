//! LISTEN: wakes the claims when jobs are enqueued.

use super::*;

pub(super) async fn listen_loop(
    mut listener: PgListener,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            n = listener.try_recv() => match n {
                Ok(Some(_)) => wake.notify_one(),
                // Connection lost: sqlx reconnects on the next call; claim once in case a
                // notification was missed meanwhile.
                Ok(None) => wake.notify_one(),
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection failed; polling until it is back");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            _ = stop.cancelled() => return,
        }
    }
}

//! LISTEN: wakes the claims when jobs are enqueued.

use super::*;
use crate::pg::Session;

impl Worker {
    /// The `LISTEN` connection: one of the pool's when direct, the direct `listen_url` behind a
    /// pooler, or none (behind a pooler without one: claims poll every `worker.poll_interval`,
    /// said once here).
    pub(super) async fn listener(&self) -> Result<Option<PgListener>, WorkerError> {
        let mut listener = match self.queue.pool().session() {
            Session::Pool(pool) => PgListener::connect_with(pool).await,
            Session::Direct(options) => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect_lazy_with(options.clone());
                PgListener::connect_with(&pool).await
            }
            Session::None => {
                tracing::warn!(
                    poll_interval = ?self.cfg.poll_interval,
                    "behind a transaction pooler without database.listen_url: no LISTEN, so \
                     jobs enqueued elsewhere are claimed by polling every worker.poll_interval"
                );
                return Ok(None);
            }
        }
        .map_err(WorkerError::Listen)?;
        listener
            .listen(NOTIFY_CHANNEL)
            .await
            .map_err(WorkerError::Listen)?;
        Ok(Some(listener))
    }
}

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

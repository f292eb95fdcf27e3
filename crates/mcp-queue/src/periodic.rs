//! The one driver of the daemon's periodic services (rescuer, samplers, vacuumer, cron, gauges):
//! run a step every period until stopped, a late tick delayed rather than bunched up. A step
//! reports its own errors; this module never decides what a failure means.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Runs `step` at once and then every `period` until `stop` is cancelled (a step in progress
/// finishes first).
pub async fn every<F, Fut>(period: Duration, stop: CancellationToken, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        step().await;
    }
}

//! Cron ticks: once across daemons, missed ticks collapsed, prune as the default schedule.

use chrono::{TimeZone, Utc};
use mcp_daemon::config::{Config, ScheduleConfig};

use crate::common::{schedule_off, scheduler, schedulers, TestDb};

pub(crate) fn config_every_minute() -> Config {
    let mut c = Config::default();
    c.schedules.insert(
        "probe".into(),
        ScheduleConfig {
            cron: Some("* * * * *".into()),
            kind: Some("noop".into()),
            payload: serde_json::json!({"sleep_ms": 1}),
            enabled: true,
        },
    );
    // Only the probe: the kinds' default schedules are switched off here.
    for spec in mcp_handlers::builtin_catalog().iter() {
        if spec.default_schedule.is_some() {
            c.schedules.insert(spec.kind.clone(), schedule_off());
        }
    }
    c
}

#[tokio::test]
async fn each_tick_is_enqueued_once_across_three_schedulers() {
    let db = TestDb::new().await;
    // Each scheduler has its own pool, as separate daemons would.
    let cfg = config_every_minute();
    let schedulers = schedulers(&db.url, &cfg.schedules, 3).await;
    each_tick_once(&db, schedulers).await;
    db.drop_db().await;
}

/// Three schedulers tick through five minutes together: each minute is enqueued once.
pub(crate) async fn each_tick_once(db: &TestDb, schedulers: Vec<mcp_queue::scheduler::Scheduler>) {
    let t0 = Utc
        .with_ymd_and_hms(2026, 3, 1, 12, 0, 30)
        .single()
        .expect("t0");
    schedulers[0].tick(t0).await.expect("first sight");
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.sync_jobs").await,
        0,
        "no tick fires for the past"
    );

    for minute in 1..=5 {
        let now = t0 + chrono::Duration::minutes(minute);
        let runs = futures::future::join_all(schedulers.iter().map(|s| s.tick(now))).await;
        let fired: usize = runs.into_iter().map(|r| r.expect("tick").len()).sum();
        assert_eq!(
            fired, 1,
            "minute {minute}: exactly one scheduler enqueued the tick"
        );
    }
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM mcp.sync_jobs WHERE kind = 'noop' AND payload = '{\"sleep_ms\": 1}'").await,
        5
    );
}

#[tokio::test]
async fn missed_ticks_after_downtime_run_once() {
    let db = TestDb::new().await;
    let s = scheduler(db.pool.clone(), &config_every_minute().schedules);
    let t0 = Utc
        .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("t0");
    s.tick(t0).await.expect("first sight");
    // Three hours of downtime: 180 ticks were missed.
    let later = t0 + chrono::Duration::hours(3) + chrono::Duration::seconds(5);
    let fired = s.tick(later).await.expect("tick");
    assert_eq!(fired.len(), 1, "one tick, not 180: {fired:?}");
    let probe = &fired[0];
    assert_eq!(probe.schedule, "probe");
    assert_eq!(probe.tick, t0 + chrono::Duration::hours(3));
    assert!(
        s.tick(later).await.expect("tick").is_empty(),
        "nothing more is due"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn prune_is_scheduled_daily_by_default_and_can_be_disabled() {
    let db = TestDb::new().await;
    let names_of = |c: &Config| -> Vec<String> {
        let s = scheduler(db.pool.clone(), &c.schedules);
        s.schedules().iter().map(|s| s.name.clone()).collect()
    };
    let sweeps = [
        "health_sweep",
        "reconcile_sweep",
        "sync_sweep",
        "token_refresh_sweep",
        "webhook_renew_sweep",
    ];
    let mut with_prune = sweeps.to_vec();
    with_prune.insert(1, "prune");
    assert_eq!(names_of(&Config::default()), with_prune);
    let mut off = Config::default();
    off.schedules.insert("prune".into(), schedule_off());
    assert_eq!(names_of(&off), sweeps, "prune is off, the sweeps stay");
    db.drop_db().await;
}

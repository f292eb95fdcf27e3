//! Cron: turns schedules into enqueued jobs, each tick once across every daemon sharing the
//! database. A schedule's last enqueued tick lives in `mcp.cron_state`; a daemon takes that row
//! with `FOR UPDATE SKIP LOCKED`, enqueues and moves the tick forward in one transaction, so two
//! daemons can never both enqueue a tick. After downtime only the latest missed tick runs.
//! The clock comes in as a parameter (`tick(now)`); this module never sleeps in tests.

use crate::pg::{self, Db};
use chrono::{DateTime, Utc};
use metrics::counter;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
pub use crate::cron_expr::parse_cron;
use crate::metrics as m;

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("schedule `{name}`: {message}")]
    Schedule { name: String, message: String },
    #[error("database error in the scheduler: {0}")]
    Db(#[from] sqlx::Error),
}

#[derive(Clone, serde::Deserialize, serde::Serialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Cron expression: 5 fields (minute precision) or 6 with seconds first. May be left out
    /// for a schedule that a kind declares (its default is then kept).
    pub cron: Option<String>,
    /// Job kind to enqueue; defaults to the schedule's name.
    pub kind: Option<String>,
    #[serde(default = "empty_object")]
    pub payload: serde_json::Value,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub expr: String,
    pub cron: cron::Schedule,
    pub kind: String,
    pub payload: serde_json::Value,
}

impl Schedule {
    /// The latest occurrence in `(after, now]`, if any (missed ticks collapse into it).
    pub fn due(&self, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut latest = None;
        for t in self.cron.after(&after).take(100_000) {
            if t > now {
                break;
            }
            latest = Some(t);
        }
        latest
    }
}

/// A tick's statements, in the order it runs them (exposed for the plan tests): the schedule's
/// row on first sight, the row taken, the job enqueued, the row moved to the tick.
pub const CRON_FIRST_SIGHT_SQL: &str =
    "INSERT INTO mcp.cron_state (name, last_tick_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";
pub const CRON_TAKE_SQL: &str =
    "SELECT last_tick_at FROM mcp.cron_state WHERE name = $1 FOR UPDATE SKIP LOCKED";
pub const CRON_ENQUEUE_SQL: &str = "SELECT mcp.enqueue_job($1, $2)";
pub const CRON_ADVANCE_SQL: &str = "UPDATE mcp.cron_state SET last_tick_at = $2, last_job_id = $3, updated_at = now() WHERE name = $1";

#[derive(Clone)]
pub struct Scheduler {
    pool: Db,
    schedules: Vec<Schedule>,
}

/// A tick that this scheduler enqueued.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub schedule: String,
    pub tick: DateTime<Utc>,
    pub job_id: i64,
}

impl Scheduler {
    /// Schedules from the catalogue's defaults, then the config (same name overrides).
    pub fn from_config(
        pool: impl Into<Db>,
        schedules: &std::collections::BTreeMap<String, ScheduleConfig>,
        catalog: &Catalog,
    ) -> Result<Scheduler, SchedulerError> {
        let mut by_name: std::collections::BTreeMap<String, Schedule> = Default::default();
        for spec in catalog.iter() {
            if let Some(expr) = &spec.default_schedule {
                by_name.insert(
                    spec.kind.clone(),
                    make(&spec.kind, expr, &spec.kind, serde_json::json!({}))?,
                );
            }
        }
        for (name, s) in schedules {
            let kind = s.kind.clone().unwrap_or_else(|| name.clone());
            if !s.enabled {
                by_name.remove(name);
                continue;
            }
            let expr = match (&s.cron, by_name.get(name)) {
                (Some(e), _) => e.clone(),
                (None, Some(existing)) => existing.expr.clone(),
                (None, None) => {
                    return Err(SchedulerError::Schedule {
                        name: name.clone(),
                        message: "no cron expression".into(),
                    })
                }
            };
            by_name.insert(name.clone(), make(name, &expr, &kind, s.payload.clone())?);
        }
        Ok(Scheduler {
            pool: pool.into(),
            schedules: by_name.into_values().collect(),
        })
    }

    pub fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }

    /// Enqueues every schedule's due tick as of `now`; returns what this call enqueued.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Vec<Fired>, SchedulerError> {
        let mut fired = Vec::new();
        for s in &self.schedules {
            if let Some(f) = self.tick_one(s, now).await? {
                counter!(m::CRON_TICKS, "schedule" => s.name.clone()).increment(1);
                tracing::info!(schedule = %f.schedule, tick = %f.tick, job_id = f.job_id, kind = %s.kind, "cron tick enqueued");
                fired.push(f);
            }
        }
        Ok(fired)
    }

    async fn tick_one(
        &self,
        s: &Schedule,
        now: DateTime<Utc>,
    ) -> Result<Option<Fired>, SchedulerError> {
        // First sight of a schedule: count from now, do not fire for the past.
        pg::query(CRON_FIRST_SIGHT_SQL)
            .bind(&s.name)
            .bind(now)
            .execute(&self.pool)
            .await?;
        let mut tx = self.pool.begin().await?;
        let last: Option<DateTime<Utc>> = pg::query_scalar(CRON_TAKE_SQL)
            .bind(&s.name)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(last) = last else {
            tx.rollback().await?;
            return Ok(None); // another daemon is ticking this schedule right now
        };
        let Some(due) = s.due(last, now) else {
            // Release the row lock now, not whenever the pool gets round to a dropped
            // transaction's rollback: a lock left behind would make the next tick skip it.
            tx.rollback().await?;
            return Ok(None);
        };
        let job_id: i64 = pg::query_scalar(CRON_ENQUEUE_SQL)
            .bind(&s.kind)
            .bind(&s.payload)
            .fetch_one(&mut *tx)
            .await?;
        pg::query(CRON_ADVANCE_SQL)
            .bind(&s.name)
            .bind(due)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(Fired {
            schedule: s.name.clone(),
            tick: due,
            job_id,
        }))
    }

    /// Ticks every `every` with the wall clock until `stop`.
    pub async fn run(self, every: std::time::Duration, stop: CancellationToken) {
        crate::periodic::every(every, stop, || async {
            if let Err(e) = self.tick(Utc::now()).await {
                counter!(m::DB_ERRORS, "op" => "cron").increment(1);
                tracing::warn!(error = %e, "cron tick failed; will try again");
            }
        })
        .await
    }
}

fn make(
    name: &str,
    expr: &str,
    kind: &str,
    payload: serde_json::Value,
) -> Result<Schedule, SchedulerError> {
    let cron = parse_cron(expr).map_err(|message| SchedulerError::Schedule {
        name: name.to_string(),
        message,
    })?;
    Ok(Schedule {
        name: name.to_string(),
        expr: expr.to_string(),
        cron,
        kind: kind.to_string(),
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn daily() -> Schedule {
        make("d", "0 3 * * *", "prune", serde_json::json!({})).expect("valid")
    }

    #[test]
    fn five_field_expressions_are_accepted() {
        assert!(parse_cron("*/5 * * * *").is_ok());
        assert!(parse_cron("0 */5 * * * *").is_ok());
        assert!(parse_cron("* *").is_err());
    }

    #[test]
    fn missed_ticks_collapse_into_the_latest() {
        let last = Utc
            .with_ymd_and_hms(2026, 1, 1, 3, 0, 0)
            .single()
            .expect("date");
        let now = Utc
            .with_ymd_and_hms(2026, 1, 6, 12, 0, 0)
            .single()
            .expect("date");
        let due = daily().due(last, now);
        assert_eq!(due, Utc.with_ymd_and_hms(2026, 1, 6, 3, 0, 0).single());
    }

    #[test]
    fn nothing_is_due_before_the_next_occurrence() {
        let last = Utc
            .with_ymd_and_hms(2026, 1, 1, 3, 0, 0)
            .single()
            .expect("date");
        let now = Utc
            .with_ymd_and_hms(2026, 1, 2, 2, 59, 59)
            .single()
            .expect("date");
        assert_eq!(daily().due(last, now), None);
    }
}

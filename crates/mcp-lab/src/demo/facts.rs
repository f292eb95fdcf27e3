//! What the demo has shown so far, read from PostgreSQL and from the daemon's `/metrics` — never
//! assumed from what the driver did — and the seven-item checklist made of it.

use std::collections::{BTreeMap, BTreeSet};

use mcp_queue::pg::Db;

use super::{DemoError, DEMO_SLACK_WEBHOOK, DEMO_WORKSPACE};

/// One Prometheus sample: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// Samples parsed from Prometheus' text format.
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<Sample>);

impl Samples {
    /// Parses the text format (comments and malformed lines are skipped).
    pub fn parse(text: &str) -> Samples {
        Samples(text.lines().filter_map(parse_line).collect())
    }

    /// The sum of `name`'s samples whose labels include every pair of `with`.
    pub fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.matching(name, with).map(|(_, _, v)| *v).sum()
    }

    /// `name`'s samples matching `with`, summed by the value of `label`.
    pub fn by_label(
        &self,
        name: &str,
        label: &str,
        with: &[(&str, &str)],
    ) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for (_, labels, v) in self.matching(name, with) {
            if let Some((_, l)) = labels.iter().find(|(k, _)| k == label) {
                *out.entry(l.clone()).or_insert(0.0) += v;
            }
        }
        out
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        with: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.0.iter().filter(move |(n, labels, _)| {
            n == name
                && with
                    .iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
    }
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, labels, rest) = match line.find(['{', ' ']) {
        Some(i) if line[i..].starts_with('{') => {
            let (labels, used) = parse_labels(&line[i + 1..])?;
            (&line[..i], labels, &line[i + 1 + used..])
        }
        Some(i) => (&line[..i], Vec::new(), &line[i..]),
        None => return None,
    };
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((name.to_string(), labels, value))
}

/// `k="v",k2="v2"}` → the pairs and the bytes used up to and including `}`.
fn parse_labels(s: &str) -> Option<(Vec<(String, String)>, usize)> {
    let mut pairs = Vec::new();
    let mut chars = s.char_indices().peekable();
    loop {
        while chars.peek().is_some_and(|(_, c)| *c == ',' || *c == ' ') {
            chars.next();
        }
        match chars.peek() {
            Some((i, '}')) => return Some((pairs, i + 1)),
            None => return None,
            _ => {}
        }
        let mut key = String::new();
        for (_, c) in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        if chars.next().map(|(_, c)| c) != Some('"') {
            return None;
        }
        let mut value = String::new();
        let mut closed = false;
        while let Some((_, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        value.push(if e == 'n' { '\n' } else { e });
                    }
                }
                '"' => {
                    closed = true;
                    break;
                }
                c => value.push(c),
            }
        }
        if !closed {
            return None;
        }
        pairs.push((key.trim().to_string(), value));
    }
}

/// The counter whose movement shows that `/metrics` is alive.
pub const MOVING_COUNTER: &str = "mcp_jobs_completed_total";

/// One reading of the database (the demo workspace and the jobs since the demo started).
#[derive(Debug, Default, Clone)]
pub struct DbReading {
    pub checks_ok: i64,
    pub checks_failed: i64,
    /// Demo integrations with at least one recorded health check, and all of them.
    pub integrations_checked: i64,
    pub integrations: i64,
    /// (platform, breaker state) per demo integration.
    pub breakers: Vec<(String, String)>,
    /// Demo tokens whose refresh was stored (`last_refreshed_at`), by platform.
    pub refreshed: Vec<String>,
    /// Rows of the signed and of the forged event in `mcp.webhook_events`.
    pub signed_stored: i64,
    pub forged_stored: i64,
    pub synced_items: i64,
    pub synced_integrations: i64,
    pub jobs_completed: i64,
    pub jobs_waiting: i64,
    pub jobs_running: i64,
    pub jobs_discarded: i64,
}

/// Reads the demo's facts; `since` is when the demo started (database time).
pub async fn read_db(
    pool: &Db,
    since: chrono::DateTime<chrono::Utc>,
    signed_event: &str,
    forged_event: &str,
) -> Result<DbReading, DemoError> {
    let ws = DEMO_WORKSPACE;
    let counts: (i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT \
           (SELECT count(*) FROM mcp.health_checks WHERE workspace_id = $1 AND status = 'healthy'), \
           (SELECT count(*) FROM mcp.health_checks WHERE workspace_id = $1 AND status <> 'healthy'), \
           (SELECT count(DISTINCT integration_id) FROM mcp.health_checks WHERE workspace_id = $1), \
           (SELECT count(*) FROM core.integrations WHERE workspace_id = $1), \
           (SELECT count(*) FROM mcp.webhook_events WHERE webhook_id = $2 AND dedup_key = $3), \
           (SELECT count(*) FROM mcp.webhook_events WHERE webhook_id = $2 AND dedup_key = $4), \
           (SELECT count(*) FROM mcp.synced_items WHERE workspace_id = $1), \
           (SELECT count(DISTINCT integration_id) FROM mcp.synced_items WHERE workspace_id = $1)",
    )
    .bind(ws)
    .bind(DEMO_SLACK_WEBHOOK)
    .bind(signed_event)
    .bind(forged_event)
    .fetch_one(pool)
    .await?;
    let jobs: (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state = 'completed' AND finished_at >= $1), \
                count(*) FILTER (WHERE state IN ('available', 'scheduled', 'retryable')), \
                count(*) FILTER (WHERE state = 'running'), \
                count(*) FILTER (WHERE state = 'discarded' AND finished_at >= $1) \
         FROM mcp.sync_jobs WHERE created_at >= $1 OR state NOT IN ('completed', 'discarded', 'cancelled')",
    )
    .bind(since)
    .fetch_one(pool)
    .await?;
    let breakers: Vec<(String, String)> = sqlx::query_as(
        "SELECT platform, circuit_breaker_state FROM core.integrations \
         WHERE workspace_id = $1 ORDER BY platform",
    )
    .bind(ws)
    .fetch_all(pool)
    .await?;
    let refreshed: Vec<String> = sqlx::query_scalar(
        "SELECT platform FROM mcp.oauth_tokens \
         WHERE workspace_id = $1 AND last_refreshed_at IS NOT NULL ORDER BY platform",
    )
    .bind(ws)
    .fetch_all(pool)
    .await?;
    Ok(DbReading {
        checks_ok: counts.0,
        checks_failed: counts.1,
        integrations_checked: counts.2,
        integrations: counts.3,
        breakers,
        refreshed,
        signed_stored: counts.4,
        forged_stored: counts.5,
        synced_items: counts.6,
        synced_integrations: counts.7,
        jobs_completed: jobs.0,
        jobs_waiting: jobs.1,
        jobs_running: jobs.2,
        jobs_discarded: jobs.3,
    })
}

/// Everything seen so far: the latest readings plus what only a history of readings shows
/// (a breaker seen open, then closed; the first value of the moving counter).
#[derive(Debug, Default)]
pub struct Tracker {
    pub db: DbReading,
    pub metrics: Samples,
    /// Whether `/metrics` answered at the latest scrape.
    pub metrics_up: bool,
    pub breakers_opened: BTreeSet<String>,
    pub breakers_closed: BTreeSet<String>,
    first_moving: Option<f64>,
}

impl Tracker {
    pub fn update_db(&mut self, db: DbReading) {
        for (platform, state) in &db.breakers {
            if state != "closed" {
                self.breakers_opened.insert(platform.clone());
            } else if self.breakers_opened.contains(platform) {
                self.breakers_closed.insert(platform.clone());
            }
        }
        self.db = db;
    }

    /// A scrape of `/metrics` (`None`: it did not answer).
    pub fn update_metrics(&mut self, text: Option<&str>) {
        self.metrics_up = text.is_some();
        if let Some(t) = text {
            self.metrics = Samples::parse(t);
            if self.first_moving.is_none() {
                self.first_moving = Some(self.metrics.sum(MOVING_COUNTER, &[]));
            }
        }
    }

    /// The seven things the demo is meant to show, each with what was seen.
    pub fn checklist(&self) -> Vec<Item> {
        let db = &self.db;
        let m = &self.metrics;
        let names = |set: &BTreeSet<String>| {
            if set.is_empty() {
                "none".to_string()
            } else {
                set.iter().cloned().collect::<Vec<_>>().join(", ")
            }
        };
        let rotated = m.by_label(
            mcp_daemon::metrics::TOKEN_REFRESHES,
            "platform",
            &[("outcome", "rotated")],
        );
        let rotated: BTreeSet<String> = rotated
            .into_iter()
            .filter(|(_, v)| *v > 0.0)
            .map(|(p, _)| p)
            .collect();
        let stored_refresh: BTreeSet<String> = db.refreshed.iter().cloned().collect();
        let rotated_and_stored: BTreeSet<String> =
            rotated.intersection(&stored_refresh).cloned().collect();
        let hooks = |outcome: &str| {
            m.sum(
                mcp_daemon::metrics::WEBHOOK_EVENTS,
                &[("platform", "slack"), ("outcome", outcome)],
            )
        };
        let accepted = hooks("accepted");
        let refused = hooks("bad_signature");
        let pages = m.sum(mcp_daemon::sync::SYNC_PAGES, &[]);
        let runs = m.sum(mcp_daemon::sync::SYNC_RUNS, &[("outcome", "completed")]);
        let moving_now = m.sum(MOVING_COUNTER, &[]);
        let moving_first = self.first_moving.unwrap_or(moving_now);
        vec![
            Item {
                label: "health checks pass and fail",
                done: db.checks_ok > 0 && db.checks_failed > 0,
                detail: format!(
                    "{} passed, {} failed or degraded ({} of {} integrations checked)",
                    db.checks_ok, db.checks_failed, db.integrations_checked, db.integrations
                ),
            },
            Item {
                label: "circuit breaker opens and closes",
                done: !self.breakers_closed.is_empty(),
                detail: format!(
                    "opened: {}; closed again: {}",
                    names(&self.breakers_opened),
                    names(&self.breakers_closed)
                ),
            },
            Item {
                label: "token refresh with rotation",
                done: !rotated_and_stored.is_empty(),
                detail: format!(
                    "new refresh token issued and stored: {}",
                    names(&rotated_and_stored)
                ),
            },
            Item {
                label: "signed webhook accepted",
                done: accepted > 0.0 && db.signed_stored > 0,
                detail: format!(
                    "{accepted} accepted, signed event stored: {}",
                    yes_no(db.signed_stored > 0)
                ),
            },
            Item {
                label: "forged webhook refused",
                done: refused > 0.0 && db.forged_stored == 0,
                detail: format!(
                    "{refused} refused (bad signature), forged event stored: {}",
                    yes_no(db.forged_stored > 0)
                ),
            },
            Item {
                label: "syncs page through lists",
                done: runs > 0.0 && pages > runs && db.synced_items > 0,
                detail: format!(
                    "{pages} pages in {runs} syncs, {} items from {} integrations",
                    db.synced_items, db.synced_integrations
                ),
            },
            Item {
                label: "/metrics moving",
                done: self.first_moving.is_some() && moving_now > moving_first,
                detail: format!("{MOVING_COUNTER} {moving_first} → {moving_now}"),
            },
        ]
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// One line of the checklist.
#[derive(Debug, Clone)]
pub struct Item {
    pub label: &'static str,
    pub done: bool,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_text() {
        let s = Samples::parse(
            "# HELP x y\n# TYPE mcp_a counter\nmcp_a{platform=\"slack\",outcome=\"accepted\"} 2\n\
             mcp_a{platform=\"zoom\",outcome=\"accepted\"} 3\nmcp_a{platform=\"slack\",outcome=\"stale\"} 1\n\
             mcp_b 7\nmcp_c{l=\"a \\\"q\\\" b\"} 1.5\ngarbage\n",
        );
        assert_eq!(s.sum("mcp_a", &[]), 6.0);
        assert_eq!(s.sum("mcp_a", &[("outcome", "accepted")]), 5.0);
        assert_eq!(
            s.sum("mcp_a", &[("platform", "slack"), ("outcome", "accepted")]),
            2.0
        );
        assert_eq!(s.sum("mcp_b", &[]), 7.0);
        assert_eq!(s.sum("mcp_c", &[("l", "a \"q\" b")]), 1.5);
        let by = s.by_label("mcp_a", "platform", &[("outcome", "accepted")]);
        assert_eq!(by.get("zoom"), Some(&3.0));
    }

    #[test]
    fn a_breaker_counts_as_closed_only_after_it_was_seen_open() {
        let mut t = Tracker::default();
        let reading = |state: &str| DbReading {
            breakers: vec![("discord".into(), state.into())],
            ..DbReading::default()
        };
        t.update_db(reading("closed"));
        assert!(t.breakers_opened.is_empty() && t.breakers_closed.is_empty());
        t.update_db(reading("open"));
        t.update_db(reading("half_open"));
        assert!(t.breakers_closed.is_empty());
        t.update_db(reading("closed"));
        assert!(t.breakers_closed.contains("discord"));
        assert!(t.checklist()[1].done);
    }
}

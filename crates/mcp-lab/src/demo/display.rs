//! The demo's terminal output: on a TTY a compact block redrawn in place (ANSI), otherwise plain
//! lines — one per milestone as it is first reached and a periodic status line — so that a log
//! or a CI job reads well. Then the final checklist and where to look next. Nothing printed here
//! may hold a secret: only counts, platform names, URLs and SQL.

use std::io::Write;
use std::time::Duration;

use super::facts::{Item, Tracker};

const SPINNER: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/// Plain mode: a status line this often.
const STATUS_EVERY: Duration = Duration::from_secs(10);

pub struct Display {
    tty: bool,
    /// Lines of the live block currently on screen (TTY).
    drawn: usize,
    frame: usize,
    /// Plain mode: milestones already announced, and when the last status line was printed.
    announced: Vec<bool>,
    last_status: Option<Duration>,
}

fn mark(done: bool) -> char {
    if done {
        '✓'
    } else {
        '✗'
    }
}

/// The terminal's width in columns (80 when it cannot be told).
fn columns() -> usize {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the valid, exclusively borrowed `ws`; on
    // failure it writes nothing and returns -1.
    let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if r == 0 && ws.ws_col > 0 {
        usize::from(ws.ws_col)
    } else {
        80
    }
}

/// `line` cut to `width` visible columns (ANSI sequences take none), so that a redrawn block
/// never wraps and its lines can be counted.
fn fit(line: &str, width: usize) -> String {
    let visible = {
        let mut n = 0;
        let mut esc = false;
        for c in line.chars() {
            match (esc, c) {
                (false, '\x1b') => esc = true,
                (true, c) if c.is_ascii_alphabetic() => esc = false,
                (true, _) => {}
                (false, _) => n += 1,
            }
        }
        n
    };
    if visible <= width || width == 0 {
        return line.to_string();
    }
    let mut out = String::new();
    let mut n = 0;
    let mut esc = false;
    for c in line.chars() {
        match (esc, c) {
            (false, '\x1b') => {
                esc = true;
                out.push(c);
            }
            (true, c) => {
                esc = !c.is_ascii_alphabetic();
                out.push(c);
            }
            (false, c) => {
                if n + 1 >= width {
                    break;
                }
                out.push(c);
                n += 1;
            }
        }
    }
    out.push('…');
    out.push_str("\x1b[0m");
    out
}

fn secs(d: Duration) -> String {
    format!("{:.0}s", d.as_secs_f64())
}

impl Display {
    pub fn new(tty: bool) -> Display {
        Display {
            tty,
            drawn: 0,
            frame: 0,
            announced: Vec::new(),
            last_status: None,
        }
    }

    fn out(&self, text: &str) {
        let mut o = std::io::stdout().lock();
        // A closed stdout must not stop the demo; there is nothing else to tell it to.
        let _ = o.write_all(text.as_bytes());
        let _ = o.flush();
    }

    /// Lines printed before the daemon starts.
    pub fn header(&self, lines: &[String]) {
        let mut s = String::new();
        for l in lines {
            s.push_str(l);
            s.push('\n');
        }
        self.out(&s);
    }

    /// Called about once a second with the latest facts.
    pub fn update(&mut self, t: &Tracker, elapsed: Duration, limit: Option<Duration>) {
        let items = t.checklist();
        if self.tty {
            self.redraw(t, &items, elapsed, limit);
        } else {
            self.plain(t, &items, elapsed);
        }
    }

    fn redraw(&mut self, t: &Tracker, items: &[Item], elapsed: Duration, limit: Option<Duration>) {
        self.frame = (self.frame + 1) % SPINNER.len();
        let done = items.iter().filter(|i| i.done).count();
        let time = match limit {
            Some(l) => {
                let width = 20usize;
                let filled = ((elapsed.as_secs_f64() / l.as_secs_f64().max(0.001)) * width as f64)
                    .clamp(0.0, width as f64) as usize;
                format!(
                    "{} of {} [{}{}]",
                    secs(elapsed),
                    secs(l),
                    "█".repeat(filled),
                    "░".repeat(width - filled)
                )
            }
            None => format!("{} (Ctrl-C to stop)", secs(elapsed)),
        };
        let mut lines = vec![format!(
            "\x1b[1mmcp-worker-lab demo\x1b[0m {} {time}  {done}/{} seen",
            SPINNER[self.frame],
            items.len()
        )];
        for i in items {
            let (m, color) = if i.done {
                ('✓', "\x1b[32m")
            } else {
                ('·', "\x1b[2m")
            };
            lines.push(format!("  {color}{m}\x1b[0m {:<32} {}", i.label, i.detail));
        }
        lines.push(format!("  {}", jobs_line(t)));
        let width = columns();
        let mut s = String::new();
        if self.drawn == 0 {
            s.push_str("\x1b[?25l");
        } else {
            // Back to the first line of the block, then overwrite it line by line.
            s.push_str(&format!("\x1b[{}F", self.drawn));
        }
        for l in &lines {
            s.push_str("\x1b[2K");
            s.push_str(&fit(l, width));
            s.push('\n');
        }
        self.drawn = lines.len();
        self.out(&s);
    }

    fn plain(&mut self, t: &Tracker, items: &[Item], elapsed: Duration) {
        self.announced.resize(items.len(), false);
        let mut s = String::new();
        for (k, i) in items.iter().enumerate() {
            if i.done && !self.announced[k] {
                self.announced[k] = true;
                s.push_str(&format!(
                    "[{:>5.1}s] ✓ {}: {}\n",
                    elapsed.as_secs_f64(),
                    i.label,
                    i.detail
                ));
            }
        }
        let due = self
            .last_status
            .is_none_or(|at| elapsed.saturating_sub(at) >= STATUS_EVERY);
        if due {
            self.last_status = Some(elapsed);
            s.push_str(&format!(
                "[{:>5.1}s] status: {}\n",
                elapsed.as_secs_f64(),
                status_line(t, items)
            ));
        }
        self.out(&s);
    }

    /// Clears the live block (the summary replaces it) and gives the cursor back.
    pub fn finish(&mut self) {
        if self.tty && self.drawn > 0 {
            self.out(&format!("\x1b[{}F\x1b[J\x1b[?25h", self.drawn));
        }
        self.drawn = 0;
    }

    /// The final checklist and where to look next.
    pub fn summary(
        &self,
        t: &Tracker,
        elapsed: Duration,
        why: &str,
        metrics_url: &str,
        db_url: &str,
    ) {
        let items = t.checklist();
        let done = items.iter().filter(|i| i.done).count();
        let mut s = format!(
            "\nmcp-worker-lab demo: {why} after {}: {done} of {} seen\n",
            secs(elapsed),
            items.len()
        );
        for i in &items {
            s.push_str(&format!(
                "  {} {:<32} {}\n",
                mark(i.done),
                i.label,
                i.detail
            ));
        }
        s.push_str(&format!("  {}\n", jobs_line(t)));
        s.push_str(&where_next(metrics_url, db_url));
        self.out(&s);
    }
}

fn jobs_line(t: &Tracker) -> String {
    let db = &t.db;
    format!(
        "jobs: {} completed, {} waiting, {} running, {} discarded",
        db.jobs_completed, db.jobs_waiting, db.jobs_running, db.jobs_discarded
    )
}

fn status_line(t: &Tracker, items: &[Item]) -> String {
    let db = &t.db;
    let m = &t.metrics;
    let hooks = |o: &str| m.sum(mcp_daemon::metrics::WEBHOOK_EVENTS, &[("outcome", o)]);
    format!(
        "{}/{} seen · checks {} ok/{} failed · breakers {} opened/{} closed · refreshes {} rotated · \
         webhooks {} accepted/{} refused · sync {} pages/{} items · jobs {} completed{}",
        items.iter().filter(|i| i.done).count(),
        items.len(),
        db.checks_ok,
        db.checks_failed,
        t.breakers_opened.len(),
        t.breakers_closed.len(),
        m.sum(
            mcp_daemon::metrics::TOKEN_REFRESHES,
            &[("outcome", "rotated")]
        ),
        hooks("accepted"),
        hooks("bad_signature"),
        m.sum(mcp_daemon::sync::SYNC_PAGES, &[]),
        db.synced_items,
        db.jobs_completed,
        if t.metrics_up { "" } else { " · /metrics not answering" }
    )
}

/// Where to look next: the metrics URL, SQL to run on the database the demo used (its URL
/// without the password, which psql then takes from ~/.pgpass or asks for), and the webhook
/// example of docs/WEBHOOKS.md.
pub fn where_next(metrics_url: &str, db_url: &str) -> String {
    let db = super::url_without_password(db_url);
    let q = |sql: &str| format!("    psql \"{db}\" -c \"{sql}\"\n");
    let mut s = String::from("where to look next:\n");
    s.push_str(&format!(
        "  metrics (while a daemon runs; `mcp-worker-lab run` keeps one running): {metrics_url}\n\
         \x20   curl -s {metrics_url} | grep -E '^mcp_(health_checks|token_refreshes|webhook_events|sync_pages)_total'\n"
    ));
    s.push_str(
        "  the database (after `demo --keep`, or while `mcp-worker-lab run` runs, the demo \
         workspace is there to read):\n",
    );
    s.push_str(&q(
        "SELECT kind, state, count(*) FROM mcp.sync_jobs GROUP BY 1, 2 ORDER BY 1, 2",
    ));
    s.push_str(&q(
        "SELECT platform, state, health_status, consecutive_failures, circuit_breaker_state, checks_24h, failures_24h FROM mcp.v_integration_health_summary ORDER BY platform",
    ));
    s.push_str(&q(
        "SELECT created_at, event_type, payload->>'platform' AS platform, payload->>'from' AS from_state, payload->>'to' AS to_state, payload->>'reason' AS reason FROM ops.events ORDER BY id DESC LIMIT 30",
    ));
    s.push_str(&q(
        "SELECT platform, count(*) AS items, max(updated_at) AS last FROM mcp.synced_items GROUP BY 1 ORDER BY 1",
    ));
    s.push_str(&q(
        "SELECT platform, expires_at, last_refreshed_at FROM mcp.oauth_tokens WHERE last_refreshed_at IS NOT NULL",
    ));
    s.push_str(
        "  webhooks: docs/WEBHOOKS.md signs a Slack event with curl for the demo's \
         webhook (its id and signing secret are listed there)\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn fit_counts_visible_columns_only() {
        let line = "  \x1b[32m✓\x1b[0m health checks";
        assert_eq!(fit(line, 80), line);
        let cut = fit(line, 8);
        assert!(cut.starts_with("  \x1b[32m✓\x1b[0m hea"), "{cut:?}");
        assert!(cut.ends_with("…\x1b[0m"), "{cut:?}");
        assert_eq!(fit("abcdef", 4), "abc…\x1b[0m");
    }
}

//! The tests' own hygiene. A daemon runs its cron schedules from the start (`sync_sweep` every
//! five minutes, `reconcile_sweep` every hour, …), so a test that starts one and counts or lists
//! jobs without naming the kind or the ids it made reads the sweeps too, and fails only when a
//! tick falls inside it.

use super::source_files;

/// What starts a daemon in a test.
const STARTS: &[&str] = &[
    "Daemon::start",
    "Launcher::new",
    "start_demo",
    "start_with(",
];

/// What scopes a statement to the jobs a test made.
const SCOPES: &[&str] = &[
    "kind",
    "id =",
    "id IN",
    "id = ANY",
    "integration_id",
    "unique_key",
];

/// The string literals of `code`, with `\`-newline continuations joined.
fn literals(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // A char literal or a lifetime: '"' must not open a string.
            '\'' if chars.peek() == Some(&'"') => {
                chars.next();
            }
            '"' => {
                let mut lit = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some('\n') => {
                                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                                    chars.next();
                                }
                            }
                            Some(e) => {
                                lit.push('\\');
                                lit.push(e);
                            }
                            None => break,
                        },
                        '"' => break,
                        c => lit.push(c),
                    }
                }
                out.push(lit);
            }
            _ => {}
        }
    }
    out
}

/// Each top-level item of `code` (split where a line starts a function or an attribute).
fn items(code: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for line in code.lines() {
        if line.starts_with("#[") || line.starts_with("async fn") || line.starts_with("fn ") {
            if !out.last().is_some_and(|s| s.trim_end().ends_with(']')) {
                out.push(String::new());
            }
        } else if line.starts_with("pub") && line.contains("fn ") {
            out.push(String::new());
        }
        if let Some(last) = out.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    out
}

/// Unscoped job counts in the items of `code` that start a daemon.
fn unscoped(code: &str) -> Vec<String> {
    items(code)
        .iter()
        .filter(|item| STARTS.iter().any(|s| item.contains(s)))
        .flat_map(|item| literals(item))
        .filter(|q| q.contains("FROM mcp.sync_jobs") || q.contains("FROM mcp.v_active_sync_jobs"))
        .filter(|q| !q.contains("INSERT") && !SCOPES.iter().any(|s| q.contains(s)))
        .collect()
}

#[test]
fn tests_that_run_a_daemon_count_the_jobs_they_made() {
    let files = source_files(&["tests/it"], &["rs"]);
    assert!(files.len() > 50, "{} test files", files.len());
    let found: Vec<String> = files
        .iter()
        .filter(|(f, _)| !f.ends_with("architecture/tests.rs"))
        .flat_map(|(f, code)| unscoped(code).into_iter().map(move |q| format!("{f}: {q}")))
        .collect();
    assert!(
        found.is_empty(),
        "name the kind (or the ids) these count, or a cron sweep is counted too: {found:#?}"
    );
}

#[test]
fn the_check_finds_an_unscoped_count_and_passes_a_scoped_one() {
    let test = r#"
#[tokio::test]
async fn t() {
    let d = Daemon::start(&db.url, &[]).await;
    db.wait_until(
        "SELECT count(*) = 10 FROM mcp.sync_jobs \
         WHERE state = 'completed'",
        LIMIT,
    );
    db.wait_until("SELECT count(*) = 10 FROM mcp.sync_jobs WHERE kind = 'noop'", LIMIT);
}

#[tokio::test]
async fn without_a_daemon() {
    db.scalar_i64("SELECT count(*) FROM mcp.sync_jobs").await;
}
"#;
    assert_eq!(
        unscoped(test),
        ["SELECT count(*) = 10 FROM mcp.sync_jobs WHERE state = 'completed'"]
    );
}

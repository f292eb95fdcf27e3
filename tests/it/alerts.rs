//! The alerting rules (`grafana/alerts.yml`): promtool accepts them and their unit tests pass,
//! every series and label value they select is one the daemon exports, and every alert has its
//! annotations, a severity, tests that fire and stay quiet, and a runbook section in
//! docs/OPERATIONS.md.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

use crate::common::TestDb;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn promtool(args: &[&str]) -> Output {
    match Command::new("promtool")
        .args(args)
        .current_dir(ROOT)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not installed, so the alerting rules cannot be checked: install it \
             (Debian: `apt-get install --no-install-recommends prometheus`; .ci/run does) \
             and run the tests again"
        ),
        Err(e) => panic!("cannot run promtool: {e}"),
    }
}

fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "`{what}` failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let check = promtool(&["check", "rules", "grafana/alerts.yml"]);
    assert_success("promtool check rules grafana/alerts.yml", &check);
    let test = promtool(&["test", "rules", "grafana/alerts_test.yml"]);
    assert_success("promtool test rules grafana/alerts_test.yml", &test);
}

/// Every series the daemon exports once started, by metric name, as label sets: what it
/// registers at zero, plus the credential gauges it samples from the database at once.
async fn exported(pool: &mcp_queue::pg::Db) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    {
        // A current-thread runtime: everything below runs on this thread, under this recorder.
        let _local = metrics::set_default_local_recorder(&recorder);
        mcp_daemon::metrics::register_platforms();
        mcp_daemon::sync::register_metrics();
        mcp_daemon::items::register_metrics();
        mcp_daemon::items::reconcile::register_metrics();
        mcp_daemon::assistant::register_metrics();
        mcp_daemon::metrics::register_kinds(
            mcp_handlers::builtin_catalog()
                .iter()
                .map(|k| k.kind.as_str()),
        );
        mcp_daemon::integrations::sample_gauges(pool)
            .await
            .expect("integration gauges");
        mcp_daemon::keys::sample_gauges(pool, &mcp_daemon::vault::Vault::from_keys(Vec::new()))
            .await
            .expect("credential gauges");
    }
    let mut out: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    for line in handle.render().lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let series = line.rsplit_once(' ').map_or(line, |(s, _)| s);
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect();
        out.entry(name.to_string()).or_default().push(labels);
    }
    out
}

/// The text of every `expr:` of the rule file (comments left out).
fn expressions(rules: &str) -> Vec<String> {
    let mut exprs = Vec::new();
    let mut current: Option<String> = None;
    for line in rules.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("expr:") {
            if let Some(e) = current.take() {
                exprs.push(e);
            }
            current = Some(rest.trim().trim_start_matches(">-").to_string());
        } else if t.starts_with("for:") || t.starts_with("labels:") || t.starts_with("- alert:") {
            if let Some(e) = current.take() {
                exprs.push(e);
            }
        } else if let Some(e) = current.as_mut() {
            if !t.starts_with('#') {
                e.push(' ');
                e.push_str(t);
            }
        }
    }
    exprs.extend(current);
    exprs
}

/// One label matcher: `(label, operator, value)`.
type Matcher = (String, String, String);

/// `(metric, matchers)` for every `mcp_…` selector of an expression.
fn selectors(expr: &str) -> Vec<(String, Vec<Matcher>)> {
    let chars: Vec<char> = expr.chars().collect();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '"' {
            // Skip string literals (label values, printf formats).
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            i += 1;
            continue;
        }
        if !ident(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && ident(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        if !word.starts_with("mcp_") {
            continue;
        }
        let mut matchers = Vec::new();
        if chars.get(i) == Some(&'{') {
            let end = i + chars[i..]
                .iter()
                .position(|&c| c == '}')
                .expect("closing brace");
            let body: String = chars[i + 1..end].iter().collect();
            for m in body.split(',').filter(|m| !m.trim().is_empty()) {
                let op_at = m.find(['=', '!']).expect("matcher operator");
                let label = m[..op_at].trim().to_string();
                let rest = &m[op_at..];
                let op_len =
                    if rest.starts_with("=~") || rest.starts_with("!~") || rest.starts_with("!=") {
                        2
                    } else {
                        1
                    };
                let op = rest[..op_len].to_string();
                let value = rest[op_len..].trim().trim_matches('"').to_string();
                matchers.push((label, op, value));
            }
            i = end + 1;
        }
        out.push((word, matchers));
    }
    out
}

#[tokio::test]
async fn alert_rules_select_only_series_and_label_values_the_daemon_exports() {
    let db = TestDb::new().await;
    let exported = exported(&db.pool).await;
    let rules = read("grafana/alerts.yml");
    let exprs = expressions(&rules);
    assert!(exprs.len() >= 15, "expressions found: {exprs:?}");
    let mut seen = 0;
    for expr in &exprs {
        for (metric, matchers) in selectors(expr) {
            seen += 1;
            let series = exported.get(&metric).unwrap_or_else(|| {
                panic!("an alert uses {metric}, which the daemon does not export")
            });
            for (label, op, value) in matchers {
                let values: BTreeSet<&str> = series
                    .iter()
                    .filter_map(|s| s.get(&label).map(String::as_str))
                    .collect();
                assert!(
                    !values.is_empty(),
                    "an alert selects {metric} by `{label}`, a label it does not have"
                );
                // Every alternative of a matcher, negative ones included (a misspelt value in
                // `!~` silently matches everything), must be a value the daemon exports.
                let alternatives: Vec<&str> = if op.ends_with('~') {
                    value.split('|').collect()
                } else {
                    vec![value.as_str()]
                };
                for alt in alternatives {
                    assert!(
                        values.contains(alt),
                        "an alert selects {metric}{{{label}{op}\"{value}\"}}, but `{alt}` is not one of its exported values {values:?}"
                    );
                }
            }
        }
    }
    assert!(seen >= 15, "only {seen} selectors of mcp_ series found");
    db.drop_db().await;
}

/// GitHub's anchor for a Markdown heading's text.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_is_annotated_tested_and_has_a_runbook_section() {
    let rules = read("grafana/alerts.yml");
    let tests = read("grafana/alerts_test.yml");
    let guide = read("docs/OPERATIONS.md");

    let mut anchors = BTreeSet::new();
    let mut fenced = false;
    for line in guide.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            anchors.insert(slug(line.trim_start_matches('#')));
        }
    }

    // Each rule's block of lines, by alert name.
    let mut blocks: Vec<(String, Vec<&str>)> = Vec::new();
    for line in rules.lines() {
        if let Some(name) = line.trim().strip_prefix("- alert:") {
            blocks.push((name.trim().to_string(), Vec::new()));
        } else if line.trim().starts_with("- name:") {
            blocks.push((String::new(), Vec::new()));
        } else if let Some((_, b)) = blocks.last_mut() {
            b.push(line.trim());
        }
    }
    blocks.retain(|(name, _)| !name.is_empty());
    assert!(blocks.len() >= 15, "alerts found: {}", blocks.len());

    // Alert name → (a case where it fires, a case where it stays quiet) in the unit tests.
    let mut fires = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    let mut current = String::new();
    for line in tests.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("alertname:") {
            current = name.trim().to_string();
        } else if t == "exp_alerts: []" {
            quiet.insert(current.clone());
        } else if t.starts_with("- exp_labels:") {
            fires.insert(current.clone());
        }
    }

    for (name, lines) in &blocks {
        let field = |key: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
        };
        for key in ["for:", "severity:", "summary:", "description:"] {
            assert!(field(key).is_some(), "alert {name} has no `{key}`");
        }
        let severity = field("severity:").unwrap_or_default();
        assert!(
            ["critical", "warning", "info"].contains(&severity.as_str()),
            "alert {name}: severity `{severity}`"
        );
        let runbook = field("runbook:").unwrap_or_else(|| panic!("alert {name} has no runbook"));
        let anchor = runbook
            .strip_prefix("docs/OPERATIONS.md#")
            .unwrap_or_else(|| {
                panic!("alert {name}: runbook `{runbook}` is not docs/OPERATIONS.md#…")
            });
        assert!(
            anchors.contains(anchor),
            "alert {name}: docs/OPERATIONS.md has no heading with the anchor #{anchor}"
        );
        assert!(fires.contains(name), "no unit test shows {name} firing");
        assert!(
            quiet.contains(name),
            "no unit test shows {name} staying quiet"
        );
    }
}

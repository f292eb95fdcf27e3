//! The Grafana dashboard and the alert rules against a real Prometheus: the daemon runs in demo
//! mode, Prometheus scrapes it every second, and every panel query, template variable and alert
//! expression is run through Prometheus' HTTP API.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use mcp_platforms::connectors::Platform;
use mcp_sandbox::demo::{DEMO_SLACK_SECRET, DEMO_SLACK_WEBHOOK};
use serde_json::Value;

use crate::common::{http_get, Daemon, TestDb};

const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/grafana/dashboards/mcp-worker.json"
);
const ALERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/grafana/alerts.yml");
const JOB: &str = "mcp-worker";

/// Panel queries (`panel title/refId`) that may come back empty from a fresh demo daemon, each
/// with the reason. Every counter and gauge is exported at zero from the start, so a rate or a
/// quantile over them is a series (0 or NaN) rather than nothing: nothing may be listed here
/// unless its query filters values (e.g. `> 0`).
const MAY_BE_EMPTY: &[(&str, &str)] = &[];

/// Grafana's variables as the test fills them: every label variable is "All".
fn substitute(expr: &str) -> String {
    let mut s = expr.to_string();
    for (var, value) in [
        ("$__rate_interval", "10s"),
        ("$__interval", "5s"),
        ("$__range", "1m"),
        ("${instance}", ".*"),
        ("${job}", ".*"),
        ("${kind}", ".*"),
        ("${platform}", ".*"),
        ("$instance", ".*"),
        ("$job", ".*"),
        ("$kind", ".*"),
        ("$platform", ".*"),
    ] {
        s = s.replace(var, value);
    }
    assert!(
        !s.contains('$'),
        "a variable the test does not know is left in {s}"
    );
    s
}

/// Metric names (`mcp_*`) an expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("mcp_"))
        .map(str::to_string)
        .collect()
}

fn prometheus_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join("prometheus"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "prometheus is not installed, and this test needs it: \
                 apt-get install -y --no-install-recommends prometheus (.ci/run installs it)"
            )
        })
}

/// Prometheus as a child process; killed when dropped, so a failed assertion leaks nothing.
struct Prometheus {
    child: tokio::process::Child,
    port: u16,
    log: PathBuf,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(target_port: u16, rule_file: Option<&Path>) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = crate::common::free_port();
        let rules = match rule_file {
            Some(f) => format!("rule_files: [{:?}]\n", f.display().to_string()),
            None => String::new(),
        };
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{rules}\
                 scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      \
                 - targets: [\"127.0.0.1:{target_port}\"]\n"
            ),
        )
        .expect("write prometheus.yml");
        let log = dir.path().join("prometheus.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = tokio::process::Command::new(prometheus_bin())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn prometheus");
        let mut p = Prometheus {
            child,
            port,
            log,
            client: reqwest::Client::new(),
            _dir: dir,
        };
        let start = Instant::now();
        loop {
            if let Some(status) = p.child.try_wait().expect("try_wait") {
                panic!("prometheus exited ({status}):\n{}", p.log_text());
            }
            if let Ok((200, _)) = http_get(port, "/-/ready").await {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "prometheus not ready after 20 s:\n{}",
                p.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        p
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let mut url =
            url::Url::parse(&format!("http://127.0.0.1:{}{path}", self.port)).expect("url");
        for (k, v) in params {
            url.query_pairs_mut().append_pair(k, v);
        }
        let resp = self.client.get(url).send().await.expect("prometheus API");
        resp.json().await.expect("prometheus API answers JSON")
    }

    /// An instant query; panics naming the expression unless Prometheus accepts it.
    async fn query(&self, expr: &str) -> Vec<Value> {
        let v = self.api("/api/v1/query", &[("query", expr)]).await;
        assert_eq!(
            v["status"], "success",
            "Prometheus refused {expr}: {} {}",
            v["errorType"], v["error"]
        );
        v["data"]["result"]
            .as_array()
            .unwrap_or_else(|| panic!("no result array for {expr}: {v}"))
            .clone()
    }

    /// Samples of `up` for the daemon in the last minute.
    async fn scrapes(&self) -> u64 {
        let r = self
            .query(&format!("count_over_time(up{{job=\"{JOB}\"}}[1m])"))
            .await;
        r.first().map(sample_value).unwrap_or(0.0) as u64
    }

    /// Waits until Prometheus holds `n` samples of the daemon's `up`.
    async fn wait_for_scrapes(&self, n: u64) {
        let start = Instant::now();
        loop {
            let got = self.scrapes().await;
            if got >= n {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "only {got} scrapes of the daemon after 15 s (want {n}):\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn sample_value(r: &Value) -> f64 {
    r["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a sample without a value: {r}"))
}

/// One panel query of the dashboard.
struct Target {
    panel: String,
    ref_id: String,
    expr: String,
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(DASHBOARD).expect("dashboard");
    serde_json::from_str(&text).expect("dashboard JSON")
}

fn targets(dash: &Value) -> Vec<Target> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().expect("panels") {
        let nested = p["panels"].as_array().into_iter().flatten();
        for panel in std::iter::once(p).chain(nested) {
            for t in panel["targets"].as_array().into_iter().flatten() {
                out.push(Target {
                    panel: panel["title"].as_str().expect("title").to_string(),
                    ref_id: t["refId"].as_str().expect("refId").to_string(),
                    expr: t["expr"].as_str().expect("expr").to_string(),
                });
            }
        }
    }
    out
}

/// The substituted query of `panel`'s target `ref_id`.
fn panel_query(dash: &Value, panel: &str, ref_id: &str) -> String {
    let t = targets(dash)
        .into_iter()
        .find(|t| t.panel == panel && t.ref_id == ref_id)
        .unwrap_or_else(|| panic!("no panel {panel}/{ref_id} in the dashboard"));
    substitute(&t.expr)
}

/// The value of the series whose `label` is `value` in a query's result.
fn value_of(result: &[Value], label: &str, value: &str) -> f64 {
    result
        .iter()
        .find(|r| r["metric"][label] == value)
        .map(sample_value)
        .unwrap_or_else(|| panic!("no series with {label}={value} in {result:?}"))
}

async fn deliver_slack(port: u16, secret: &str) -> u16 {
    let body = format!(
        r#"{{"type":"event_callback","event_id":"Ev{}","event":{{"type":"message"}}}}"#,
        rand::random::<u32>()
    );
    let path = format!("/webhooks/slack/{DEMO_SLACK_WEBHOOK}");
    let ts = chrono::Utc::now().timestamp();
    let headers = mcp_sandbox::sign_webhook(
        Platform::Slack,
        secret.as_bytes(),
        body.as_bytes(),
        ts,
        &path,
    );
    let mut req = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.as_str());
    }
    req.send()
        .await
        .expect("webhook delivery")
        .status()
        .as_u16()
}

#[tokio::test]
async fn dashboard_and_alert_queries_run_against_a_real_prometheus() {
    let started = Instant::now();
    // Fails first, saying how to install Prometheus, when it is missing.
    let _ = prometheus_bin();
    let dash = dashboard();
    let targets = targets(&dash);
    assert!(targets.len() >= 40, "{} panel queries", targets.len());
    let alerts = Path::new(ALERTS);
    let alerts = alerts.exists().then_some(alerts);

    // The demo's daemon runs only in an empty database (or one marked as the demo's).
    let db = TestDb::empty().await;
    let daemon = Daemon::start_demo(&db.url, &[]).await;

    // The first scrape already has every series the dashboard reads.
    let (status, first) = http_get(daemon.port, "/metrics").await.expect("metrics");
    assert_eq!(status, 200);
    let exported = |name: &str| {
        first
            .lines()
            .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
    };
    let mut variables = Vec::new();
    for v in dash["templating"]["list"].as_array().expect("variables") {
        if v["type"] == "query" {
            let q = v["query"].as_str().expect("variable query").to_string();
            variables.push((v["name"].as_str().expect("name").to_string(), q));
        }
    }
    for expr in targets
        .iter()
        .map(|t| t.expr.as_str())
        .chain(variables.iter().map(|v| v.1.as_str()))
    {
        for name in metric_names(expr) {
            assert!(
                exported(&name),
                "{name} (in {expr}) is not on the first scrape of a fresh daemon"
            );
        }
    }

    let prom = Prometheus::start(daemon.port, alerts).await;
    prom.wait_for_scrapes(3).await;

    // Traffic the webhook panels must show: one delivery stored, one refused.
    assert_eq!(deliver_slack(daemon.port, DEMO_SLACK_SECRET).await, 200);
    assert_eq!(deliver_slack(daemon.port, "not-the-secret").await, 401);
    let seen = prom.scrapes().await;
    prom.wait_for_scrapes(seen + 2).await;

    // Every panel query is valid PromQL over series that exist.
    let mut empty = Vec::new();
    for t in &targets {
        let result = prom.query(&substitute(&t.expr)).await;
        let key = format!("{}/{}", t.panel, t.ref_id);
        if result.is_empty() && !MAY_BE_EMPTY.iter().any(|(k, _)| *k == key) {
            empty.push(format!("{key}: {}", t.expr));
        }
    }
    assert!(
        empty.is_empty(),
        "panel queries with no data:\n{}",
        empty.join("\n")
    );
    for (key, reason) in MAY_BE_EMPTY {
        assert!(
            targets
                .iter()
                .any(|t| format!("{}/{}", t.panel, t.ref_id) == *key),
            "MAY_BE_EMPTY names {key} ({reason}), which the dashboard does not have"
        );
    }

    // Every template variable has values.
    for (name, q) in &variables {
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {name}: not label_values(…): {q}"));
        let (selector, label) = inner
            .rsplit_once(',')
            .unwrap_or_else(|| panic!("variable {name}: {q}"));
        let v = prom
            .api(
                &format!("/api/v1/label/{}/values", label.trim()),
                &[("match[]", &substitute(selector.trim()))],
            )
            .await;
        assert_eq!(v["status"], "success", "variable {name}: {v}");
        assert!(
            !v["data"].as_array().expect("values").is_empty(),
            "variable {name} has no values: {q}"
        );
    }

    // The panels show what happened.
    let up = prom.query(&panel_query(&dash, "Daemons up", "A")).await;
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(sample_value(&up[0]), 1.0);
    let build = prom.query(&panel_query(&dash, "Build", "A")).await;
    assert_eq!(value_of(&build, "version", env!("CARGO_PKG_VERSION")), 1.0);
    let states = prom
        .query(&panel_query(&dash, "Integrations by state", "A"))
        .await;
    let total: f64 = states.iter().map(sample_value).sum();
    assert_eq!(total, 13.0, "the demo's 13 integrations: {states:?}");
    let accepted = prom
        .query(&panel_query(&dash, "Webhook deliveries accepted", "A"))
        .await;
    assert!(value_of(&accepted, "outcome", "accepted") > 0.0);
    assert_eq!(value_of(&accepted, "outcome", "duplicate"), 0.0);
    let refused = prom
        .query(&panel_query(
            &dash,
            "Webhook deliveries refused by reason",
            "A",
        ))
        .await;
    assert!(value_of(&refused, "outcome", "bad_signature") > 0.0);
    assert_eq!(value_of(&refused, "outcome", "stale"), 0.0);

    // Every alert rule loaded, evaluates without error, and is a valid instant query.
    if let Some(file) = alerts {
        let text = std::fs::read_to_string(file).expect("alerts");
        let declared = text
            .lines()
            .filter(|l| {
                let l = l.trim_start();
                l.starts_with("expr:") || l.starts_with("- expr:")
            })
            .count();
        let start = Instant::now();
        let rules = loop {
            let v = prom.api("/api/v1/rules", &[]).await;
            assert_eq!(v["status"], "success", "{v}");
            let rules: Vec<Value> = v["data"]["groups"]
                .as_array()
                .expect("groups")
                .iter()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .collect();
            if rules.iter().all(|r| r["health"] != "unknown") {
                break rules;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "rules not evaluated after 10 s: {rules:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(declared > 0, "{ALERTS} declares no expr");
        assert_eq!(
            rules.len(),
            declared,
            "Prometheus loaded {} rules of the {declared} in {ALERTS}",
            rules.len()
        );
        for r in &rules {
            let expr = r["query"].as_str().expect("rule query");
            assert_eq!(
                r["health"], "ok",
                "rule {} failed to evaluate: {} ({expr})",
                r["name"], r["lastError"]
            );
            for name in metric_names(expr) {
                assert!(
                    exported(&name),
                    "rule {} reads {name}, which is not on the first scrape of a fresh daemon",
                    r["name"]
                );
            }
            prom.query(expr).await;
        }
    }

    drop(prom);
    daemon.signal(libc::SIGTERM);
    daemon.wait(Duration::from_secs(20)).await;
    db.drop_db().await;
    eprintln!("prometheus test took {:?}", started.elapsed());
}

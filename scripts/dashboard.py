#!/usr/bin/env python3
"""Writes grafana/dashboards/mcp-worker.json, the mcp-worker dashboard, with the Grafana
foundation SDK (the version pinned in scripts/dashboard-requirements.txt).

    python3 -m venv /tmp/dash && /tmp/dash/bin/pip install -r scripts/dashboard-requirements.txt
    /tmp/dash/bin/python scripts/dashboard.py            # rewrites the committed JSON
    /tmp/dash/bin/python scripts/dashboard.py --check    # exits 1 when the JSON is not its output

Every query uses only series the daemon exports (crates/mcp-queue/src/metrics.rs, crates/mcp-daemon/src/metrics.rs, crates/mcp-daemon/src/sync/mod.rs, crates/mcp-daemon/src/items/); the test
`prometheus` in tests/it runs each one against a real Prometheus scraping a demo daemon.
"""

import json
import pathlib
import sys

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig, ReduceDataOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import BigValueTextMode, GraphThresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)

OUT = pathlib.Path(__file__).resolve().parent.parent / "grafana" / "dashboards" / "mcp-worker.json"

# Grafana 10.4 and later import this and migrate it forward.
SCHEMA_VERSION = 39

DS = DataSourceRef(type_val="prometheus", uid="${datasource}")

# Selectors every query starts from.
D = 'job=~"$job", instance=~"$instance"'
K = D + ', kind=~"$kind"'
P = D + ', platform=~"$platform"'

NINETY_DAYS = 90 * 86400


def rate(metric, sel, by):
    return f"sum by ({by}) (rate({metric}{{{sel}}}[$__rate_interval]))"


def quantile(q, metric, sel, by):
    by = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({by}) (rate({metric}_bucket{{{sel}}}[$__rate_interval])))"


def target(expr, legend, ref):
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref)
        .datasource(DS)
    )


def panel(kind, title, desc, queries, unit="short", w=12, h=8):
    p = kind.Panel().title(title).description(desc).datasource(DS).unit(unit).span(w).height(h)
    for i, (expr, legend) in enumerate(queries):
        p = p.with_target(target(expr, legend, chr(ord("A") + i)))
    return p


def ts(title, desc, queries, **kw):
    return panel(timeseries, title, desc, queries, **kw)


def st(title, desc, queries, **kw):
    return panel(stat, title, desc, queries, **kw).reduce_options(
        ReduceDataOptions().calcs(["lastNotNull"])
    )


def query_var(name, label, query):
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


def rows():
    yield "Queue", [
        ts(
            "Queue depth by kind and state",
            "Unfinished jobs in mcp.sync_jobs (every daemon samples the same table: the max is shown).",
            [(f"max by (kind, state) (mcp_queue_depth{{{K}}})", "{{kind}} {{state}}")],
        ),
        ts(
            "Age of the oldest due job",
            "How long the oldest due, unclaimed job of each kind has waited.",
            [(f"max by (kind) (mcp_queue_oldest_available_age_seconds{{{K}}})", "{{kind}}")],
            unit="s",
        ),
        ts(
            "Throughput",
            "Attempts started, jobs completed, attempts failed and jobs discarded per second.",
            [
                (rate("mcp_jobs_started_total", K, "kind"), "started {{kind}}"),
                (rate("mcp_jobs_completed_total", K, "kind"), "completed {{kind}}"),
                (rate("mcp_jobs_failed_total", K, "kind"), "failed {{kind}}"),
                (rate("mcp_jobs_discarded_total", K, "kind"), "discarded {{kind}}"),
            ],
            unit="ops",
        ),
        ts(
            "Run time p50 / p95 / p99",
            "Run time of one attempt, from mcp_job_duration_seconds.",
            [
                (quantile(0.5, "mcp_job_duration_seconds", K, "kind"), "p50 {{kind}}"),
                (quantile(0.95, "mcp_job_duration_seconds", K, "kind"), "p95 {{kind}}"),
                (quantile(0.99, "mcp_job_duration_seconds", K, "kind"), "p99 {{kind}}"),
            ],
            unit="s",
        ),
        ts(
            "Retries and rescues",
            "Failed attempts retried after backoff, jobs rescued after a lost lease, snoozes, and jobs put back at shutdown.",
            [
                (rate("mcp_jobs_retried_total", K, "kind"), "retried {{kind}}"),
                (rate("mcp_jobs_rescued_total", K, "kind"), "rescued {{kind}}"),
                (rate("mcp_jobs_snoozed_total", K, "kind"), "snoozed {{kind}}"),
                (rate("mcp_jobs_returned_total", K, "kind"), "returned {{kind}}"),
            ],
            unit="ops",
        ),
        ts(
            "Jobs in flight",
            "Jobs each daemon is running now.",
            [(f"sum by (instance) (mcp_jobs_in_flight{{{D}}})", "{{instance}}")],
        ),
        ts(
            "Jobs in flight by kind",
            "Jobs of each kind running now, summed over daemons; a kind with [kinds.<kind>] concurrency stays at or under it per daemon.",
            [(f"sum by (kind) (mcp_kind_jobs_in_flight{{{K}}})", "{{kind}}")],
        ),
    ]
    yield "Daemons", [
        ts(
            "Daemons up",
            "Prometheus' own `up` for each scraped daemon (0: the scrape failed).",
            [(f"up{{{D}}}", "{{instance}}")],
            w=8,
        ),
        st(
            "Build",
            "Daemons per running version (mcp_worker_build_info).",
            [(f"count by (version) (mcp_worker_build_info{{{D}}})", "{{version}}")],
            w=4,
        ).text_mode(BigValueTextMode.VALUE_AND_NAME),
        ts(
            "Pool connections",
            "Database pool connections by state, and the pool's limit.",
            [
                (f"sum by (instance, state) (mcp_db_pool_connections{{{D}}})", "{{instance}} {{state}}"),
                (f"max by (instance) (mcp_db_pool_max_connections{{{D}}})", "{{instance}} max"),
            ],
        ),
        ts(
            "Pool wait p50 / p99",
            "Time waited for a database pool connection: by the claim, by the completer, and by a probe each stats interval (what any statement would wait).",
            [
                (quantile(0.5, "mcp_db_pool_wait_seconds", D, "op"), "p50 {{op}}"),
                (quantile(0.99, "mcp_db_pool_wait_seconds", D, "op"), "p99 {{op}}"),
            ],
            unit="s",
        ),
        ts(
            "Replica reads",
            "database.read_url: how far its replay is behind the primary, and whether the MCP reading tools read it (1) or the primary (0: no read_url, or behind past database.read_max_lag).",
            [
                (f"max by (instance) (mcp_db_replica_lag_seconds{{{D}}})", "{{instance}} lag"),
                (f"min by (instance) (mcp_db_reads_on_replica{{{D}}})", "{{instance}} on replica"),
            ],
            unit="s",
        ),
        ts(
            "Database reachable, live-partition vacuums",
            "1 while each daemon's readiness probe reaches the database; vacuums of mcp.sync_jobs_live run after bursts.",
            [
                (f"min by (instance) (mcp_database_up{{{D}}})", "{{instance}} up"),
                (f"sum by (instance) (increase(mcp_queue_vacuums_total{{{D}}}[$__rate_interval]))", "{{instance}} vacuums"),
            ],
        ),
        ts(
            "Claim and completion batch size",
            "Jobs per claim query and outcomes per completion query: mean and p95.",
            [
                (
                    f"sum(rate(mcp_claim_batch_size_sum{{{D}}}[$__rate_interval])) / sum(rate(mcp_claim_batch_size_count{{{D}}}[$__rate_interval]))",
                    "claim mean",
                ),
                (quantile(0.95, "mcp_claim_batch_size", D, None), "claim p95"),
                (
                    f"sum(rate(mcp_complete_batch_size_sum{{{D}}}[$__rate_interval])) / sum(rate(mcp_complete_batch_size_count{{{D}}}[$__rate_interval]))",
                    "complete mean",
                ),
                (quantile(0.95, "mcp_complete_batch_size", D, None), "complete p95"),
            ],
        ),
        ts(
            "Cron ticks",
            "Cron ticks enqueued, by schedule (each tick by one daemon only).",
            [(f"sum by (schedule) (increase(mcp_cron_ticks_total{{{D}}}[$__rate_interval]))", "{{schedule}}")],
            w=6,
        ),
        ts(
            "Database errors",
            "Database errors met by the engine, by operation.",
            [(rate("mcp_db_errors_total", D, "op"), "{{op}}")],
            unit="ops",
            w=6,
        ),
    ]
    yield "Integrations", [
        ts(
            "Integrations by state",
            "Integrations per state over the selected platforms.",
            [(f"sum by (state) (max by (platform, state) (mcp_integrations{{{P}}}))", "{{state}}")],
        ),
        ts(
            "Circuit breakers open / half-open",
            "Integrations whose breaker is open or half-open, by platform.",
            [
                (
                    f'max by (platform, state) (mcp_circuit_breakers{{{P}, state=~"open|half_open"}})',
                    "{{platform}} {{state}}",
                )
            ],
        ),
        ts(
            "Health checks by outcome",
            "Health checks per second: healthy, an error type, or skipped.",
            [(rate("mcp_health_checks_total", P, "outcome"), "{{outcome}}")],
            unit="ops",
        ),
        ts(
            "Health check latency by platform",
            "Time of the platform call of a health check: p50 and p95.",
            [
                (quantile(0.5, "mcp_health_check_duration_seconds", P, "platform"), "p50 {{platform}}"),
                (quantile(0.95, "mcp_health_check_duration_seconds", P, "platform"), "p95 {{platform}}"),
            ],
            unit="s",
        ),
        ts(
            "Platform errors by type",
            "Failed platform calls by error type (the 13-type taxonomy).",
            [(rate("mcp_integration_errors_total", P, "error_type"), "{{error_type}}")],
            unit="ops",
        ),
        ts(
            "Platform errors by platform",
            "Failed platform calls by platform.",
            [(rate("mcp_integration_errors_total", P, "platform"), "{{platform}}")],
            unit="ops",
        ),
    ]
    yield "Credentials", [
        ts(
            "Token refreshes by outcome",
            "Token refreshes: refreshed, rotated, store_failed, or an error type.",
            [(rate("mcp_token_refreshes_total", P, "outcome"), "{{outcome}}")],
            unit="ops",
        ),
        ts(
            "Token refresh time p95",
            "Time of a successful refresh (lock, platform call, store), by platform.",
            [(quantile(0.95, "mcp_token_refresh_duration_seconds", P, "platform"), "{{platform}}")],
            unit="s",
        ),
        ts(
            "Time to the earliest token expiry",
            "Seconds until the earliest expiry among tokens of integrations in service (negative: expired).",
            [(f"min(mcp_token_earliest_expiry_seconds{{{D}}})", "earliest expiry")],
            unit="s",
        )
        .thresholds(
            dashboard.ThresholdsConfig()
            .mode(ThresholdsMode.ABSOLUTE)
            .steps([Threshold(value=None, color="red"), Threshold(value=3600, color="green")])
        )
        .thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.LINE)),
        ts(
            "Vault key age (policy: 90 days)",
            "Age of the key that encrypts new writes; the line is the 90-day rotation policy.",
            [(f"max by (instance) (mcp_vault_key_age_seconds{{{D}}})", "{{instance}}")],
            unit="s",
            w=8,
        )
        .thresholds(
            dashboard.ThresholdsConfig()
            .mode(ThresholdsMode.ABSOLUTE)
            .steps([Threshold(value=None, color="green"), Threshold(value=NINETY_DAYS, color="red")])
        )
        .thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.LINE))
        .axis_soft_max(NINETY_DAYS),
        st(
            "Vault keys loaded",
            "Vault keys each daemon has loaded (the fewest is shown).",
            [(f"min(mcp_vault_keys{{{D}}})", "keys")],
            w=4,
        ),
        ts(
            "OAuth connects by outcome",
            "OAuth connects: started, connected, or why a callback failed.",
            [(rate("mcp_oauth_connects_total", P, "outcome"), "{{outcome}}")],
            unit="ops",
        ),
    ]
    yield "Webhooks and sync", [
        ts(
            "Webhook deliveries accepted",
            "Deliveries stored, repeated (stored once), handshakes answered, and app-level events for no live integration (answered 200, not stored), per second.",
            [
                (
                    f'sum by (outcome) (rate(mcp_webhook_events_total{{{P}, outcome=~"accepted|duplicate|handshake|unrouted"}}[$__rate_interval]))',
                    "{{outcome}}",
                )
            ],
            unit="ops",
        ),
        ts(
            "Webhook deliveries refused by reason",
            "Deliveries refused: bad signature, stale, unknown webhook, app secret not configured, too large, content type, malformed, database unavailable.",
            [
                (
                    f'sum by (outcome) (rate(mcp_webhook_events_total{{{P}, outcome!~"accepted|duplicate|handshake|unrouted"}}[$__rate_interval]))',
                    "{{outcome}}",
                )
            ],
            unit="ops",
        ),
        ts(
            "Webhook intake latency",
            "Time to answer one delivery (read, verify, store): p50, p95, p99.",
            [
                (quantile(0.5, "mcp_webhook_intake_seconds", P, None), "p50"),
                (quantile(0.95, "mcp_webhook_intake_seconds", P, None), "p95"),
                (quantile(0.99, "mcp_webhook_intake_seconds", P, None), "p99"),
            ],
            unit="s",
        ),
        ts(
            "Webhook processing latency",
            "Time from an event's intake to its processing: p50, p95, p99.",
            [
                (quantile(0.5, "mcp_webhook_processing_seconds", P, None), "p50"),
                (quantile(0.95, "mcp_webhook_processing_seconds", P, None), "p95"),
                (quantile(0.99, "mcp_webhook_processing_seconds", P, None), "p99"),
            ],
            unit="s",
        ),
        ts(
            "Items synced",
            "Items written by syncs per second, by platform.",
            [(rate("mcp_sync_items_total", P, "platform"), "{{platform}}")],
            unit="ops",
        ),
        ts(
            "Sync runs by outcome",
            "Sync runs per second by outcome.",
            [(rate("mcp_sync_runs_total", P, "outcome"), "{{outcome}}")],
            unit="ops",
        ),
        ts(
            "Rate-limit waits and snoozes",
            "Waits for a platform's token bucket, and sync jobs snoozed (a wait too long to sleep, or a 429).",
            [
                (rate("mcp_rate_limit_waits_total", P, "platform"), "wait {{platform}}"),
                (
                    f'sum(rate(mcp_jobs_snoozed_total{{{D}, kind="sync"}}[$__rate_interval]))',
                    "sync snoozed",
                ),
            ],
            unit="ops",
        ),
        ts(
            "Integrations on polling fallback",
            "Integrations synced on the fallback interval (webhook missing, failing or silent).",
            [(f"max by (platform) (mcp_sync_polling_fallback{{{P}}})", "{{platform}}")],
        ),
    ]
    yield "Notifications", [
        ts(
            "Notification deliveries by outcome",
            "Deliveries to the notification endpoints per second: delivered, failed (will retry), exhausted (last attempt failed), gone (endpoint removed, disabled by a 410, or refused).",
            [(rate("mcp_notification_deliveries_total", D, "outcome"), "{{outcome}}")],
            unit="ops",
        ),
        ts(
            "Change to delivered",
            "Time from a critical change to its notification's 2xx: p50, p95, p99.",
            [
                (quantile(0.5, "mcp_notification_delivery_seconds", D, None), "p50"),
                (quantile(0.95, "mcp_notification_delivery_seconds", D, None), "p95"),
                (quantile(0.99, "mcp_notification_delivery_seconds", D, None), "p99"),
            ],
            unit="s",
        ),
        st(
            "Endpoints disabled",
            "Notification endpoints disabled (a 410 from the endpoint, or by hand); see the alert MCPWorkerNotificationEndpointDisabled.",
            [(f"max(mcp_notification_endpoints_disabled{{{D}}})", "disabled")],
        ),
    ]
    yield "Assistant (MCP)", [
        ts(
            "MCP tool calls by tool and outcome",
            "Tool calls on POST /mcp and over stdio per second: ok, tool_error (bad arguments, an expired cursor), not_found, denied (scope), rate_limited (the token's rate), unavailable (the database did not answer).",
            [(rate("mcp_mcp_calls_total", D, "tool, outcome"), "{{tool}} {{outcome}}")],
            unit="ops",
        ),
        ts(
            "MCP tool call duration",
            "Time to answer a tool call, p50 and p99 by tool (the query under row-level security and the answer's serialization; not the network).",
            [
                (quantile(0.5, "mcp_mcp_call_duration_seconds", D, "tool"), "p50 {{tool}}"),
                (quantile(0.99, "mcp_mcp_call_duration_seconds", D, "tool"), "p99 {{tool}}"),
            ],
            unit="s",
        ),
        ts(
            "MCP requests refused",
            "Requests to POST /mcp refused per second: missing (no credentials), unknown (a token unknown, revoked or expired), jwt (a JWT of the wrong issuer, audience, key or age), host and origin (a Host or Origin not allowed); see the alert MCPWorkerMcpCredentialsRefused.",
            [(rate("mcp_mcp_auth_refused_total", D, "reason"), "{{reason}}")],
            unit="ops",
        ),
    ]
    yield "Deletions", [
        ts(
            "Items tombstoned by source",
            "Synced items marked deleted per second: by a deletion event, by a sync page that named them deleted (listing), or by a reconcile's complete listing that no longer showed them.",
            [(rate("mcp_items_tombstoned_total", P, "source"), "{{source}}")],
            unit="ops",
        ),
        ts(
            "Reconcile runs by outcome",
            "Reconcile runs ending per second: completed, guard_stopped (the listing saw fewer than [reconcile] min_share of the items held: nothing tombstoned), restarted, rate_limited, retry, failed.",
            [(rate("mcp_reconcile_runs_total", P, "outcome"), "{{outcome}}")],
            unit="ops",
        ),
    ]


def build():
    d = (
        dashboard.Dashboard("mcp-worker")
        .uid("mcp-worker")
        .description("Queue, daemons, integrations, credentials, webhooks and sync of mcp-worker.")
        .tags(["mcp-worker"])
        .timezone("utc")
        .time("now-1h", "now")
        .refresh("30s")
        .editable()
        .annotation(
            # Grafana's own annotations and alerts, as every new dashboard has them.
            dashboard.AnnotationQuery()
            .name("Annotations & Alerts")
            .datasource(DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .built_in(1)
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .type("dashboard")
        )
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
        .with_variable(query_var("job", "Job", "label_values(mcp_worker_build_info, job)"))
        .with_variable(
            query_var("instance", "Instance", 'label_values(mcp_worker_build_info{job=~"$job"}, instance)')
        )
        .with_variable(
            query_var("kind", "Kind", 'label_values(mcp_jobs_started_total{job=~"$job", instance=~"$instance"}, kind)')
        )
        .with_variable(
            query_var("platform", "Platform", 'label_values(mcp_integrations{job=~"$job", instance=~"$instance"}, platform)')
        )
    )
    next_id = 1
    for title, panels in rows():
        d = d.with_row(dashboard.Row(title).id(next_id).datasource(DS))
        next_id += 1
        for p in panels:
            d = d.with_panel(p.id(next_id))
            next_id += 1
    model = d.build()
    model.schema_version = SCHEMA_VERSION
    return model


def render():
    return json.dumps(build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main():
    text = render()
    if sys.argv[1:] == ["--check"]:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is not the output of scripts/dashboard.py: run it and commit", file=sys.stderr)
            return 1
        return 0
    if sys.argv[1:]:
        print("usage: dashboard.py [--check]", file=sys.stderr)
        return 2
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

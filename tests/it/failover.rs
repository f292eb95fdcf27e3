//! A primary's failover under load: the lab's failover suite makes its own primary and
//! synchronous standby (`pg_basebackup`) and a PgBouncer on loopback ports, SIGKILLs the
//! primary while the daemon drains 20,000 jobs and takes webhooks at 500/s, promotes the
//! standby and repoints the pooler. What the daemon must show: `/readyz` 503 during the outage
//! and 200 within 10 s of the promotion, every job completed, only jobs in flight at the kill
//! run twice, and no event it answered 2xx lost.

use crate::common::{lab_bin, run_exe};

#[tokio::test]
async fn a_primary_killed_mid_drain_and_intake_fails_over_losing_nothing_acknowledged() {
    let (ok, out, err) = run_exe(
        &lab_bin(),
        &mcp_testkit::admin_url(),
        &[
            "bench",
            "--suite",
            "failover",
            "--json",
            "--failover-jobs",
            "20000",
            "--failover-rate",
            "500",
        ],
    )
    .await;
    assert!(ok, "failover suite failed:\n{out}\n{err}");
    let report: serde_json::Value = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON report:\n{out}"));
    let num = |k: &str| {
        report[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k} missing: {report}"))
    };
    assert!(num("time_to_503_ms") >= 0.0, "/readyz went 503: {out}");
    assert!(
        (0.0..=10_000.0).contains(&num("time_to_200_ms")),
        "/readyz 200 within 10 s of the promotion: {out}"
    );
    assert_eq!(
        num("jobs_completed"),
        20_000.0,
        "every job completed: {out}"
    );
    assert!(
        num("completed_at_kill") < 20_000.0,
        "the kill came in the middle of the drain: {out}"
    );
    assert!(
        num("jobs_rerun") <= num("in_flight_at_kill"),
        "only jobs in flight at the kill ran twice: {out}"
    );
    assert!(num("events_acknowledged") > 0.0, "{out}");
    assert_eq!(
        num("events_acknowledged_lost"),
        0.0,
        "no event answered 2xx is lost: {out}"
    );
}

//! The engine's Prometheus series: names, help texts and the buckets their histograms want.
//! The daemon installs the recorder; every per-kind series is registered at zero by
//! `register_kinds`, so rates work from the first scrape. Labels carry kinds, states and schedule
//! names only, never payloads.

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};

pub const JOBS_STARTED: &str = "mcp_jobs_started_total";
pub const JOBS_COMPLETED: &str = "mcp_jobs_completed_total";
pub const JOBS_FAILED: &str = "mcp_jobs_failed_total";
pub const JOBS_RETRIED: &str = "mcp_jobs_retried_total";
pub const JOBS_DISCARDED: &str = "mcp_jobs_discarded_total";
pub const JOBS_RESCUED: &str = "mcp_jobs_rescued_total";
pub const JOBS_SNOOZED: &str = "mcp_jobs_snoozed_total";
pub const JOBS_RETURNED: &str = "mcp_jobs_returned_total";
pub const JOB_DURATION: &str = "mcp_job_duration_seconds";
pub const QUEUE_DEPTH: &str = "mcp_queue_depth";
pub const OLDEST_AVAILABLE_AGE: &str = "mcp_queue_oldest_available_age_seconds";
pub const CLAIM_BATCH: &str = "mcp_claim_batch_size";
pub const COMPLETE_BATCH: &str = "mcp_complete_batch_size";
pub const IN_FLIGHT: &str = "mcp_jobs_in_flight";
pub const POOL_CONNECTIONS: &str = "mcp_db_pool_connections";
pub const POOL_MAX: &str = "mcp_db_pool_max_connections";
pub const CRON_TICKS: &str = "mcp_cron_ticks_total";
pub const DB_ERRORS: &str = "mcp_db_errors_total";
pub const DB_POOL_WAIT: &str = "mcp_db_pool_wait_seconds";
pub const QUEUE_VACUUMS: &str = "mcp_queue_vacuums_total";
pub const KIND_IN_FLIGHT: &str = "mcp_kind_jobs_in_flight";

/// Job counters that exist per kind.
pub const PER_KIND_COUNTERS: &[&str] = &[
    JOBS_STARTED,
    JOBS_COMPLETED,
    JOBS_FAILED,
    JOBS_RETRIED,
    JOBS_DISCARDED,
    JOBS_RESCUED,
    JOBS_SNOOZED,
    JOBS_RETURNED,
];

/// Buckets of `mcp_job_duration_seconds`.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
/// Buckets of the claim and completion batch sizes.
pub const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
];
/// Buckets of `mcp_db_pool_wait_seconds`.
pub const POOL_WAIT_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Describes the engine's series to the installed recorder.
pub fn describe() {
    describe_counter!(JOBS_STARTED, "Attempts started, by kind.");
    describe_counter!(JOBS_COMPLETED, "Jobs completed, by kind.");
    describe_counter!(
        JOBS_FAILED,
        "Attempts that failed (error, timeout or panic), by kind."
    );
    describe_counter!(
        JOBS_RETRIED,
        "Failed attempts that will be retried after backoff, by kind."
    );
    describe_counter!(
        JOBS_DISCARDED,
        "Jobs discarded (attempts exhausted or unretryable), by kind."
    );
    describe_counter!(
        JOBS_RESCUED,
        "Running jobs taken back after their lease expired, by kind."
    );
    describe_counter!(
        JOBS_SNOOZED,
        "Attempts snoozed without spending an attempt, by kind."
    );
    describe_counter!(
        JOBS_RETURNED,
        "Jobs put back unfinished at shutdown, by kind."
    );
    describe_histogram!(
        JOB_DURATION,
        Unit::Seconds,
        "Run time of one attempt, by kind."
    );
    describe_gauge!(QUEUE_DEPTH, "Unfinished jobs by kind and state.");
    describe_gauge!(
        OLDEST_AVAILABLE_AGE,
        Unit::Seconds,
        "Age of the oldest due, unclaimed job, by kind."
    );
    describe_histogram!(CLAIM_BATCH, "Jobs claimed per claim query.");
    describe_histogram!(COMPLETE_BATCH, "Outcomes written per completion query.");
    describe_gauge!(IN_FLIGHT, "Jobs this daemon is running now.");
    describe_gauge!(
        POOL_CONNECTIONS,
        "Database pool connections by state (idle, in_use)."
    );
    describe_gauge!(POOL_MAX, "Database pool size limit.");
    describe_histogram!(
        DB_POOL_WAIT,
        Unit::Seconds,
        "Time waited for a database pool connection, by operation (claim, complete, and a probe each stats interval: what any statement would wait)."
    );
    describe_counter!(
        QUEUE_VACUUMS,
        "Vacuums of the live jobs partition this daemon ran after a burst left dead rows."
    );
    describe_gauge!(KIND_IN_FLIGHT, "Jobs this daemon is running now, by kind.");
    describe_counter!(CRON_TICKS, "Cron ticks this daemon enqueued, by schedule.");
    describe_counter!(
        DB_ERRORS,
        "Database errors met by the engine, by operation."
    );
}

/// Registers every per-kind series at zero.
pub fn register_kinds<'a>(kinds: impl IntoIterator<Item = &'a str>) {
    for kind in kinds {
        for name in PER_KIND_COUNTERS {
            counter!(*name, "kind" => kind.to_string()).increment(0);
        }
        for state in crate::JobState::LIVE.map(crate::JobState::as_str) {
            gauge!(QUEUE_DEPTH, "kind" => kind.to_string(), "state" => state).set(0.0);
        }
        gauge!(OLDEST_AVAILABLE_AGE, "kind" => kind.to_string()).set(0.0);
        gauge!(KIND_IN_FLIGHT, "kind" => kind.to_string()).set(0.0);
        let _ = histogram!(JOB_DURATION, "kind" => kind.to_string());
    }
    let _ = histogram!(CLAIM_BATCH);
    let _ = histogram!(COMPLETE_BATCH);
    gauge!(IN_FLIGHT).set(0.0);
    for op in ["claim", "complete", "rescue", "stats", "cron", "vacuum"] {
        counter!(DB_ERRORS, "op" => op).increment(0);
    }
    for op in ["claim", "complete", "probe"] {
        let _ = histogram!(DB_POOL_WAIT, "op" => op);
    }
    counter!(QUEUE_VACUUMS).increment(0);
}

pub fn register_schedules<'a>(names: impl IntoIterator<Item = &'a str>) {
    for name in names {
        counter!(CRON_TICKS, "schedule" => name.to_string()).increment(0);
    }
}

//! One attempt: checks the payload, runs the handler under its timeout with panics caught,
//! turns the result into an `Outcome` and sends it to the completer. It never writes SQL.

use super::*;

/// What every attempt needs: jobs (bound to their services) and policies by kind, the completer's inbox.
pub(super) struct Runtime {
    pub(super) kinds: Arc<std::collections::HashMap<String, KindRuntime>>,
    pub(super) tx: mpsc::UnboundedSender<Done>,
    pub(super) hard_stop: CancellationToken,
}

/// The apalis service: runs one attempt on its own tokio task (so attempts use every core and a
/// panic stays inside its job) and waits for it.
pub(super) async fn run_attempt(c: Claimed, rt: Data<Arc<Runtime>>) -> Result<(), BoxDynError> {
    if let Some(handle) = start_attempt(&rt, c) {
        // A JoinError means the runtime itself is going away; the row keeps its lease and the
        // rescuer takes it back.
        let _ = handle.await;
    }
    Ok(())
}

pub(super) fn start_attempt(rt: &Runtime, c: Claimed) -> Option<JoinHandle<()>> {
    let Claimed {
        job,
        permit,
        kind_permit,
    } = c;
    let Some(kr) = rt.kinds.get(&job.kind) else {
        // Cannot happen: the claim only asks for kinds in this map. Leave the row to the
        // rescuer rather than guess.
        tracing::error!(job_id = job.id, kind = %job.kind, "claimed a kind without handler");
        return None;
    };
    let job_fn = kr.job.clone();
    let policy = kr.policy;
    let kind = kr.name.clone();
    let checked = kr.schema.validate(&job.payload);
    let tx = rt.tx.clone();
    let hard_stop = rt.hard_stop.clone();
    Some(tokio::spawn(async move {
        counter!(m::JOBS_STARTED, "kind" => kind.to_string()).increment(1);
        tracing::debug!(job_id = job.id, kind = %kind, attempt = job.attempt, "job started");
        let started = Instant::now();
        let (id, attempt, max_attempts) = (job.id, job.attempt, job.max_attempts);
        let outcome = match checked {
            Err(reason) => Outcome::Discard {
                error: format!("invalid payload: {reason}"),
            },
            Ok(()) => {
                let a = Attempt {
                    id,
                    kind: kind.to_string(),
                    attempt,
                    max_attempts,
                };
                let run = AssertUnwindSafe(job_fn(a, job.payload)).catch_unwind();
                tokio::select! {
                    r = tokio::time::timeout(policy.timeout, run) => decide(r, &policy, attempt, max_attempts),
                    _ = hard_stop.cancelled() => Outcome::Return,
                }
            }
        };
        histogram!(m::JOB_DURATION, "kind" => kind.to_string())
            .record(started.elapsed().as_secs_f64());
        record(&kind, id, attempt, &outcome);
        let _ = tx.send(Done {
            row: OutcomeRow {
                id,
                attempt,
                outcome,
            },
            _permit: permit,
            _kind_permit: kind_permit,
        });
    }))
}

pub(super) type RunResult = Result<
    Result<Result<(), JobError>, Box<dyn std::any::Any + Send>>,
    tokio::time::error::Elapsed,
>;

/// Turns what the handler did into the job's next state.
pub(super) fn decide(
    r: RunResult,
    policy: &RetryPolicy,
    attempt: i16,
    max_attempts: i16,
) -> Outcome {
    let failure = |error: String| {
        if attempt >= max_attempts {
            Outcome::Discard { error }
        } else {
            Outcome::Retry {
                error,
                delay: retry::backoff_random(policy, attempt.max(1) as u32),
            }
        }
    };
    match r {
        Err(_) => failure(format!("timed out after {:?}", policy.timeout)),
        Ok(Err(panic)) => failure(format!("handler panicked: {}", panic_text(&panic))),
        Ok(Ok(Ok(()))) => Outcome::Completed,
        Ok(Ok(Err(JobError::Retry(e)))) => failure(e),
        Ok(Ok(Err(JobError::Discard(e)))) => Outcome::Discard { error: e },
        Ok(Ok(Err(JobError::Snooze(delay)))) => Outcome::Snooze { delay },
        Ok(Ok(Err(JobError::RetryAfter(delay, error)))) => {
            if attempt >= max_attempts {
                Outcome::Discard { error }
            } else {
                Outcome::Retry { error, delay }
            }
        }
    }
}

pub(super) fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}

/// One metric and one log event per state change.
pub(super) fn record(kind: &Arc<str>, id: i64, attempt: i16, outcome: &Outcome) {
    let k = kind.to_string();
    match outcome {
        Outcome::Completed => {
            counter!(m::JOBS_COMPLETED, "kind" => k).increment(1);
            tracing::debug!(job_id = id, kind = %kind, attempt, "job completed");
        }
        Outcome::Retry { error, delay } => {
            counter!(m::JOBS_FAILED, "kind" => k.clone()).increment(1);
            counter!(m::JOBS_RETRIED, "kind" => k).increment(1);
            tracing::info!(job_id = id, kind = %kind, attempt, retry_in_ms = delay.as_millis() as u64, error = %error, "job failed; will retry");
        }
        Outcome::Discard { error } => {
            counter!(m::JOBS_FAILED, "kind" => k.clone()).increment(1);
            counter!(m::JOBS_DISCARDED, "kind" => k).increment(1);
            tracing::warn!(job_id = id, kind = %kind, attempt, error = %error, "job discarded");
        }
        Outcome::Snooze { delay } => {
            counter!(m::JOBS_SNOOZED, "kind" => k).increment(1);
            tracing::info!(job_id = id, kind = %kind, attempt, snooze_ms = delay.as_millis() as u64, "job snoozed");
        }
        Outcome::Return => {
            counter!(m::JOBS_RETURNED, "kind" => k).increment(1);
            tracing::info!(job_id = id, kind = %kind, attempt, "job put back unfinished (shutdown)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            timeout: Duration::from_secs(1),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(10),
        }
    }

    #[test]
    fn retry_after_spends_the_attempt_with_the_job_s_own_delay() {
        let delay = Duration::from_secs(300);
        let r = |attempt| {
            decide(
                Ok(Ok(Err(JobError::RetryAfter(delay, "503".into())))),
                &policy(),
                attempt,
                3,
            )
        };
        match r(2) {
            Outcome::Retry { error, delay: d } => assert_eq!((error.as_str(), d), ("503", delay)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(r(3), Outcome::Discard { .. }));
    }
}

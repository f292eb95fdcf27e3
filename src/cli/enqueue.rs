//! What `mcp-worker enqueue` and `jobs list` check before they touch the database, so that a
//! mistake is a usage error (exit 2) that names the valid values, and no job that cannot run
//! enters the queue: a kind of the catalogue, a payload its schema accepts, a priority and an
//! attempt count the table holds.

use mcp_queue::catalog::Catalog;
use mcp_queue::{EnqueueRequest, JobState};

/// `mcp-worker enqueue`'s arguments.
#[derive(clap::Args)]
pub struct EnqueueArgs {
    kind: String,
    #[arg(long, default_value = "{}")]
    payload: String,
    /// When to run it (RFC 3339); now by default.
    #[arg(long)]
    run_at: Option<chrono::DateTime<chrono::Utc>>,
    #[arg(long)]
    priority: Option<i32>,
    #[arg(long)]
    max_attempts: Option<i32>,
    #[arg(long)]
    unique_key: Option<String>,
    #[arg(long)]
    queue: Option<String>,
}

impl EnqueueArgs {
    /// The request, or why `--payload` is not JSON.
    pub fn request(self) -> Result<EnqueueRequest, String> {
        let payload = serde_json::from_str(&self.payload)
            .map_err(|e| format!("--payload is not valid JSON: {e}"))?;
        Ok(EnqueueRequest {
            kind: self.kind,
            payload,
            run_at: self.run_at,
            priority: self.priority,
            max_attempts: self.max_attempts,
            unique_key: self.unique_key,
            queue: self.queue,
        })
    }
}

/// Why `req` cannot be enqueued, in a sentence naming the valid values.
pub fn check(catalog: &Catalog, req: &EnqueueRequest) -> Result<(), String> {
    let Some(spec) = catalog.get(&req.kind) else {
        let kinds: Vec<&str> = catalog.iter().map(|k| k.kind.as_str()).collect();
        return Err(format!(
            "unknown kind `{}`: the kinds are {}",
            req.kind,
            kinds.join(", ")
        ));
    };
    spec.schema
        .validate(&req.payload)
        .map_err(|e| format!("--payload does not fit kind {}: {e}", req.kind))?;
    if let Some(p) = req.priority {
        if !(i32::from(i16::MIN)..=i32::from(i16::MAX)).contains(&p) {
            return Err(format!(
                "--priority {p}: it must be between -32768 and 32767"
            ));
        }
    }
    if let Some(m) = req.max_attempts {
        if !(1..=i32::from(i16::MAX)).contains(&m) {
            return Err(format!(
                "--max-attempts {m}: it must be between 1 and 32767"
            ));
        }
    }
    Ok(())
}

/// Why `state` is not a job state.
pub fn check_state(state: &str) -> Result<(), String> {
    let states = JobState::ALL.map(JobState::as_str);
    if states.contains(&state) {
        Ok(())
    } else {
        Err(format!(
            "unknown state `{state}`: the states are {}",
            states.join(", ")
        ))
    }
}

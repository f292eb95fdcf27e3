//! Every command that prints, with its output going into a pipe nobody reads (`mcp-worker jobs
//! list | head -1` once `head` has its line): it ends quietly, never with a panic and a
//! backtrace.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use mcp_testkit::integrations::workspace;
use mcp_testkit::TestDb;

/// Runs `args` with stdout a pipe whose reading end is already closed; its exit and stderr.
fn into_closed_pipe(url: &str, args: &[&str]) -> (std::process::ExitStatus, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = std::process::Command::new(crate::common::bin())
        .args(args)
        .env("DATABASE_URL", url)
        .env("MCP_WORKER__LOG__LEVEL", "warn")
        .env_remove("MCP_WORKER_CONFIG")
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run the command");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn every_printing_command_ends_quietly_on_a_closed_pipe() {
    let db = TestDb::new().await;
    let ws = workspace(&db, "pipes").await.to_string();
    let job: i64 = sqlx::query_scalar("SELECT mcp.enqueue_job('noop', '{}')")
        .fetch_one(&db.pool)
        .await
        .expect("a job");
    let job = job.to_string();
    let dir = tempfile::tempdir().expect("dir");
    let key_dir = dir.path().display().to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec!["--help"],
        vec!["--version"],
        vec!["jobs", "--help"],
        vec!["check-config"],
        vec!["migrate"],
        vec!["enqueue", "noop"],
        vec!["jobs", "list"],
        vec!["jobs", "show", &job],
        vec!["tokens", "create", "--workspace", &ws, "--name", "p"],
        vec!["tokens", "list"],
        vec!["mcp", "token", "create", "--workspace", &ws],
        vec!["mcp", "token", "list"],
        vec!["keys", "generate", "--dir", &key_dir],
    ];
    for args in &commands {
        let (status, err) = into_closed_pipe(&db.url, args);
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert!(
            status.success() || status.signal() == Some(libc::SIGPIPE),
            "{args:?}: {status}, {err}"
        );
    }
    db.drop_db().await;
}

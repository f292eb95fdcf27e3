//! The command line: parse, load config, call into the library. Nothing else lives here.

mod cli;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mcp_daemon::config::Config;

#[derive(Parser)]
#[command(
    name = "mcp-worker",
    version,
    about = "Runs jobs from the Postgres table mcp.sync_jobs"
)]
struct Cli {
    #[command(flatten)]
    global: mcp_daemon::args::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: migrations, worker, cron scheduler, /metrics /healthz /readyz and the
    /// webhook intake on http.listen, the management API on http.admin_listen.
    Run(mcp_daemon::args::Listeners),
    /// Apply migrations and write the job catalogue, then exit.
    Migrate,
    /// Enqueue one job through mcp.enqueue_job and print its id.
    Enqueue(crate::cli::enqueue::EnqueueArgs),
    /// Read and act on jobs.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Webhooks of their own for integrations: register one (printing the URL to give the
    /// platform), list them, remove one; Notion's subscription verification token.
    Webhooks {
        #[command(subcommand)]
        command: crate::cli::webhooks::WebhooksCommand,
    },
    /// Endpoints that are told of critical changes (signed, retried; docs/NOTIFICATIONS.md).
    Notify {
        #[command(subcommand)]
        command: crate::cli::notify::NotifyCommand,
    },
    /// Workspace API tokens of the management API: make one (printed once), list, revoke.
    Tokens {
        #[command(subcommand)]
        command: crate::cli::tokens::TokensCommand,
    },
    /// The MCP server for assistants: its tokens (`mcp token create|list|revoke`), and the
    /// server over stdio for one workspace (`mcp stdio --workspace ID`; docs/MCP.md).
    Mcp {
        #[command(subcommand)]
        command: crate::cli::mcp::McpCommand,
    },
    /// Print the effective configuration with secrets redacted.
    CheckConfig,
    /// Vault keys: make one, or re-encrypt every stored secret under the newest.
    Keys {
        #[command(subcommand)]
        command: crate::cli::keys::KeysCommand,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// The latest jobs, newest first.
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One job as JSON, with every attempt's error.
    Show { id: i64 },
    /// Run a job again now (mcp.retry_job).
    Retry { id: i64 },
    /// Cancel a job that has not finished (mcp.cancel_job).
    Cancel { id: i64 },
}

/// Whether a write to a closed pipe ends the process quietly (`SIGPIPE`'s default, as other
/// command-line tools do: `mcp-worker jobs list | head -1`) or is an error to handle (ignored,
/// Rust's default, kept by the daemon and the stdio server, whose peers may go away).
fn sigpipe(quiet_exit: bool) {
    let action = if quiet_exit {
        libc::SIG_DFL
    } else {
        libc::SIG_IGN
    };
    // SAFETY: setting a signal's disposition to a default or to ignore, before any thread is
    // started, runs no code of ours in a handler.
    unsafe {
        libc::signal(libc::SIGPIPE, action);
    }
}

fn main() -> ExitCode {
    // Before clap, so that `--help | head -1` ends quietly too.
    sigpipe(true);
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Run(_)
            | Command::Mcp {
                command: crate::cli::mcp::McpCommand::Stdio { .. }
            }
    ) {
        sigpipe(false);
    }
    let config = match Config::load(cli.global.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mcp-worker: {e}");
            return ExitCode::from(2);
        }
    };
    let log = config.log.clone();
    mcp_daemon::telemetry::main_on_runtime("mcp-worker", &log, dispatch(cli.command, config))
}

async fn dispatch(command: Command, mut config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(listeners) => {
            listeners.apply(&mut config);
            mcp_handlers::daemon::run(config, tokio_util::sync::CancellationToken::new())
                .await
                .context("daemon failed")?;
        }
        Command::Migrate => {
            let pool = mcp_daemon::db::connect(&config.database).await?;
            mcp_daemon::db::migrate(&pool, &mcp_handlers::catalog(&config)?).await?;
            if let Some(job) = mcp_daemon::items::backfill::enqueue_if_needed(&pool).await? {
                println!("items backfill enqueued (job {job})");
            }
            println!("migrations applied; job catalogue written");
        }
        Command::Enqueue(args) => {
            let req = match args.request() {
                Ok(req) => req,
                Err(why) => {
                    eprintln!("mcp-worker: {why}");
                    return Ok(ExitCode::from(2));
                }
            };
            if let Err(why) = crate::cli::enqueue::check(&mcp_handlers::catalog(&config)?, &req) {
                eprintln!("mcp-worker: {why}");
                return Ok(ExitCode::from(2));
            }
            let pool = mcp_daemon::db::connect(&config.database).await?;
            let id = mcp_queue::admin_enqueue(&pool, &req).await?;
            println!("{id}");
        }
        Command::Notify { command } => crate::cli::notify::run(command, &config).await?,
        Command::Webhooks { command } => crate::cli::webhooks::run(command, &config).await?,
        Command::Keys { command } => crate::cli::keys::run(command, &config).await?,
        Command::Tokens { command } => crate::cli::tokens::run(command, &config).await?,
        Command::Mcp { command } => crate::cli::mcp::run(command, &config).await?,
        Command::Jobs { command } => {
            let pool = mcp_daemon::db::connect(&config.database).await?;
            match command {
                JobsCommand::List { state, kind, limit } => {
                    if let Some(Err(why)) = state.as_deref().map(crate::cli::enqueue::check_state) {
                        eprintln!("mcp-worker: {why}");
                        return Ok(ExitCode::from(2));
                    }
                    let rows =
                        mcp_queue::admin_list(&pool, state.as_deref(), kind.as_deref(), limit)
                            .await?;
                    println!(
                        "{:>10}  {:<14} {:<10} {:>7}  {:<25} last_error",
                        "id", "kind", "state", "attempt", "run_at"
                    );
                    for r in rows {
                        let max = r
                            .max_attempts
                            .map(|m| m.to_string())
                            .unwrap_or_else(|| "-".into());
                        println!(
                            "{:>10}  {:<14} {:<10} {:>7}  {:<25} {}",
                            r.id,
                            r.kind,
                            r.state,
                            format!("{}/{}", r.attempt, max),
                            r.run_at.format("%Y-%m-%d %H:%M:%S%.3f"),
                            // A completed job's earlier failures are history (`jobs show`
                            // has every attempt's error), not its state.
                            if r.state == "completed" {
                                String::new()
                            } else {
                                r.last_error.unwrap_or_default()
                            }
                        );
                    }
                }
                JobsCommand::Show { id } => {
                    let row = mcp_queue::admin_show(&pool, id).await?;
                    println!("{}", serde_json::to_string_pretty(&row)?);
                }
                JobsCommand::Retry { id } => {
                    if mcp_queue::admin_retry(&pool, id).await? {
                        println!("job {id} will run again now");
                    } else {
                        anyhow::bail!("job {id} is running; it cannot be retried until it ends");
                    }
                }
                JobsCommand::Cancel { id } => {
                    if mcp_queue::admin_cancel(&pool, id).await? {
                        println!("job {id} cancelled");
                    } else {
                        anyhow::bail!("job {id} has already finished");
                    }
                }
            }
        }
        Command::CheckConfig => {
            // What `run` would fail on at start, before it prints the configuration as valid.
            if let Err(e) = mcp_handlers::preflight::check(&config) {
                eprintln!("mcp-worker: {e}");
                return Ok(ExitCode::from(2));
            }
            print!("{}", config.redacted());
        }
    }
    Ok(ExitCode::SUCCESS)
}

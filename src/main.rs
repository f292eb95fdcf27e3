//! The command line: parse, load config, call into the library. Nothing else lives here.

mod bench;
mod demo;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mcp_daemon::config::Config;
use mcp_queue::EnqueueRequest;

#[derive(Parser)]
#[command(
    name = "mcp-worker",
    version,
    about = "Runs jobs from the Postgres table mcp.sync_jobs"
)]
struct Cli {
    /// TOML config file (see config/mcp-worker.example.toml).
    #[arg(long, global = true, env = "MCP_WORKER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: migrations, worker, cron scheduler, /metrics /healthz /readyz.
    Run {
        /// Address of the HTTP listener (overrides http.listen).
        #[arg(long)]
        listen: Option<String>,
        /// Also start the sandbox of the 13 platforms and a demo workspace with faults armed.
        #[arg(long)]
        demo: bool,
    },
    /// The demo in one command: the sandbox, 13 integrations with faults, the daemon, a live checklist.
    ///
    /// Exits 3 unless health checks passed and failed, a breaker opened and closed, a token was
    /// refreshed with rotation, a signed webhook was accepted and a forged one refused, syncs
    /// paged, and /metrics moved.
    Demo {
        /// Address of the HTTP listener (overrides http.listen).
        #[arg(long)]
        listen: Option<String>,
        /// Stop after this long (e.g. 60s), counted from when the daemon is ready; without it,
        /// run until Ctrl-C or SIGTERM.
        #[arg(long = "for", value_name = "DURATION", value_parser = humantime_serde::re::humantime::parse_duration)]
        run_for: Option<std::time::Duration>,
    },
    /// Apply migrations and write the job catalogue, then exit.
    Migrate,
    /// Enqueue one job through mcp.enqueue_job and print its id.
    Enqueue {
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
    },
    /// Read and act on jobs.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Webhooks of their own for integrations: register one (printing the URL to give the
    /// platform), list them, remove one.
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
    },
    /// Endpoints that are told of critical changes (signed, retried; docs/NOTIFICATIONS.md).
    Notify {
        #[command(subcommand)]
        command: NotifyCommand,
    },
    /// Print the effective configuration with secrets redacted.
    CheckConfig,
    /// Vault keys: make one, or re-encrypt every stored secret under the newest.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Run the local fake of the 13 platforms in the foreground (tests, demo, benchmarks).
    Sandbox {
        #[arg(long, default_value = "127.0.0.1:8765")]
        listen: String,
    },
    /// Measure drain throughput, enqueue latency, bulk enqueue and daemon RSS.
    Bench(crate::bench::BenchArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new random key file (mode 0600) and print its path; add it to vault.key_files
    /// (or install it as a systemd credential vault-key-<id>), then run `keys rotate`.
    Generate {
        /// Directory for the key file.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Key id (the file name without .key); by default k<UTC timestamp>, so that newer
        /// keys sort last.
        #[arg(long)]
        id: Option<String>,
    },
    /// Re-encrypt every stored secret under the newest key, in batches (safe to stop and rerun).
    Rotate {
        #[arg(long, default_value_t = 500)]
        batch: i64,
        /// Stop after this many batches (the rest is done by the next run).
        #[arg(long)]
        max_batches: Option<u64>,
    },
}

#[derive(Subcommand)]
enum NotifyCommand {
    /// Add an endpoint; prints its id and its signing secret (shown this once).
    Add {
        url: String,
        /// Only this workspace's events (all workspaces by default).
        #[arg(long)]
        workspace: Option<uuid::Uuid>,
        /// Only these types (every critical type by default; `sync.completed` only when named).
        #[arg(long = "event")]
        events: Vec<String>,
    },
    /// The endpoints, with whether each is enabled and why not; no secret.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove an endpoint.
    Remove { id: uuid::Uuid },
    /// A new signing secret (printed once); the old one keeps signing beside it for
    /// `notify.secret_overlap`. Enables a disabled endpoint again.
    RotateSecret { id: uuid::Uuid },
    /// Send a `notification.test` to an endpoint through the queue; prints its webhook-id.
    Test { id: uuid::Uuid },
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Register a webhook for an integration and print its id and URL. The secret is read from
    /// a file or standard input (never from the command line) and sealed in the vault.
    Register {
        #[arg(long)]
        integration: uuid::Uuid,
        /// A file holding the platform's signing secret (its first line).
        #[arg(long, conflicts_with = "secret_stdin")]
        secret_file: Option<PathBuf>,
        /// Read the signing secret from standard input (its first line).
        #[arg(long)]
        secret_stdin: bool,
        /// Discord: the application's public key (64 hex digits; not a secret).
        #[arg(long)]
        public_key: Option<String>,
    },
    /// The webhooks (of one integration), with the URL each is delivered to; no secret.
    List {
        #[arg(long)]
        integration: Option<uuid::Uuid>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Disable a webhook and erase its secret (its stored events stay until prune).
    Remove { id: uuid::Uuid },
}

/// The first line of `text`, trimmed, as a secret.
fn secret_line(text: &str) -> Option<mcp_platforms::secret::Secret> {
    let line = text.lines().next().unwrap_or("").trim();
    (!line.is_empty()).then(|| mcp_platforms::secret::Secret::new(line))
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mcp-worker: {e}");
            return ExitCode::from(2);
        }
    };
    if matches!(cli.command, Command::Demo { .. })
        && std::env::var_os("RUST_LOG").is_none()
        && config.log.level == mcp_daemon::config::LogConfig::default().level
    {
        // The demo's own summary is the output; the daemon's logs would scroll it away.
        config.log.level = "error".into();
    }
    mcp_daemon::telemetry::init(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mcp-worker: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command, config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mcp-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, mut config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run { listen, demo } => {
            if let Some(l) = listen {
                config.http.listen = l;
            }
            let mut demo_handle = None;
            if demo {
                let d = crate::demo::prepare(&mut config)
                    .await
                    .context("demo: cannot start the sandbox")?;
                d.seed(&config).await.context("demo: cannot seed")?;
                eprint!(
                    "{}",
                    crate::demo::banner(&d, &config.http.listen, &config.database.url)
                );
                demo_handle = Some(d);
            }
            mcp_daemon::daemon::run(config, tokio_util::sync::CancellationToken::new())
                .await
                .context("daemon failed")?;
            drop(demo_handle);
        }
        Command::Demo { listen, run_for } => {
            if let Some(l) = listen {
                config.http.listen = l;
            }
            let outcome =
                crate::demo::driver::run(config, crate::demo::driver::Options { run_for })
                    .await
                    .context("demo failed")?;
            let missing = outcome.missing();
            if !missing.is_empty() {
                eprintln!("mcp-worker demo: not seen: {}", missing.join("; "));
                return Ok(ExitCode::from(3));
            }
        }
        Command::Migrate => {
            let pool = mcp_daemon::db::connect(&config.database).await?;
            mcp_daemon::db::migrate(&pool, &config.catalog()).await?;
            println!("migrations applied; job catalogue written");
        }
        Command::Enqueue {
            kind,
            payload,
            run_at,
            priority,
            max_attempts,
            unique_key,
            queue: q,
        } => {
            let payload: serde_json::Value =
                serde_json::from_str(&payload).context("--payload is not valid JSON")?;
            let pool = mcp_daemon::db::connect(&config.database).await?;
            let req = EnqueueRequest {
                kind,
                payload,
                run_at,
                priority,
                max_attempts,
                unique_key,
                queue: q,
            };
            let id = mcp_queue::admin_enqueue(&pool, &req).await?;
            println!("{id}");
        }
        Command::Notify { command } => {
            let pool = mcp_daemon::db::connect(&config.database).await?;
            use mcp_daemon::notify::endpoints as ep;
            match command {
                NotifyCommand::Add {
                    url,
                    workspace,
                    events,
                } => {
                    let vault = mcp_daemon::vault::Vault::from_config(&config.vault)?;
                    mcp_daemon::keys::load_data_keys(&pool, &vault).await?;
                    let (e, secret) = ep::add(&pool, &vault, &url, workspace, &events).await?;
                    println!("endpoint {}", e.id);
                    println!("signing secret (shown once): {}", secret.expose());
                }
                NotifyCommand::List { json } => {
                    for e in ep::list(&pool).await? {
                        if json {
                            println!("{}", serde_json::to_string(&e)?);
                        } else {
                            let ws = e.workspace_id.map(|w| w.to_string());
                            println!(
                                "{}  {}  {}  workspace {}  types {}{}",
                                e.id,
                                if e.enabled { "enabled " } else { "disabled" },
                                e.url,
                                ws.as_deref().unwrap_or("all"),
                                if e.event_types.is_empty() {
                                    "critical".to_string()
                                } else {
                                    e.event_types.join(",")
                                },
                                e.disabled_reason
                                    .map(|r| format!("  ({r})"))
                                    .unwrap_or_default()
                            );
                        }
                    }
                }
                NotifyCommand::Remove { id } => {
                    ep::remove(&pool, id).await?;
                    println!("endpoint {id} removed");
                }
                NotifyCommand::RotateSecret { id } => {
                    let vault = mcp_daemon::vault::Vault::from_config(&config.vault)?;
                    mcp_daemon::keys::load_data_keys(&pool, &vault).await?;
                    let secret = ep::rotate_secret(&pool, &vault, &config.notify, id).await?;
                    println!("new signing secret (shown once): {}", secret.expose());
                    println!(
                        "the old one keeps signing beside it for {}",
                        humantime_serde::re::humantime::format_duration(
                            config.notify.secret_overlap
                        )
                    );
                }
                NotifyCommand::Test { id } => {
                    let n = ep::test(&pool, id).await?;
                    println!("notification {n} queued (its webhook-id)");
                }
            }
        }
        Command::Webhooks { command } => {
            let pool = mcp_daemon::db::connect(&config.database).await?;
            let base = mcp_daemon::http::integrations::public_base(&config);
            use mcp_daemon::webhooks::registration as reg;
            match command {
                WebhooksCommand::Register {
                    integration,
                    secret_file,
                    secret_stdin,
                    public_key,
                } => {
                    let secret = if let Some(f) = &secret_file {
                        let text = std::fs::read_to_string(f)
                            .with_context(|| format!("cannot read {}", f.display()))?;
                        Some(
                            secret_line(&text)
                                .with_context(|| format!("{} holds no secret", f.display()))?,
                        )
                    } else if secret_stdin {
                        let mut text = String::new();
                        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                            .context("cannot read standard input")?;
                        Some(secret_line(&text).context("standard input holds no secret")?)
                    } else {
                        None
                    };
                    let vault = mcp_daemon::vault::Vault::from_config(&config.vault)?;
                    mcp_daemon::keys::load_data_keys(&pool, &vault).await?;
                    let w = reg::add(
                        &pool,
                        &vault,
                        &base,
                        integration,
                        secret.as_ref(),
                        public_key.as_deref(),
                    )
                    .await?;
                    println!("webhook {} for integration {integration}", w.id);
                    println!("give the platform this URL: {}", w.url);
                }
                WebhooksCommand::List { integration, json } => {
                    let all = reg::list(&pool, &base, integration).await?;
                    for w in all {
                        if json {
                            println!("{}", serde_json::to_string(&w)?);
                        } else {
                            println!(
                                "{}  {:9}  {:8}  {:8}  {:8}  {}  integration {}",
                                w.id,
                                w.platform,
                                w.delivery,
                                w.created_by,
                                w.status,
                                w.url,
                                w.integration_id
                            );
                        }
                    }
                }
                WebhooksCommand::Remove { id } => {
                    if !reg::remove(&pool, id, None).await? {
                        anyhow::bail!("no active webhook {id}");
                    }
                    println!("webhook {id} disabled; its secret erased");
                }
            }
        }
        Command::Jobs { command } => {
            let pool = mcp_daemon::db::connect(&config.database).await?;
            match command {
                JobsCommand::List { state, kind, limit } => {
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
                            r.last_error.unwrap_or_default()
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
        Command::Keys { command } => match command {
            KeysCommand::Generate { dir, id } => {
                let id = id
                    .unwrap_or_else(|| format!("k{}", chrono::Utc::now().format("%Y%m%dT%H%M%S")));
                if id.is_empty()
                    || !id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    anyhow::bail!("key id `{id}` must be letters, digits, '-' or '_'");
                }
                let path = dir.join(format!("{id}.key"));
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                f.write_all(mcp_daemon::vault::Vault::generate_key().as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("{}", path.display());
            }
            KeysCommand::Rotate { batch, max_batches } => {
                let vault = mcp_daemon::vault::Vault::from_config(&config.vault)?;
                let pool = mcp_daemon::db::connect(&config.database).await?;
                // The data keys first: wrapped again under the newest operator key.
                mcp_daemon::keys::load_data_keys(&pool, &vault).await?;
                let rewrapped = mcp_daemon::keys::rewrap_data_keys(&pool, &vault).await?;
                if rewrapped > 0 {
                    println!("{rewrapped} data keys wrapped again under the newest operator key");
                }
                let r = mcp_daemon::keys::rotate(&pool, &vault, batch.max(1), max_batches).await?;
                println!(
                    "re-encrypted under key {}: {} tokens, {} webhook secrets, {} notification secrets, {} connect states in {} batches; {} left under older keys",
                    vault.sealing_key_id().unwrap_or_else(|| "-".into()),
                    r.tokens,
                    r.webhook_secrets,
                    r.notification_secrets,
                    r.connect_states,
                    r.batches,
                    r.remaining
                );
            }
        },
        Command::CheckConfig => {
            print!("{}", config.redacted());
        }
        Command::Sandbox { listen } => {
            let sb = mcp_sandbox::start(&listen).await?;
            println!("sandbox listening on {}", sb.base_url());
            println!("# config overrides pointing every connector at it:");
            print!("{}", mcp_sandbox::overrides_toml(&sb));
            tokio::signal::ctrl_c()
                .await
                .context("cannot wait for Ctrl-C")?;
        }
        Command::Bench(args) => {
            crate::bench::run(&config, args).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

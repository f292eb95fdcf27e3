//! `mcp-worker-lab`: what the shipped `mcp-worker` must not carry — the demo (the sandbox, a
//! demo workspace and the daemon in one process), the sandbox of the 13 platforms on its own,
//! and the benchmarks (which start the `mcp-worker` binary beside this one as their daemon).
//! Parse, load the config, call into the library; nothing else lives here.

mod bench;
mod demo;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mcp_daemon::config::Config;

#[derive(Parser)]
#[command(
    name = "mcp-worker-lab",
    version,
    about = "The demo, the sandbox and the benchmarks of mcp-worker"
)]
struct Cli {
    #[command(flatten)]
    global: mcp_daemon::args::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The daemon with the sandbox of the 13 platforms and a demo workspace with faults armed.
    Run(mcp_daemon::args::Listeners),
    /// The demo in one command: the sandbox, 13 integrations with faults, the daemon, a live checklist.
    ///
    /// Exits 3 unless health checks passed and failed, a breaker opened and closed, a token was
    /// refreshed with rotation, a signed webhook was accepted and a forged one refused, syncs
    /// paged, and /metrics moved.
    Demo {
        #[command(flatten)]
        listeners: mcp_daemon::args::Listeners,
        /// Stop after this long (e.g. 60s), counted from when the daemon is ready; without it,
        /// run until Ctrl-C or SIGTERM.
        #[arg(long = "for", value_name = "DURATION", value_parser = humantime_serde::re::humantime::parse_duration)]
        run_for: Option<std::time::Duration>,
        /// Keep what the demo wrote in its database (cleared at the end otherwise).
        #[arg(long)]
        keep: bool,
    },
    /// Run the local fake of the 13 platforms in the foreground (tests, demo, benchmarks).
    Sandbox {
        #[arg(long, default_value = "127.0.0.1:8765")]
        listen: String,
    },
    /// Measure drain throughput, enqueue latency, bulk enqueue and daemon RSS.
    Bench(Box<crate::bench::BenchArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut config = match Config::load(cli.global.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mcp-worker-lab: {e}");
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
    let log = config.log.clone();
    mcp_daemon::telemetry::main_on_runtime("mcp-worker-lab", &log, dispatch(cli.command, config))
}

async fn dispatch(command: Command, mut config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(listeners) => {
            listeners.apply(&mut config);
            mcp_handlers::preflight::listen_ports(&config)?;
            crate::demo::database::claim(&config.database.url).await?;
            let d = crate::demo::prepare(&mut config)
                .await
                .context("demo: cannot start the sandbox")?;
            d.seed(&config).await.context("demo: cannot seed")?;
            eprint!(
                "{}",
                crate::demo::banner(&d, &config.http, &config.database.url)
            );
            mcp_handlers::daemon::run(config, tokio_util::sync::CancellationToken::new())
                .await
                .context("daemon failed")?;
            drop(d);
        }
        Command::Demo {
            listeners,
            run_for,
            keep,
        } => {
            listeners.apply(&mut config);
            let outcome =
                crate::demo::driver::run(config, crate::demo::driver::Options { run_for, keep })
                    .await
                    .context("demo failed")?;
            let missing = outcome.missing();
            if !missing.is_empty() {
                eprintln!("mcp-worker-lab demo: not seen: {}", missing.join("; "));
                return Ok(ExitCode::from(3));
            }
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
            crate::bench::run(&config, *args).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

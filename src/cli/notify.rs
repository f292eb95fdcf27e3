//! `mcp-worker notify …`: the notification endpoints (docs/NOTIFICATIONS.md).

use clap::Subcommand;
use mcp_daemon::config::Config;

#[derive(Subcommand)]
pub enum NotifyCommand {
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

pub async fn run(command: NotifyCommand, config: &Config) -> anyhow::Result<()> {
    let pool = mcp_daemon::db::connect(&config.database).await?;
    use mcp_daemon::notify::endpoints as ep;
    match command {
        NotifyCommand::Add {
            url,
            workspace,
            events,
        } => {
            ep::check_destination(&url, config.notify.allow_private).await?;
            let vault = mcp_daemon::vault::Vault::from_config(&config.vault)?;
            mcp_daemon::keys::load_data_keys(&pool, &vault).await?;
            let (e, secret) = ep::add(&pool, &vault, &url, workspace, &events).await?;
            println!("endpoint {}", e.id);
            println!("signing secret (shown once): {}", secret.expose());
        }
        NotifyCommand::List { json } => {
            for e in ep::list(&pool, None).await? {
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
                humantime_serde::re::humantime::format_duration(config.notify.secret_overlap)
            );
        }
        NotifyCommand::Test { id } => {
            let n = ep::test(&pool, id).await?;
            println!("notification {n} queued (its webhook-id)");
        }
    }
    Ok(())
}

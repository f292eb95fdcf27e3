//! `mcp-worker webhooks …`: webhooks of their own for integrations (docs/WEBHOOKS.md).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use mcp_daemon::config::Config;

#[derive(Subcommand)]
pub enum WebhooksCommand {
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
        /// The platform delivers to one app-level URL (Slack, Zoom, Discord, Notion, Gmail), but
        /// this integration's app is its own, made for this one customer with its own secret.
        #[arg(long)]
        own_app: bool,
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
    /// Print the token of Notion's subscription verification request (sent to
    /// /webhooks/notion when the subscription is created), to paste into Notion; with --reset,
    /// forget it so that the next verification request's token is kept.
    NotionToken {
        #[arg(long)]
        reset: bool,
    },
}

/// The first line of `text`, trimmed, as a secret.
fn secret_line(text: &str) -> Option<mcp_platforms::secret::Secret> {
    let line = text.lines().next().unwrap_or("").trim();
    (!line.is_empty()).then(|| mcp_platforms::secret::Secret::new(line))
}

pub async fn run(command: WebhooksCommand, config: &Config) -> anyhow::Result<()> {
    let pool = mcp_daemon::db::connect(&config.database).await?;
    let base = mcp_daemon::http::integration_webhooks::public_base(config);
    use mcp_daemon::webhooks::registration as reg;
    match command {
        WebhooksCommand::Register {
            integration,
            secret_file,
            secret_stdin,
            public_key,
            own_app,
        } => {
            let listen = config.http.listen.to_string();
            reg::reachable(&config.webhooks.public_base, &listen)?;
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
            let req = reg::Request {
                secret: secret.as_ref(),
                public_key: public_key.as_deref(),
                own_app,
            };
            let w = reg::add(
                &pool,
                &vault,
                &config.webhooks.public_base,
                &listen,
                integration,
                req,
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
        WebhooksCommand::NotionToken { reset: true } => {
            if mcp_daemon::webhooks::notion::reset(&pool).await? {
                println!(
                    "Notion's verification token forgotten: the next verification request to \
                     {}/webhooks/notion is kept",
                    base.trim_end_matches('/')
                );
            } else {
                println!("no Notion verification token was stored");
            }
        }
        WebhooksCommand::NotionToken { reset: false } => {
            let vault = mcp_daemon::vault::Vault::from_config(&config.vault)?;
            mcp_daemon::keys::load_data_keys(&pool, &vault).await?;
            match mcp_daemon::webhooks::notion::load(&pool, &vault).await? {
                Some((token, at)) => {
                    eprintln!("received {}", at.to_rfc3339());
                    println!("{}", token.expose());
                }
                None => anyhow::bail!(
                    "Notion has not sent a verification request to {}/webhooks/notion yet",
                    base.trim_end_matches('/')
                ),
            }
        }
        WebhooksCommand::Remove { id } => {
            if !reg::remove(&pool, id, None).await? {
                anyhow::bail!("no active webhook {id}");
            }
            println!("webhook {id} disabled; its secret erased");
        }
    }
    Ok(())
}

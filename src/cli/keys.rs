//! `mcp-worker keys …`: operator key files, and re-encryption under the newest keys.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use mcp_daemon::config::Config;

#[derive(Subcommand)]
pub enum KeysCommand {
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

pub async fn run(command: KeysCommand, config: &Config) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate { dir, id } => {
            let id =
                id.unwrap_or_else(|| format!("k{}", chrono::Utc::now().format("%Y%m%dT%H%M%S")));
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                anyhow::bail!("key id `{id}` must be letters, digits, '-' or '_'");
            }
            let path = dir.join(format!("{id}.key"));
            mcp_daemon::vault::Vault::write_new_key_file(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
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
    }
    Ok(())
}

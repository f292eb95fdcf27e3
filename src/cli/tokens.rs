//! `mcp-worker tokens …`: workspace API tokens of the management API (`mcp.api_tokens`). The
//! token is printed once, by `create`; nothing else ever shows it.

use clap::Subcommand;
use mcp_daemon::api_tokens;
use mcp_daemon::config::Config;

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Make a token that acts in one workspace only; prints its id and the token (shown this
    /// once: only its SHA-256 is kept).
    Create {
        #[arg(long)]
        workspace: uuid::Uuid,
        /// What it is for (shown by `tokens list`).
        #[arg(long)]
        name: String,
    },
    /// The tokens (never the tokens themselves): id, workspace, name, created, revoked.
    List(ListArgs),
    /// Revoke a token: refused (401) from the next request on.
    Revoke { id: uuid::Uuid },
}

/// Which tokens a `list` shows, and how.
#[derive(clap::Args)]
pub struct ListArgs {
    /// Only this workspace's.
    #[arg(long)]
    pub workspace: Option<uuid::Uuid>,
    /// Revoked ones too.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(command: TokensCommand, config: &Config) -> anyhow::Result<()> {
    let pool = mcp_daemon::db::connect(&config.database).await?;
    match command {
        TokensCommand::Create { workspace, name } => {
            let (t, token) = api_tokens::create(&pool, workspace, &name).await?;
            println!("token {} for workspace {}", t.id, t.workspace_id);
            println!("bearer token (shown once): {}", token.expose());
        }
        TokensCommand::List(ListArgs {
            workspace,
            all,
            json,
        }) => {
            for t in api_tokens::list(&pool, workspace, all).await? {
                if json {
                    println!("{}", serde_json::to_string(&t)?);
                    continue;
                }
                let revoked = t
                    .revoked_at
                    .map(|r| format!("  revoked {}", r.format("%Y-%m-%d %H:%M:%S")))
                    .unwrap_or_default();
                println!(
                    "{}  workspace {}  {:?}  created {}{revoked}",
                    t.id,
                    t.workspace_id,
                    t.name,
                    t.created_at.format("%Y-%m-%d %H:%M:%S"),
                );
            }
        }
        TokensCommand::Revoke { id } => {
            let t = api_tokens::revoke(&pool, id).await?;
            println!("token {} ({:?}) revoked", t.id, t.name);
        }
    }
    Ok(())
}

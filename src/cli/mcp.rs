//! `mcp-worker mcp …`: the MCP server's tokens (`mcp token create|list|revoke`; a token is
//! printed once, by `create`) and the server over stdio (`mcp stdio --workspace ID`), which a
//! desktop assistant starts as a command: its credentials are the environment's (the config's
//! database URL), its workspace the one named.

use anyhow::Context;
use clap::Subcommand;
use mcp_daemon::assistant::tokens;
use mcp_daemon::config::Config;

use super::tokens::ListArgs;

#[derive(Subcommand)]
pub enum McpCommand {
    /// Tokens of the MCP server (POST /mcp): one workspace each.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Serve the MCP tools over stdin/stdout for one workspace (for an assistant that starts
    /// the server as a command; docs/MCP.md).
    Stdio {
        #[arg(long)]
        workspace: uuid::Uuid,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Make a token for one workspace; prints its id and the token (shown this once: only its
    /// SHA-256 is kept).
    Create {
        #[arg(long)]
        workspace: uuid::Uuid,
        /// What it is for (shown by `mcp token list`).
        #[arg(long, default_value = "assistant")]
        name: String,
        /// `read` (the reading tools) and/or `sync` (request_sync); both by default.
        #[arg(long)]
        scope: Vec<String>,
        /// Refused after this long (`90d`, `12h`); never by default.
        #[arg(long, value_parser = humantime_serde::re::humantime::parse_duration)]
        expires: Option<std::time::Duration>,
    },
    /// The tokens (never the tokens themselves).
    List(ListArgs),
    /// Revoke a token: refused (401) from the next request on.
    Revoke { id: uuid::Uuid },
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

pub async fn run(command: McpCommand, config: &Config) -> anyhow::Result<()> {
    let pool = mcp_daemon::db::connect(&config.database).await?;
    match command {
        McpCommand::Stdio { workspace } => {
            let reads = mcp_daemon::db::connect_reads(
                &config.database,
                &pool,
                tokio_util::sync::CancellationToken::new(),
            )
            .await?;
            mcp_daemon::assistant::serve_stdio(pool, reads, &config.mcp, workspace).await?
        }
        McpCommand::Token {
            command:
                TokenCommand::Create {
                    workspace,
                    name,
                    scope,
                    expires,
                },
        } => {
            let expires_at = expires
                .map(|d| chrono::Duration::from_std(d).map(|d| chrono::Utc::now() + d))
                .transpose()
                .context("--expires is too far away")?;
            let (t, token) = tokens::create(&pool, workspace, &name, &scope, expires_at).await?;
            println!(
                "MCP token {} for workspace {} (scopes {}, expires {})",
                t.id,
                t.workspace_id,
                t.scopes.join(","),
                when(t.expires_at)
            );
            println!("bearer token (shown once): {}", token.expose());
        }
        McpCommand::Token {
            command:
                TokenCommand::List(ListArgs {
                    workspace,
                    all,
                    json,
                }),
        } => {
            for t in tokens::list(&pool, workspace, all).await? {
                if json {
                    println!("{}", serde_json::to_string(&t)?);
                    continue;
                }
                println!(
                    "{}  workspace {}  {:?}  scopes {}  created {}  expires {}  last used {}  revoked {}",
                    t.id,
                    t.workspace_id,
                    t.name,
                    t.scopes.join(","),
                    when(Some(t.created_at)),
                    when(t.expires_at),
                    when(t.last_used_at),
                    when(t.revoked_at),
                );
            }
        }
        McpCommand::Token {
            command: TokenCommand::Revoke { id },
        } => {
            let t = tokens::revoke(&pool, id, None).await?;
            println!("MCP token {} ({:?}) revoked", t.id, t.name);
        }
    }
    Ok(())
}

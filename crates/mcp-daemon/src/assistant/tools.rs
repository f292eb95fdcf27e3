//! The MCP tools (rmcp's tool router): each checks its caller's scope and rate, runs its query
//! (`queries.rs`) in a transaction under row-level security for the caller's workspace, counts
//! and logs the call by the caller's id (never its token), and answers either its structured
//! result or a tool error (`isError`) whose `message` says what to do next.

use std::sync::Arc;
use std::time::Instant;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_handler, tool_router, Json, RoleServer};

use super::auth::Access;
use super::types::*;
use super::{queries, Failure, Inner};

/// The server one request (or one stdio session) talks to.
#[derive(Clone)]
pub struct Assistant {
    inner: Arc<Inner>,
    tool_router: ToolRouter<Self>,
}

type Answer<T> = Result<Json<T>, CallToolResult>;

impl Assistant {
    pub(super) fn new(inner: Arc<Inner>) -> Assistant {
        Assistant {
            tool_router: inner.router.clone(),
            inner,
        }
    }

    /// The caller: stdio's fixed one, or the one `auth::authorize` put on the HTTP request.
    fn access(&self, ctx: &RequestContext<RoleServer>) -> Option<Access> {
        if let Some(a) = &self.inner.fixed {
            return Some(a.clone());
        }
        ctx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<Access>())
            .cloned()
    }

    /// Runs one tool for its caller: scope, rate, transaction, metrics, log.
    async fn call<T, F, Fut>(
        &self,
        tool: &'static str,
        ctx: &RequestContext<RoleServer>,
        scope: &'static str,
        start: queries::Start,
        body: F,
    ) -> Answer<T>
    where
        F: FnOnce(sqlx::Transaction<'static, sqlx::Postgres>, Access, usize) -> Fut,
        Fut: std::future::Future<
            Output = Result<(T, sqlx::Transaction<'static, sqlx::Postgres>), Failure>,
        >,
    {
        let started = Instant::now();
        let outcome = async {
            let access = self
                .access(ctx)
                .ok_or_else(|| Failure::denied("no credentials reached the tool"))?;
            if !access.may(scope) {
                return Err(Failure::denied(format!(
                    "this token lacks the `{scope}` scope: ask for a token made with --scope {scope}"
                )));
            }
            if let Some(wait) = self.inner.limiter.take(&access.caller) {
                return Err(Failure::rate_limited(wait));
            }
            // Reading tools read the replica, when there is one; `request_sync` writes.
            let db = match start {
                queries::Start::Write => &self.inner.pool,
                queries::Start::Read | queries::Start::Daemon => self.inner.reads.db(),
            };
            let tx = queries::begin(db, access.workspace, start).await?;
            let (out, tx) = body(tx, access.clone(), self.inner.max_result_chars).await?;
            tx.commit().await?;
            Ok((out, access))
        }
        .await;
        let secs = started.elapsed().as_secs_f64();
        match outcome {
            Ok((out, access)) => {
                super::record(tool, "ok", secs);
                tracing::debug!(tool, caller = %access.caller, ms = secs * 1e3, "MCP tool call");
                Ok(Json(out))
            }
            Err(f) => {
                super::record(tool, f.outcome(), secs);
                tracing::info!(tool, outcome = f.outcome(), message = %f.message, "MCP tool call refused");
                Err(f.into_result())
            }
        }
    }
}

#[tool_router]
impl Assistant {
    /// The router of the six tools (built once; each request's server clones it).
    pub(super) fn router() -> ToolRouter<Self> {
        Self::tool_router()
    }

    #[tool(
        description = "The workspace's connected platforms: for each integration its platform, account, state, health, circuit breaker, last sync, token expiry, last error in words and what to do about it.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_integrations(
        &self,
        Parameters(_): Parameters<NoArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Integrations>, CallToolResult> {
        self.call(
            "list_integrations",
            &ctx,
            "read",
            queries::Start::Read,
            |mut tx, _, budget| async move {
                let out = queries::list_integrations(&mut tx, budget).await?;
                Ok((out, tx))
            },
        )
        .await
    }

    #[tool(
        description = "Full-text search over everything synced from the workspace's platforms (emails, messages, meetings, transcripts, tasks, documents): best matches first, each with title, snippet, author, time, link and ids; page with next_cursor.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn search_items(
        &self,
        Parameters(args): Parameters<SearchArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<SearchResult>, CallToolResult> {
        self.call(
            "search_items",
            &ctx,
            "read",
            queries::Start::Daemon,
            |mut tx, a, budget| async move {
                let out = queries::search(&mut tx, a.workspace, args, budget).await?;
                Ok((out, tx))
            },
        )
        .await
    }

    #[tool(
        description = "One item with its whole model and its text (an email's body, a transcript, a page); a long text comes in pages: pass next_offset as offset.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_item(
        &self,
        Parameters(args): Parameters<GetItemArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<ItemPage>, CallToolResult> {
        self.call(
            "get_item",
            &ctx,
            "read",
            queries::Start::Read,
            |mut tx, _, budget| async move {
                let out = queries::get_item(&mut tx, args, budget).await?;
                Ok((out, tx))
            },
        )
        .await
    }

    #[tool(
        description = "The messages of one thread (a Gmail or Outlook conversation, a Slack thread…) in order, oldest first, with their text; page with next_cursor.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_thread(
        &self,
        Parameters(args): Parameters<GetThreadArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Thread>, CallToolResult> {
        self.call(
            "get_thread",
            &ctx,
            "read",
            queries::Start::Read,
            |mut tx, _, budget| async move {
                let out = super::feed::get_thread(&mut tx, args, budget).await?;
                Ok((out, tx))
            },
        )
        .await
    }

    #[tool(
        description = "What changed since the cursor (items added, updated, deleted), oldest first; keep next_cursor and call again to follow the workspace.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_changes(
        &self,
        Parameters(args): Parameters<GetChangesArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Changes>, CallToolResult> {
        self.call(
            "get_changes",
            &ctx,
            "read",
            queries::Start::Read,
            |mut tx, a, budget| async move {
                let out = super::feed::get_changes(&mut tx, a.workspace, args, budget).await?;
                Ok((out, tx))
            },
        )
        .await
    }

    #[tool(
        description = "Asks for a sync of one integration now (one at a time: a sync already waiting is the answer); returns its job id.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn request_sync(
        &self,
        Parameters(args): Parameters<RequestSyncArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<SyncRequested>, CallToolResult> {
        self.call(
            "request_sync",
            &ctx,
            "sync",
            queries::Start::Write,
            |mut tx, _, _| async move {
                let out = queries::request_sync(&mut tx, args).await?;
                Ok((out, tx))
            },
        )
        .await
    }
}

#[tool_handler(router = self.tool_router)]
impl rmcp::ServerHandler for Assistant {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mcp-worker", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "What a company's platforms (mail, chat, meetings, tasks, documents) hold, synced \
                 and searchable: search_items first, get_item or get_thread to read, \
                 list_integrations when something seems missing, get_changes to follow.",
            )
    }
}

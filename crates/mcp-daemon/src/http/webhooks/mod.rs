//! Where the platforms deliver events. `POST /webhooks/{platform}/{webhook_id}`: a webhook of
//! its own, with its own secret (per subscription: Outlook, Twilio, Fireflies, …);
//! `POST /webhooks/{platform}/{webhook_id}/{url_secret}`: one whose secret is in its URL and
//! whose signature is the app's (Monday board webhooks the daemon makes; compared in constant
//! time, a delivery without it refused).
//! `POST /webhooks/{platform}`: the app-level URL of the platforms that send every customer's
//! events to one URL of the app (`mcp_platforms::accounts::APP_LEVEL`), verified with the app's
//! secret from the config and routed to the live integration connected to the account the
//! event names; an event for no such integration is answered 200 (the platform must neither
//! retry nor disable the URL), stores nothing and counts as `unrouted`.
//! Not behind the bearer token (the platforms call it): a delivery is trusted only once its
//! signature has been verified on the raw body (`crate::webhooks`); the one unsigned body taken
//! is Notion's subscription verification on its app URL (`crate::webhooks::notion`: its token
//! stored sealed, nothing else). Answers 2xx only for an event that is stored
//! (or was stored before) or a handshake; a refused delivery writes nothing, counts in
//! `mcp_webhook_events_total` and is logged without its body; the database unreachable is 503.

mod cache;
mod pipeline;
mod url_parts;

use mcp_queue::pg::Db;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use uuid::Uuid;

use self::cache::RowCache;
use crate::vault::Vault;
use crate::webhooks::batcher::EventBatcher;
use crate::webhooks::{self, AppSecrets, GmailKeys, Refusal, WebhookRow, WebhooksConfig};
use mcp_platforms::connectors::Platform;
use mcp_platforms::secret::Secret;

/// What the intake needs.
#[derive(Clone)]
pub struct WebhookState {
    pub pool: Db,
    pub vault: Arc<Vault>,
    pub config: Arc<WebhooksConfig>,
    pub gmail: Arc<GmailKeys>,
    apps: Arc<AppSecrets>,
    notion: Arc<webhooks::notion::NotionToken>,
    batcher: EventBatcher,
    hooks: Arc<RowCache<(Uuid, Platform)>>,
    /// App routes by (platform, the accounts an event names).
    routes: Arc<RowCache<(Platform, Vec<String>)>>,
}

/// Most events written by one group commit.
const MAX_BATCH: usize = 256;
/// Group commits in flight at once (each holds a pool connection while it writes).
const WRITERS: usize = 4;

impl WebhookState {
    /// Reads the Gmail JWKS file named by the config, or prepares fetching Google's. With
    /// `wake` (a daemon's own worker), the events' jobs are enqueued without NOTIFY and that
    /// worker is woken directly; without, the usual NOTIFY tells whichever workers listen.
    pub fn new(
        pool: Db,
        vault: Arc<Vault>,
        config: &WebhooksConfig,
        apps: AppSecrets,
        wake: Option<mcp_queue::QuietWake>,
    ) -> Result<WebhookState, webhooks::KeysError> {
        Ok(WebhookState {
            batcher: EventBatcher::start(pool.clone(), MAX_BATCH, WRITERS, wake),
            pool,
            vault,
            gmail: Arc::new(GmailKeys::load(&config.gmail_keys())?),
            config: Arc::new(config.clone()),
            apps: Arc::new(apps),
            notion: Default::default(),
            hooks: Arc::new(RowCache::new()),
            routes: Arc::new(RowCache::new()),
        })
    }

    /// The app route for the accounts an event names, from a short-lived cache or the database.
    async fn route(
        &self,
        p: Platform,
        names: Vec<String>,
    ) -> Result<Option<Arc<WebhookRow>>, sqlx::Error> {
        let find = webhooks::route(&self.pool, p, &names);
        self.routes.get_or_find((p, names.clone()), find).await
    }

    /// The webhook row, from a short-lived cache or the database.
    async fn lookup(&self, id: Uuid, p: Platform) -> Result<Option<Arc<WebhookRow>>, sqlx::Error> {
        self.hooks
            .get_or_find((id, p), webhooks::lookup(&self.pool, id, p))
            .await
    }
}

pub fn routes(state: WebhookState) -> Router {
    Router::new()
        .route("/webhooks/{platform}", post(intake_app))
        .route("/webhooks/{platform}/{webhook_id}", post(intake))
        .route(
            "/webhooks/{platform}/{webhook_id}/{url_secret}",
            post(intake_with_secret),
        )
        .with_state(Arc::new(state))
}

/// An answer and the outcome it counts as.
struct Answer {
    outcome: &'static str,
    response: Response,
}

fn refuse(status: StatusCode, outcome: &'static str, reason: &str) -> Answer {
    Answer {
        outcome,
        response: (status, Json(json!({"error": outcome, "message": reason}))).into_response(),
    }
}

fn refused(r: &Refusal) -> Answer {
    let status = match r {
        Refusal::Malformed => StatusCode::BAD_REQUEST,
        _ => StatusCode::UNAUTHORIZED,
    };
    refuse(status, r.outcome(), &r.to_string())
}

/// Which URL a delivery came to.
#[derive(Clone, Copy)]
enum Target<'a> {
    /// `/webhooks/{platform}/{webhook_id}`, or `…/{url_secret}` (a secret the webhook's URL
    /// carries: Monday board webhooks made by the daemon).
    Endpoint(&'a str, Option<&'a str>),
    /// `/webhooks/{platform}`.
    App,
}

async fn intake(
    State(s): State<Arc<WebhookState>>,
    Path((platform, webhook_id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    answer(
        &s,
        &platform,
        Target::Endpoint(&webhook_id, None),
        &uri,
        &headers,
        body,
    )
    .await
}

async fn intake_with_secret(
    State(s): State<Arc<WebhookState>>,
    Path((platform, webhook_id, url_secret)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let target = Target::Endpoint(&webhook_id, Some(&url_secret));
    answer(&s, &platform, target, &uri, &headers, body).await
}

async fn intake_app(
    State(s): State<Arc<WebhookState>>,
    Path(platform): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    answer(&s, &platform, Target::App, &uri, &headers, body).await
}

async fn answer(
    s: &WebhookState,
    platform: &str,
    target: Target<'_>,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let Some(p) = Platform::parse(platform).filter(|p| webhooks::PLATFORMS.contains(p)) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "unknown_platform"})),
        )
            .into_response();
    };
    // The pipeline's early answers (refusals, handshakes) and its last are answered alike.
    let (Ok(answer) | Err(answer)) = pipeline::run(s, p, target, uri, headers, body).await;
    let status = answer.response.status();
    if !status.is_success() {
        let webhook_id = match target {
            // Never the URL's secret.
            Target::Endpoint(id, _) => id,
            Target::App => "app",
        };
        // Never the body, its signature or the secret: what was refused, and why.
        tracing::warn!(
            platform = p.as_str(),
            webhook_id = %webhook_id,
            status = status.as_u16(),
            outcome = answer.outcome,
            "webhook delivery refused"
        );
    }
    crate::metrics::webhook_intake(p.as_str(), answer.outcome, started.elapsed());
    answer.response
}

/// Where a delivery's keys come from: its own webhook row, or the app's config.
enum Source {
    Hook(Arc<WebhookRow>, Option<Secret>),
    App,
}

fn unavailable(error: &str) -> Answer {
    tracing::error!(error, "webhook intake: database unavailable");
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "cannot store the event now; deliver it again later",
    )
}

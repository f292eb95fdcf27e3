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
mod url_parts;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use self::cache::RowCache;
use self::url_parts::{endpoint_keys, public_url, validation_token};
use crate::vault::Vault;
use crate::webhooks::batcher::{EventBatcher, PendingEvent};
use crate::webhooks::{
    self, AppSecrets, Delivery, GmailKeys, Keys, Parsed, Refusal, Stored, WebhookRow,
    WebhooksConfig,
};
use mcp_platforms::accounts::{self, APP_LEVEL};
use mcp_platforms::connectors::Platform;
use mcp_platforms::secret::Secret;

/// What the intake needs.
#[derive(Clone)]
pub struct WebhookState {
    pub pool: PgPool,
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
        pool: PgPool,
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
    let answer = handle(s, p, target, uri, headers, body).await;
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

async fn handle(
    s: &WebhookState,
    p: Platform,
    target: Target<'_>,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Answer {
    let limit = s.config.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "body too large");
    }
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "body too large");
    };
    let source = match target {
        Target::Endpoint(webhook_id, url_secret) => {
            let Some(id) = Uuid::parse_str(webhook_id).ok() else {
                return refuse(StatusCode::NOT_FOUND, "unknown_webhook", "no such webhook");
            };
            let hook = match s.lookup(id, p).await {
                Ok(Some(h)) => h,
                Ok(None) => {
                    return refuse(StatusCode::NOT_FOUND, "unknown_webhook", "no such webhook")
                }
                Err(e) => return unavailable(&e.to_string()),
            };
            let secret = match hook.secret(&s.vault) {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!(webhook_id = %id, error = %e, "cannot open the webhook's secret");
                    return refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "webhook secret unavailable",
                    );
                }
            };
            match endpoint_keys(&hook, secret, url_secret) {
                Ok(secret) => Source::Hook(hook, secret),
                Err(Some(r)) => return refused(&r),
                Err(None) => {
                    return refuse(StatusCode::NOT_FOUND, "unknown_webhook", "no such webhook")
                }
            }
        }
        Target::App if !APP_LEVEL.contains(&p) => {
            return refuse(
                StatusCode::NOT_FOUND,
                "unknown_webhook",
                "this platform delivers to a URL per webhook: /webhooks/{platform}/{id}",
            )
        }
        // Notion's app URL also works with the token its verification request brought.
        Target::App
            if !matches!(p, Platform::Gmail | Platform::Notion) && s.apps.get(p).is_none() =>
        {
            return refuse(
                StatusCode::NOT_FOUND,
                "not_configured",
                "no app secret configured for this platform",
            )
        }
        Target::App => Source::App,
    };
    // Outlook's subscription validation: a POST with `?validationToken=`, echoed as text.
    if p == Platform::Outlook {
        if let Some(token) = validation_token(uri) {
            return Answer {
                outcome: "handshake",
                response: (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "text/plain")],
                    token,
                )
                    .into_response(),
            };
        }
    }
    let expected_type = if p == Platform::ZeroVoice {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !content_type.is_some_and(|c| c.eq_ignore_ascii_case(expected_type)) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_content_type",
            &format!("expected {expected_type}"),
        );
    }
    if p == Platform::Notion && matches!(target, Target::App) {
        if let Some(token) = webhooks::notion::verification_token(&body) {
            return match s.notion.received(&s.pool, &s.vault, token).await {
                Ok(true) => Answer {
                    outcome: "handshake",
                    response: (StatusCode::OK, Json(json!({"ok": true}))).into_response(),
                },
                Ok(false) => refuse(
                    StatusCode::CONFLICT,
                    "handshake_refused",
                    "a Notion verification token is stored already; an operator must reset it \
                     to accept a new one",
                ),
                Err(e) => unavailable(&e.to_string()),
            };
        }
    }
    // A webhook whose URL carries its secret (Monday's board webhooks) is verified with the
    // app's secret once that URL secret matched; Notion's app URL without a configured secret
    // with the stored verification token.
    let app = s.apps.get(p);
    let stored = match (p, &source, app.and_then(|a| a.secret.as_ref())) {
        (Platform::Notion, Source::App, None) => s.notion.get(&s.pool, &s.vault).await,
        _ => None,
    };
    let app_secret = app
        .and_then(|a| a.secret.as_ref())
        .or(stored.as_ref())
        .map(|x| x.expose().as_bytes());
    let app_key = app.and_then(|a| a.public_key.as_deref());
    // The app's secret before a rotation, taken beside the current one while configured.
    let app_previous = app
        .and_then(|a| a.previous.as_ref())
        .map(|x| x.expose().as_bytes());
    let (secret_bytes, previous_bytes, public_key) = match &source {
        Source::Hook(hook, secret) if hook.secret_in_url => (
            app_secret,
            app_previous,
            hook.public_key.as_deref().or(app_key),
        ),
        Source::Hook(hook, secret) => (
            secret.as_ref().map(|x| x.expose().as_bytes()),
            None,
            hook.public_key.as_deref().or(app_key),
        ),
        Source::App => (app_secret, app_previous, app_key),
    };
    let url = public_url(&s.config, headers, uri);
    let delivery = Delivery {
        platform: p,
        headers,
        body: &body,
        url: &url,
        now: chrono::Utc::now().timestamp(),
        replay_window_s: s.config.replay_window.as_secs() as i64,
    };
    let keys = Keys {
        secret: secret_bytes,
        public_key,
        gmail: &s.gmail,
        signature_header: &s.config.signature_header,
    };
    if p == Platform::Gmail {
        s.gmail.refresh_for_delivery(&delivery).await;
    }
    let mut verified_with = secret_bytes;
    if let Err(r) = webhooks::verify(&delivery, &keys) {
        let previous = Keys {
            secret: previous_bytes,
            ..keys
        };
        let by_previous = matches!(r, Refusal::BadSignature(_))
            && previous_bytes.is_some()
            && webhooks::verify(&delivery, &previous).is_ok();
        if !by_previous {
            return refused(&r);
        }
        verified_with = previous_bytes;
    }
    let parsed = match webhooks::parse(p, &body, verified_with) {
        Ok(x) => x,
        Err(r) => return refused(&r),
    };
    let (dedup_key, event_type, payload, sha) = match parsed {
        Parsed::Handshake(h) => {
            return Answer {
                outcome: "handshake",
                response: (h.status, [(header::CONTENT_TYPE, h.content_type)], h.body)
                    .into_response(),
            }
        }
        Parsed::Event {
            dedup_key,
            event_type,
            payload,
            body_sha256,
        } => (dedup_key, event_type, payload, body_sha256),
    };
    // Discord's webhook events are acknowledged with 204 and no body
    // (https://discord.com/developers/docs/events/webhook-events); everything else with 200 JSON.
    let empty_ack = p == Platform::Discord && payload.get("event").is_some_and(|e| e.is_object());
    let ack = |outcome: &'static str, body: serde_json::Value| Answer {
        outcome,
        response: if empty_ack {
            StatusCode::NO_CONTENT.into_response()
        } else {
            (StatusCode::OK, Json(body)).into_response()
        },
    };
    let hook = match source {
        Source::Hook(hook, _) => hook,
        Source::App => {
            let names = accounts::from_event(p, &payload);
            let found = if names.is_empty() {
                None
            } else {
                match s.route(p, names).await {
                    Ok(r) => r,
                    Err(e) => return unavailable(&e.to_string()),
                }
            };
            let Some(hook) = found else {
                // For no live integration: acknowledged so the platform neither retries nor
                // disables the URL; nothing stored.
                return ack("unrouted", json!({"ok": true, "routed": false}));
            };
            hook
        }
    };
    let pending = PendingEvent {
        webhook_id: hook.id,
        integration_id: hook.integration_id,
        workspace_id: hook.workspace_id,
        platform: hook.platform.clone(),
        dedup_key,
        event_type,
        payload,
        body_sha256: sha,
    };
    match s.batcher.store(pending).await {
        Ok(Stored::New(event_id)) => ack("accepted", json!({"ok": true, "event_id": event_id})),
        Ok(Stored::Duplicate) => ack("duplicate", json!({"ok": true, "duplicate": true})),
        Err(e) => unavailable(&e.to_string()),
    }
}

fn unavailable(error: &str) -> Answer {
    tracing::error!(error, "webhook intake: database unavailable");
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "cannot store the event now; deliver it again later",
    )
}

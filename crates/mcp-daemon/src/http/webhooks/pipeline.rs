//! One delivery, step by step: the body within its limit, whose it is (a webhook's own URL or
//! the app's), the handshakes (one the URL asks for, Notion's verification), the media type, the
//! keys and their verification (the secret before a rotation too), the parse, where the event
//! goes, and the acknowledgement. Each step answers early with a refusal or a handshake; the
//! platforms' own forms come from `mcp_platforms::webhooks::intake`.

// A step's early answer is the response itself, made once per delivery and returned at once:
// boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use uuid::Uuid;

use super::url_parts::{endpoint_keys, public_url};
use super::{refuse, refused, unavailable, Answer, Source, Target, WebhookState};
use crate::webhooks::batcher::PendingEvent;
use crate::webhooks::{self, Delivery, Keys, Parsed, Refusal, Stored, WebhookRow};
use mcp_platforms::accounts::{self, APP_LEVEL};
use mcp_platforms::connectors::Platform;
use mcp_platforms::secret::Secret;
use mcp_platforms::webhooks::intake;

/// A delivery, step by step; each step answers early (`Err`) with a refusal or a handshake.
pub(super) async fn run(
    s: &WebhookState,
    p: Platform,
    target: Target<'_>,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Answer, Answer> {
    let body = read_body(s, headers, body).await?;
    let source = source_of(s, p, &target).await?;
    if let Some(token) = intake::url_handshake(p, uri.query()) {
        return Ok(handshake_text(token));
    }
    content_type(p, headers)?;
    if p == Platform::Notion && matches!(target, Target::App) {
        notion_verification(s, &body).await?;
    }
    let url = public_url(&s.config, headers, uri);
    let delivery = Delivery {
        platform: p,
        headers,
        body: &body,
        url: &url,
        now: chrono::Utc::now().timestamp(),
        replay_window_s: s.config.replay_window.as_secs() as i64,
    };
    let stored = match (p, &source) {
        (Platform::Notion, Source::App) => s.notion.get(&s.pool, &s.vault).await,
        _ => None,
    };
    let (secret, previous, public_key) = keys_of(s, p, &source, stored.as_ref());
    if p == Platform::Gmail {
        s.gmail.refresh_for_delivery(&delivery).await;
    }
    let verified_with = verify(s, &delivery, secret, previous, public_key)?;
    let (dedup_key, event_type, payload, body_sha256) =
        match webhooks::parse(p, &body, verified_with).map_err(|r| refused(&r))? {
            Parsed::Handshake(h) => {
                return Ok(Answer {
                    outcome: "handshake",
                    response: (h.status, [(header::CONTENT_TYPE, h.content_type)], h.body)
                        .into_response(),
                })
            }
            Parsed::Event {
                dedup_key,
                event_type,
                payload,
                body_sha256,
            } => (dedup_key, event_type, payload, body_sha256),
        };
    let empty = intake::empty_ack(p, &payload);
    let Some(hook) = destination(s, p, source, &payload).await? else {
        // For no live integration: acknowledged so the platform neither retries nor disables
        // the URL; nothing stored.
        return Ok(ack(empty, "unrouted", json!({"ok": true, "routed": false})));
    };
    let pending = PendingEvent {
        webhook_id: hook.id,
        integration_id: hook.integration_id,
        workspace_id: hook.workspace_id,
        platform: hook.platform.clone(),
        dedup_key,
        event_type,
        payload,
        body_sha256,
    };
    match s.batcher.store(pending).await {
        Ok(Stored::New(id)) => Ok(ack(empty, "accepted", json!({"ok": true, "event_id": id}))),
        Ok(Stored::Duplicate) => Ok(ack(
            empty,
            "duplicate",
            json!({"ok": true, "duplicate": true}),
        )),
        Err(e) => Err(unavailable(&e.to_string())),
    }
}

/// The body, within `max_body_bytes` (refused by its declared length before it is read).
async fn read_body(s: &WebhookState, headers: &HeaderMap, body: Body) -> Result<Bytes, Answer> {
    let limit = s.config.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || refuse(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "body too large");
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

/// Whose delivery it is: a webhook's own URL (found, its secret opened, its URL secret
/// checked) or the platform's app-level URL.
async fn source_of(s: &WebhookState, p: Platform, target: &Target<'_>) -> Result<Source, Answer> {
    let unknown = || refuse(StatusCode::NOT_FOUND, "unknown_webhook", "no such webhook");
    match *target {
        Target::Endpoint(webhook_id, url_secret) => {
            let id = Uuid::parse_str(webhook_id).map_err(|_| unknown())?;
            let hook = match s.lookup(id, p).await {
                Ok(Some(h)) => h,
                Ok(None) => return Err(unknown()),
                Err(e) => return Err(unavailable(&e.to_string())),
            };
            let secret = hook.secret(&s.vault).map_err(|e| {
                tracing::error!(webhook_id = %id, error = %e, "cannot open the webhook's secret");
                refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "webhook secret unavailable",
                )
            })?;
            match endpoint_keys(&hook, secret, url_secret) {
                Ok(secret) => Ok(Source::Hook(hook, secret)),
                Err(Some(r)) => Err(refused(&r)),
                Err(None) => Err(unknown()),
            }
        }
        Target::App if !APP_LEVEL.contains(&p) => Err(refuse(
            StatusCode::NOT_FOUND,
            "unknown_webhook",
            "this platform delivers to a URL per webhook: /webhooks/{platform}/{id}",
        )),
        // Notion's app URL also works with the token its verification request brought.
        Target::App
            if !matches!(p, Platform::Gmail | Platform::Notion) && s.apps.get(p).is_none() =>
        {
            Err(refuse(
                StatusCode::NOT_FOUND,
                "not_configured",
                "no app secret configured for this platform",
            ))
        }
        Target::App => Ok(Source::App),
    }
}

fn handshake_text(token: String) -> Answer {
    Answer {
        outcome: "handshake",
        response: (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain")],
            token,
        )
            .into_response(),
    }
}

/// The media type the platform sends (`intake::content_type`), or 415.
fn content_type(p: Platform, headers: &HeaderMap) -> Result<(), Answer> {
    let expected = intake::content_type(p);
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if given.is_some_and(|c| c.eq_ignore_ascii_case(expected)) {
        return Ok(());
    }
    Err(refuse(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "bad_content_type",
        &format!("expected {expected}"),
    ))
}

/// Notion's unsigned verification request at the app URL: its token stored (once), answered
/// as a handshake (`Err`); any other body goes on.
async fn notion_verification(s: &WebhookState, body: &[u8]) -> Result<(), Answer> {
    let Some(token) = webhooks::notion::verification_token(body) else {
        return Ok(());
    };
    Err(match s.notion.received(&s.pool, &s.vault, token).await {
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
    })
}

/// The secret, the secret before a rotation and the public key a delivery is verified with. A
/// webhook whose URL carries its secret (Monday's board webhooks) is verified with the app's
/// secret once that URL secret matched; Notion's app URL without a configured secret with the
/// stored verification token (`stored`).
fn keys_of<'a>(
    s: &'a WebhookState,
    p: Platform,
    source: &'a Source,
    stored: Option<&'a Secret>,
) -> (Option<&'a [u8]>, Option<&'a [u8]>, Option<&'a str>) {
    let app = s.apps.get(p);
    let app_secret = app
        .and_then(|a| a.secret.as_ref())
        .or(stored)
        .map(|x| x.expose().as_bytes());
    let app_key = app.and_then(|a| a.public_key.as_deref());
    let app_previous = app
        .and_then(|a| a.previous.as_ref())
        .map(|x| x.expose().as_bytes());
    match source {
        Source::Hook(hook, _) if hook.secret_in_url => (
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
    }
}

/// Verifies the delivery with the current secret, else (a bad signature only) with the secret
/// before a rotation; returns the secret that verified it.
fn verify<'a>(
    s: &WebhookState,
    delivery: &Delivery<'_>,
    secret: Option<&'a [u8]>,
    previous: Option<&'a [u8]>,
    public_key: Option<&str>,
) -> Result<Option<&'a [u8]>, Answer> {
    let keys = Keys {
        secret,
        public_key,
        gmail: &s.gmail,
        signature_header: &s.config.signature_header,
    };
    let Err(r) = webhooks::verify(delivery, &keys) else {
        return Ok(secret);
    };
    let again = Keys {
        secret: previous,
        ..keys
    };
    if matches!(r, Refusal::BadSignature(_))
        && previous.is_some()
        && webhooks::verify(delivery, &again).is_ok()
    {
        return Ok(previous);
    }
    Err(refused(&r))
}

/// The webhook an event is stored under: its own, or at the app URL the live integration the
/// event's accounts are routed to (`None`: no live integration).
async fn destination(
    s: &WebhookState,
    p: Platform,
    source: Source,
    payload: &serde_json::Value,
) -> Result<Option<Arc<WebhookRow>>, Answer> {
    match source {
        Source::Hook(hook, _) => Ok(Some(hook)),
        Source::App => {
            let names = accounts::from_event(p, payload);
            if names.is_empty() {
                return Ok(None);
            }
            s.route(p, names)
                .await
                .map_err(|e| unavailable(&e.to_string()))
        }
    }
}

/// The acknowledgement: 204 without a body where the platform wants one (`intake::empty_ack`),
/// else 200 with `body`.
fn ack(empty: bool, outcome: &'static str, body: serde_json::Value) -> Answer {
    Answer {
        outcome,
        response: if empty {
            StatusCode::NO_CONTENT.into_response()
        } else {
            (StatusCode::OK, Json(body)).into_response()
        },
    }
}

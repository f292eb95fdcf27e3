//! Fireflies: API key as a bearer token, GraphQL at `/graphql`, health check
//! `query { user { user_id } }`, its GraphQL error codes (`auth_failed`, …), the
//! `transcripts` listing and the content call `transcript(id:)`.
//! It must never put the API key or a whole body into an error.

use serde_json::{json, Value};
use std::sync::Arc;

use super::base::{connector_impl, Base, Defaults};
use super::content::{self, ContentRequest};
use super::event::{first_str, Read, Refusal};
use super::http::{self, RawResponse};
use super::lists::{call, graphql_errors, items};
use super::page::{Page, PageRequest};
use super::spec::{Scheme, Spec, Webhooks};
use super::watermark::{self, Listing};
use super::{ratelimit, AuthKind, ConnectorError, Credentials, ErrorType, Identity, MethodLimit};

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://api.fireflies.ai",
        identity_path: "/graphql",
        api_version: None,
        // 60 requests per minute on Business/Enterprise (Free/Pro plans get 50 per day, which
        // no bucket rate can express: their 429s snooze the sync).
        rate: (5.0, 1.0),
        oauth: None,
    }
}

pub struct Fireflies(pub Base);

impl Fireflies {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        let req = http::authorize(
            self.0
                .request(reqwest::Method::POST, &self.0.identity_path)
                .json(&json!({ "query": "query { user { user_id } }" })),
            creds,
        );
        let resp = self.0.send(req).await?;
        let body = resp.json();
        if !resp.is_success() || body.as_ref().is_some_and(|b| b.get("errors").is_some()) {
            return Err(classify(&self.0, &resp));
        }
        let v = body.ok_or_else(|| http::invalid_response(self.0.platform, &resp, "not JSON"))?;
        http::json_id(&v, "/data/user/user_id")
            .map(|id| Identity {
                account: Some(id.clone()),
                account_id: Some(id),
                web_base: None,
            })
            .ok_or_else(|| http::invalid_response(self.0.platform, &resp, "no user_id"))
    }
}

connector_impl!(Fireflies, AuthKind::ApiKey; content);

/// The content call's query: the `Transcript` fields the item model reads
/// (https://docs.fireflies.ai/graphql-api/query/transcript, fields per
/// https://docs.fireflies.ai/schema/transcript, https://docs.fireflies.ai/schema/sentence,
/// https://docs.fireflies.ai/schema/summary). Audio and video URLs, analytics and AI filters
/// are not asked.
pub const TRANSCRIPT_QUERY: &str = "query Transcript($id: String!) { transcript(id: $id) { \
    id title date dateString duration host_email organizer_email participants \
    meeting_attendees { displayName email name } transcript_url speakers { id name } \
    sentences { index speaker_name text start_time end_time } \
    summary { overview action_items keywords } } }";

/// A listed transcript (`transcripts { id title date }`) has no sentences or summary.
fn needs_content(_: &Base, raw: &Value) -> bool {
    raw.get("sentences").is_none() && http::json_id(raw, "/id").is_some()
}

/// `transcript(id:)`: one GraphQL call; the content is the `transcript` object. A transcript
/// deleted meanwhile is the documented `object_not_found` error
/// (https://docs.fireflies.ai/miscellaneous/error-codes), or a `null` transcript: `NotFound`.
async fn fetch_content(base: &Base, req: ContentRequest<'_>) -> Result<Value, ConnectorError> {
    let id = content::id(base, req.raw, "/id")?;
    let post = base
        .request(reqwest::Method::POST, &base.identity_path)
        .json(&json!({"query": TRANSCRIPT_QUERY, "variables": {"id": id}}));
    let post = http::authorize(post, req.creds);
    let resp = content::send(base, req.pace, post).await?;
    let body = resp.json();
    if !resp.is_success() || body.as_ref().is_some_and(graphql_errors) {
        return Err(classify(base, &resp));
    }
    let body = body.ok_or_else(|| http::invalid_response(base.platform, &resp, "not JSON"))?;
    match body.pointer("/data/transcript") {
        Some(t) if t.is_object() => Ok(t.clone()),
        _ => Err(content::gone(base, resp.status, "object_not_found")),
    }
}

/// No bucket of its own: `transcript` is one request like any other, counted by the
/// integration's bucket (60 a minute on Business plans; the Free and Pro plans' 50 a day
/// answer `too_many_requests` with their wait, https://docs.fireflies.ai/fundamentals/limits).
fn content_limit(_: &Base) -> Option<MethodLimit> {
    None
}

pub fn classify(base: &Base, resp: &RawResponse) -> ConnectorError {
    let body = resp.json().unwrap_or(Value::Null);
    let code = body
        .pointer("/errors/0/code")
        .and_then(Value::as_str)
        .or_else(|| {
            body.pointer("/errors/0/extensions/code")
                .and_then(Value::as_str)
        });
    let t = match code {
        Some("auth_failed" | "invalid_api_key" | "UNAUTHENTICATED") => Some(ErrorType::AuthInvalid),
        Some("forbidden" | "FORBIDDEN" | "require_elevated_privilege") => {
            Some(ErrorType::InsufficientScope)
        }
        Some("too_many_requests" | "rate_limited") => Some(ErrorType::RateLimited),
        Some("object_not_found" | "not_found") => Some(ErrorType::NotFound),
        Some("invalid_arguments" | "args_required" | "GRAPHQL_VALIDATION_FAILED") => {
            Some(ErrorType::BadRequest)
        }
        _ => None,
    };
    match (t, code) {
        (Some(t), Some(c)) => http::coded(base.platform, t, resp, c).with_retry_after(
            ratelimit::fireflies_retry_after(&body, std::time::SystemTime::now())
                .or_else(|| resp.header_retry_after()),
        ),
        _ if resp.is_success() => http::coded(
            base.platform,
            ErrorType::BadRequest,
            resp,
            code.unwrap_or("graphql_error"),
        ),
        _ => http::classify_status(base.platform, resp, code),
    }
}

/// Fireflies: `transcripts(fromDate:, limit:, skip:)` from the newest transcript date seen
/// (inclusive); within a listing the cursor's page is the number of transcripts skipped.
pub(super) async fn page(base: &Base, req: PageRequest<'_>) -> Result<Page, ConnectorError> {
    let PageRequest { creds, cursor, .. } = req;
    const LIMIT: u64 = 50;
    let mut c = Listing::parse(cursor);
    let skip: u64 = c.page.as_deref().and_then(|p| p.parse().ok()).unwrap_or(0);
    let q = "query ($limit: Int, $skip: Int, $fromDate: DateTime) { transcripts(limit: $limit, skip: $skip, fromDate: $fromDate) { id title date } }";
    let req = base
        .request(reqwest::Method::POST, &base.identity_path)
        .json(&json!({"query": q,
            "variables": {"limit": LIMIT, "skip": skip, "fromDate": c.since}}));
    let v = call(classify, base, http::authorize(req, creds), graphql_errors).await?;
    let items = items(&v, "/data/transcripts", "transcript", "/id", Some("/date"));
    let n = items.len() as u64;
    c.see(watermark::newest_time(&items).map(watermark::stamp));
    Ok(Page::advanced(
        items,
        c.advance((n == LIMIT).then(|| (skip + n).to_string())),
    ))
}

/// Fireflies: its connector, and its webhooks, an HMAC of the body alone in `x-hub-signature`
/// (no signed time, https://docs.fireflies.ai/graphql-api/webhooks).
pub const SPEC: Spec = Spec {
    webhooks: Some(Webhooks {
        untimed: true,
        read: read_event,
        ..Webhooks::signed(Scheme::BodyHmac {
            header: Some("x-hub-signature"),
        })
    }),
    ..Spec::new(
        defaults,
        |b| Arc::new(Fireflies(b)),
        |raw, content, _| crate::items::fireflies::model(raw, content),
    )
};

/// Webhooks V2 (`meeting_id`, `event`: `meeting.transcribed`, …) and the legacy V1
/// (`meetingId`, `eventType`: `Transcription completed`), both still delivered: keyed by the
/// meeting and the event.
fn read_event(payload: &Value, _secret: Option<&[u8]>) -> Result<Read, Refusal> {
    let meeting = http::json_id(payload, "/meeting_id").or(http::json_id(payload, "/meetingId"));
    let event = first_str(payload, &["/event", "/eventType"]);
    Ok(Read::Event {
        id: meeting.map(|m| format!("{m}:{}", event.as_deref().unwrap_or(""))),
        event_type: event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::{Platform, PlatformOverride};

    /// Fireflies' error codes page (https://docs.fireflies.ai/miscellaneous/error-codes):
    /// `too_many_requests` carries its wait in `extensions.metadata.retryAfter`, in the error
    /// schema the page shows (`code` beside `message`, and again in `extensions`). The page does
    /// not give the unit: an epoch time in milliseconds (the quota's reset) is read as such.
    #[test]
    fn too_many_requests_waits_for_the_retry_after_in_the_error() {
        let base = Base::new(
            Platform::Fireflies,
            reqwest::Client::new(),
            &defaults(),
            &PlatformOverride::default(),
        );
        let reset = chrono::Utc::now().timestamp_millis() + 3_600_000;
        let body = format!(
            r#"{{"data": {{}}, "errors": [{{"message": "Too many requests", "friendly": true,
            "code": "too_many_requests", "extensions": {{"code": "too_many_requests",
            "status": 429, "helpUrls": ["https://docs.fireflies.ai/miscellaneous/error-codes#too_many_requests"],
            "metadata": {{"retryAfter": {reset}}}}}}}]}}"#
        );
        let r = RawResponse {
            status: 200,
            headers: Default::default(),
            body: body.into_bytes(),
        };
        let e = classify(&base, &r);
        assert_eq!(e.error_type, ErrorType::RateLimited);
        let wait = e.retry_after.expect("the wait in the error").as_secs();
        assert!((3590..=3600).contains(&wait), "{wait}");
    }
}

//! The four platforms without a confirmed public API (Otter, Loom, Granola, ZeroDB), as one
//! connector over a table of specs: an API key as a bearer token, a configurable identity path
//! (`GET /v1/me` by default) answering `{"id": …}`, a `GET /v1/items` listing, and the usual
//! status codes plus `{"error"|"code": …}`. Each spec says what could not be confirmed; set
//! `[platforms.<name>] api_base` and `identity_path` once it is. It must never put the API key
//! or a whole body into an error.

use serde_json::Value;
use std::sync::Arc;

use super::base::{connector_impl, Base, Defaults};
use super::http::{self, RawResponse};
use super::lists::{call, items, no_error, query, text, PAGE_SIZE};
use super::page::{Page, PageRequest};
use super::spec::{self, Scheme, Webhooks};
use super::watermark::{self, Listing};
use super::{AuthKind, Connector, ConnectorError, Credentials, ErrorType, Identity, Platform};
use crate::items::{generic, Kind};

/// One platform without a confirmed public API.
pub struct Spec {
    pub platform: Platform,
    pub api_base: &'static str,
    /// What could not be confirmed about it.
    pub unconfirmed: &'static str,
}

/// The platforms this connector serves, and what is modelled rather than known of each.
pub const SPECS: [Spec; 4] = [
    Spec {
        platform: Platform::Otter,
        api_base: "https://otter.ai/forward/api",
        unconfirmed: "Otter.ai has no widely public API; the base URL and identity path are modelled on the platform table and must be confirmed: set `[platforms.otter] api_base` and `identity_path` once confirmed.",
    },
    Spec {
        platform: Platform::Loom,
        api_base: "https://www.loom.com/api",
        unconfirmed: "Loom is SDK-first with a limited public REST API; the base URL and identity path are modelled on the platform table and must be confirmed: set `[platforms.loom] api_base` and `identity_path` once confirmed.",
    },
    Spec {
        platform: Platform::Granola,
        api_base: "https://api.granola.ai",
        unconfirmed: "Granola's API (API key; KPIs and meeting notes) is not publicly documented; the base URL and identity path are modelled on the platform table and must be confirmed: set `[platforms.granola] api_base` and `identity_path` once confirmed.",
    },
    Spec {
        platform: Platform::ZeroDb,
        api_base: "https://api.zerodb.ai",
        unconfirmed: "ZeroDB (vector memory REST, API key) has no public reference we could check; the base URL and identity path are modelled on the platform table and must be confirmed: set `[platforms.zerodb] api_base` and `identity_path` once confirmed.",
    },
];

/// The built-in defaults of one of `SPECS`' platforms (another platform gets no API base).
pub fn defaults(p: Platform) -> Defaults {
    Defaults {
        api_base: SPECS
            .iter()
            .find(|s| s.platform == p)
            .map_or("", |s| s.api_base),
        identity_path: "/v1/me",
        api_version: None,
        // No published limits (UNCONFIRMED APIs): cautious.
        rate: (5.0, 5.0),
        oauth: None,
    }
}

/// The connector of every platform in `SPECS`.
pub struct Unconfirmed(pub Base);

impl Unconfirmed {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        check(&self.0, creds).await
    }
}

connector_impl!(Unconfirmed, AuthKind::ApiKey);

/// `GET {api_base}{identity_path}`; the account id is the first of `id`, `user_id`,
/// `account_id`, `user.id` that is present.
pub async fn check(base: &Base, creds: &Credentials) -> Result<Identity, ConnectorError> {
    let resp = base.get(&base.identity_path, creds, &[]).await?;
    if !resp.is_success() {
        return Err(classify(base, &resp));
    }
    let v = resp
        .json()
        .ok_or_else(|| http::invalid_response(base.platform, &resp, "not JSON"))?;
    let id = ["/id", "/user_id", "/account_id", "/user/id", "/data/id"]
        .iter()
        .find_map(|p| http::json_id(&v, p));
    Ok(Identity {
        account: id.clone(),
        account_id: id,
        web_base: None,
    })
}

pub fn classify(base: &Base, resp: &RawResponse) -> ConnectorError {
    let body = resp.json().unwrap_or(Value::Null);
    let code = body
        .get("error")
        .and_then(Value::as_str)
        .or_else(|| body.pointer("/error/code").and_then(Value::as_str))
        .or_else(|| body.get("code").and_then(Value::as_str));
    let mut e = http::classify_status(base.platform, resp, code);
    match code {
        Some("token_expired" | "expired_token") if resp.status == 401 => {
            e.error_type = ErrorType::AuthExpired
        }
        Some("token_revoked" | "key_revoked" | "revoked") if resp.status == 401 => {
            e.error_type = ErrorType::AuthRevoked
        }
        _ => {}
    }
    e
}

/// Otter, Loom, Granola, ZeroDB (unconfirmed APIs): `GET /v1/items?updated_since=&cursor=&limit=`
/// (Granola's documented `updated_since`, assumed for the others), from the newest
/// `updated_at` seen (inclusive).
pub(super) async fn page(base: &Base, req: PageRequest<'_>) -> Result<Page, ConnectorError> {
    let PageRequest { creds, cursor, .. } = req;
    let mut c = Listing::parse(cursor);
    let mut q = vec![("limit", PAGE_SIZE.to_string())];
    if let Some(s) = &c.since {
        q.push(("updated_since", s.clone()));
    }
    if let Some(p) = &c.page {
        q.push(("cursor", p.clone()));
    }
    let v = call(
        classify,
        base,
        query(base, "/v1/items", creds, &q),
        no_error,
    )
    .await?;
    let items = items(&v, "/items", "item", "/id", Some("/updated_at"));
    c.see(watermark::newest_time(&items).map(watermark::stamp));
    Ok(Page::advanced(items, c.advance(text(&v, "/next_cursor"))))
}

/// Otter, Loom and Granola's webhooks as modelled (unconfirmed): an HMAC of the body alone, in
/// the header the webhook's config names, with no signed time; events read as `event_id` or
/// `id` and `type` or `event`.
const UNCONFIRMED_WEBHOOKS: Webhooks = Webhooks {
    untimed: true,
    ..Webhooks::signed(Scheme::BodyHmac { header: None })
};

fn connect(b: Base) -> Arc<dyn Connector> {
    Arc::new(Unconfirmed(b))
}

/// Otter.ai (unconfirmed API).
pub const OTTER: spec::Spec = spec::Spec {
    webhooks: Some(UNCONFIRMED_WEBHOOKS),
    ..spec::Spec::new(
        || defaults(Platform::Otter),
        connect,
        |raw, content, _| generic::model(raw, content, Kind::Transcript),
    )
};

/// Loom (unconfirmed API).
pub const LOOM: spec::Spec = spec::Spec {
    webhooks: Some(UNCONFIRMED_WEBHOOKS),
    ..spec::Spec::new(
        || defaults(Platform::Loom),
        connect,
        |raw, content, _| generic::model(raw, content, Kind::Recording),
    )
};

/// Granola (unconfirmed API).
pub const GRANOLA: spec::Spec = spec::Spec {
    webhooks: Some(UNCONFIRMED_WEBHOOKS),
    ..spec::Spec::new(
        || defaults(Platform::Granola),
        connect,
        |raw, content, _| generic::model(raw, content, Kind::Note),
    )
};

/// ZeroDB (unconfirmed API): it delivers no webhooks.
pub const ZERODB: spec::Spec = spec::Spec::new(
    || defaults(Platform::ZeroDb),
    connect,
    |raw, content, _| generic::model(raw, content, Kind::Note),
);

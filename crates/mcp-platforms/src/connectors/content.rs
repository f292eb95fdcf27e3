//! What the platforms' content calls share (each call lives in its platform's file): the
//! request a fetch is made with, one paced call read up to `MAX_CONTENT_BODY` and classified by
//! the platform's own `classify`, the listed record's id, an id as a URL path segment. Every
//! HTTP call of a content fetch awaits the caller's `Pace` first (where it takes its
//! rate-limit tokens). It must never log content nor put content or a credential into an error.

use serde_json::Value;

use super::base::Base;
use super::http::{self, RawResponse, MAX_CONTENT_BODY};
use super::lists::Classify;
use super::{ConnectorError, Credentials, ErrorType, Pace};

/// What one content fetch is made with: the credentials, the listed record (`SyncItem::raw`),
/// the integration's settings and the pace awaited before each HTTP call.
#[derive(Clone, Copy)]
pub struct ContentRequest<'a> {
    pub creds: &'a Credentials,
    pub raw: &'a Value,
    pub settings: &'a Value,
    pub pace: &'a Pace,
}

/// Awaits the pace, then sends and reads the answer (at most `MAX_CONTENT_BODY`).
pub(super) async fn send(
    base: &Base,
    pace: &Pace,
    req: reqwest::RequestBuilder,
) -> Result<RawResponse, ConnectorError> {
    pace().await?;
    http::send_bounded(base.platform, req, MAX_CONTENT_BODY).await
}

/// `send`; a non-success answer (or `bad(body)`) is classified by the platform's `classify`;
/// the body must be JSON.
pub(super) async fn call(
    classify: Classify,
    base: &Base,
    pace: &Pace,
    req: reqwest::RequestBuilder,
    bad: fn(&Value) -> bool,
) -> Result<Value, ConnectorError> {
    let resp = send(base, pace, req).await?;
    let body = resp.json();
    if !resp.is_success() || body.as_ref().is_some_and(bad) {
        return Err(classify(base, &resp));
    }
    body.ok_or_else(|| http::invalid_response(base.platform, &resp, "not JSON"))
}

/// The listed record's id at `ptr`; a record without one cannot be fetched (`BadRequest`), nor
/// one whose id is a dot segment (`.`, `..`: a URL would resolve it, even escaped).
pub(super) fn id(base: &Base, raw: &Value, ptr: &str) -> Result<String, ConnectorError> {
    let dots = |s: &String| s.trim_matches('.').is_empty();
    http::json_id(raw, ptr).filter(|s| !dots(s)).ok_or_else(|| {
        ConnectorError::new(
            base.platform,
            ErrorType::BadRequest,
            None,
            Some("no_id".into()),
            "the listed record has no id",
        )
    })
}

/// An id (from `id`) as one URL path segment: everything but RFC 3986's unreserved characters
/// escaped, so an id can never add a segment, a query or a fragment.
pub(super) fn segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The platform's answer named nothing to fetch where it should have (an empty GraphQL
/// `data`): the item is gone.
pub(super) fn gone(base: &Base, resp_status: u16, code: &str) -> ConnectorError {
    ConnectorError::new(
        base.platform,
        ErrorType::NotFound,
        Some(resp_status),
        Some(code.into()),
        format!("HTTP {resp_status}: {code}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_stays_one_path_segment() {
        assert_eq!(segment("18bcfe8e2f1c2a44"), "18bcfe8e2f1c2a44");
        assert_eq!(
            segment("be633bf1-dfa0-436d-b259-571129a590e5"),
            "be633bf1-dfa0-436d-b259-571129a590e5"
        );
        assert_eq!(segment("../a b?c#d/é"), "..%2Fa%20b%3Fc%23d%2F%C3%A9");
    }

    #[test]
    fn a_record_without_a_usable_id_is_refused() {
        let base = Base::new(
            crate::connectors::Platform::Gmail,
            reqwest::Client::new(),
            &crate::connectors::gmail::defaults(),
            &Default::default(),
        );
        for raw in [
            serde_json::json!({}),
            serde_json::json!({"id": ""}),
            serde_json::json!({"id": ".."}),
            serde_json::json!({"id": "."}),
            serde_json::json!({"id": null}),
        ] {
            let e = id(&base, &raw, "/id").expect_err("no usable id");
            assert_eq!(e.error_type, ErrorType::BadRequest, "{raw}");
        }
        assert_eq!(
            id(&base, &serde_json::json!({"id": 7}), "/id").ok(),
            Some("7".into())
        );
    }
}

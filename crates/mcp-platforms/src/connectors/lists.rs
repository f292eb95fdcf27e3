//! What the platforms' incremental listings share (each platform's own `page` lives in its
//! file): one call whose failure the platform's `classify` names, item and text extraction, the
//! page size. A cursor the platform refuses as too old is `ConnectorError::cursor_expired`. A
//! listing never follows a link to another host than the platform's (a credential goes only
//! where the platform lives) and never puts a credential into an error.

use serde_json::Value;

use super::base::Base;
use super::http::{self, RawResponse};
use super::page::{item, SyncItem};
use super::watermark::{self, Channels};
use super::{ConnectorError, Credentials, ErrorType};

/// Items asked per page (each platform caps it at its own maximum).
pub const PAGE_SIZE: u32 = 100;

pub(super) type Classify = fn(&Base, &RawResponse) -> ConnectorError;

/// Sends; a non-success answer (or `bad(body)`) is classified by the platform's `classify`; the
/// body must be JSON.
pub(super) async fn call(
    classify: Classify,
    base: &Base,
    req: reqwest::RequestBuilder,
    bad: fn(&Value) -> bool,
) -> Result<Value, ConnectorError> {
    let resp = base.send(req).await?;
    let body = resp.json();
    if !resp.is_success() || body.as_ref().is_some_and(bad) {
        return Err(classify(base, &resp));
    }
    body.ok_or_else(|| http::invalid_response(base.platform, &resp, "not JSON"))
}

pub(super) fn no_error(_: &Value) -> bool {
    false
}

pub(super) fn items(
    v: &Value,
    list: &str,
    kind: &str,
    id: &str,
    time: Option<&str>,
) -> Vec<SyncItem> {
    v.pointer(list)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| item(x, kind, id, time)).collect())
        .unwrap_or_default()
}

pub(super) fn text(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

pub(super) fn query(
    base: &Base,
    path: &str,
    creds: &Credentials,
    q: &[(&str, String)],
) -> reqwest::RequestBuilder {
    http::authorize(base.request(reqwest::Method::GET, path).query(q), creds)
}

/// A channel listing's configured channels (`settings.channels`; a bad list refused naming it)
/// and where it stands (its stored cursor).
pub(super) fn channels_from(
    base: &Base,
    settings: &Value,
    cursor: Option<&str>,
) -> Result<(Vec<String>, Channels), ConnectorError> {
    let configured =
        watermark::channels(base.platform, settings).map_err(|e| bad_settings(base, e))?;
    Ok((configured, Channels::parse(cursor)))
}

pub(super) fn bad_settings(base: &Base, e: String) -> ConnectorError {
    ConnectorError::new(
        base.platform,
        ErrorType::BadRequest,
        None,
        Some("settings".into()),
        e,
    )
}

/// A GraphQL answer with `errors` (Monday, Fireflies answer errors with HTTP 200).
pub(super) fn graphql_errors(v: &Value) -> bool {
    v.get("errors").is_some() || v.get("error_code").is_some()
}

//! What the four platforms without a confirmed public API share (Otter, Loom, Granola,
//! ZeroDB): an API key as a bearer token, a configurable identity path (`GET /v1/me` by
//! default) answering `{"id": …}`, and the usual status codes plus `{"error"|"code": …}`.
//! It must never put the API key or a whole body into an error.

use serde_json::Value;

use super::base::Base;
use super::http::{self, RawResponse};
use super::{ConnectorError, Credentials, ErrorType, Identity};

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
    Ok(Identity { account_id: id })
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

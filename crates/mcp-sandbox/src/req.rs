//! A request to the sandbox's platform endpoints as its handlers read it (`api` and
//! `content`): the platform, method, path, query, headers and body, and the credential it
//! presents; and the accounts of logins, as the platforms name them. Test double only.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use base64::Engine;
use serde_json::Value;

use mcp_platforms::connectors::Platform;

/// Everything a platform route needs to know about the request.
pub struct Req {
    pub platform: Platform,
    pub method: Method,
    pub path: String,
    /// The query's parameters (the last value of a repeated one; `q_all` has them all).
    pub query: HashMap<String, String>,
    pub raw_query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
    /// Every value of a query parameter, in order.
    pub fn q_all(&self, k: &str) -> Vec<String> {
        url::form_urlencoded::parse(self.raw_query.as_deref().unwrap_or("").as_bytes())
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .collect()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

pub fn parse_query(raw: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// The credential a request presents: (value, Basic secret if any).
pub fn presented(p: Platform, h: &HeaderMap) -> Option<(String, Option<String>)> {
    let auth = h.get("authorization")?.to_str().ok()?.trim();
    if let Some(b) = auth.strip_prefix("Basic ") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, pw) = s.split_once(':')?;
        return Some((u.to_string(), Some(pw.to_string())));
    }
    if let Some(t) = auth.strip_prefix("Bearer ") {
        return Some((t.trim().to_string(), None));
    }
    // Monday takes the bare token.
    (p == Platform::Monday && !auth.is_empty()).then(|| (auth.to_string(), None))
}

/// A stable id for an account on a platform.
pub fn account_id(p: Platform, account: &str) -> String {
    let h = account.bytes().fold(1469598103934665603u64, |h, b| {
        (h ^ b as u64).wrapping_mul(1099511628211)
    });
    match p {
        Platform::Slack => format!("U{:010X}", h % 0xFF_FFFF_FFFF),
        Platform::Discord => format!("{}", 100_000_000_000_000_000 + h % 900_000_000_000_000_000),
        Platform::Monday => format!("{}", h % 100_000_000),
        _ => format!("{h:016x}"),
    }
}

/// The account a login of the sandbox belongs to, as each platform names it in its token
/// answers, identity calls and events: a Slack team, a Zoom account, a Discord guild, a Notion
/// workspace, a Gmail address, an Outlook user, a Monday account. Logins `a` and `a+x` (anything
/// after a `+`) are two users of one account.
pub fn account_of(p: Platform, login: &str) -> String {
    let org = login.split('+').next().unwrap_or(login);
    let h = account_id(p, &format!("org:{org}"));
    match p {
        Platform::Slack => format!("T{}", &h[1..]),
        Platform::Zoom => format!("zacct-{h}"),
        Platform::Notion => format!("ws-{h}"),
        Platform::Gmail => format!("{login}@sandbox.test"),
        Platform::Discord | Platform::Monday => h,
        // The user is the account (Outlook's user id, Twilio's SID, the API-key platforms').
        _ => account_id(p, login),
    }
}

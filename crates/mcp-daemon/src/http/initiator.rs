//! Who started a connect. A `state` alone proves nothing about the browser that comes back with
//! it: an attacker could start a connect for their own workspace and send the authorize link to
//! a victim, whose consent would then land in the attacker's workspace. So each connect is bound
//! to its initiator, in one of two ways:
//! - the application in front passes `binding=<value>` on the connect (a value tied to its
//!   user's session, at least 16 characters) and adds the same `binding` to the callback it
//!   forwards;
//! - otherwise the connect's redirect sets a cookie `mcp_connect_<state tag>` holding a random
//!   value, scoped to the callback's path under `oauth.redirect_base` (`HttpOnly`,
//!   `SameSite=Lax` so that the platform's top-level redirect carries it, `Secure` when the base
//!   is https), and the callback must present it.
//!
//! Only the binding's SHA-256 is stored (`mcp.oauth_states.binding_hash`).

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use base64::Engine;

use mcp_platforms::secret::Secret;

/// The query field an application passes.
pub const FIELD: &str = "binding";
const COOKIE_PREFIX: &str = "mcp_connect_";
const MIN_LEN: usize = 16;
const MAX_LEN: usize = 512;

/// The binding of a connect being started, and the cookie to set for it (when the daemon made it).
pub struct Chosen {
    pub binding: Secret,
    pub from_cookie: bool,
}

/// The application's `binding`, or a fresh random one for a cookie. `Err` names what is wrong.
pub fn choose(q: &HashMap<String, String>) -> Result<Chosen, &'static str> {
    match q.get(FIELD) {
        Some(v) if v.len() < MIN_LEN || v.len() > MAX_LEN => {
            Err("must be 16 to 512 characters (a value tied to the user's session)")
        }
        Some(v) => Ok(Chosen {
            binding: Secret::new(v.clone()),
            from_cookie: false,
        }),
        None => {
            let raw: [u8; 32] = rand::random();
            Ok(Chosen {
                binding: Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)),
                from_cookie: true,
            })
        }
    }
}

/// The connect's redirect, with its cookie when the daemon chose the binding.
pub fn with_cookie(
    mut resp: Response,
    tag: &str,
    chosen: &Chosen,
    oauth: &mcp_platforms::oauth::OAuthConfig,
) -> Response {
    if chosen.from_cookie {
        if let Some(c) = set_cookie(tag, &chosen.binding, &oauth.redirect_base, oauth.state_ttl) {
            resp.headers_mut().insert(header::SET_COOKIE, c);
        }
    }
    resp
}

/// The callback's answer, clearing the connect's cookie.
pub fn cleared(mut resp: Response, tag: &str, redirect_base: &str) -> Response {
    if let Some(c) = clear_cookie(tag, redirect_base) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

/// The `Set-Cookie` value for a connect whose state has `tag`.
fn set_cookie(
    tag: &str,
    binding: &Secret,
    redirect_base: &str,
    ttl: Duration,
) -> Option<HeaderValue> {
    let base = url::Url::parse(redirect_base).ok();
    let path = base
        .as_ref()
        .map(|u| format!("{}/integrations/callback/", u.path().trim_end_matches('/')))
        .unwrap_or_else(|| "/integrations/callback/".into());
    let secure = base.is_some_and(|u| u.scheme() == "https");
    let cookie = format!(
        "{COOKIE_PREFIX}{tag}={}; Path={path}; Max-Age={}; HttpOnly; SameSite=Lax{}",
        binding.expose(),
        ttl.as_secs().max(1),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).ok()
}

/// The binding a callback presents for the state with `tag`: the application's `binding` field,
/// else the connect's cookie.
pub fn presented(q: &HashMap<String, String>, headers: &HeaderMap, tag: &str) -> Option<Secret> {
    if let Some(v) = q.get(FIELD) {
        return Some(Secret::new(v.clone()));
    }
    let name = format!("{COOKIE_PREFIX}{tag}");
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| Secret::new(v.to_string()))
}

/// Clears the connect's cookie once the callback has used it.
fn clear_cookie(tag: &str, redirect_base: &str) -> Option<HeaderValue> {
    let path = url::Url::parse(redirect_base)
        .map(|u| format!("{}/integrations/callback/", u.path().trim_end_matches('/')))
        .unwrap_or_else(|_| "/integrations/callback/".into());
    HeaderValue::from_str(&format!(
        "{COOKIE_PREFIX}{tag}=; Path={path}; Max-Age=0; HttpOnly; SameSite=Lax"
    ))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_scoped_to_the_callback_and_read_back_by_its_tag() {
        let q = HashMap::new();
        let c = choose(&q).expect("fresh");
        assert!(c.from_cookie);
        let set = set_cookie(
            "00ff",
            &c.binding,
            "https://gw.example/mcp/",
            Duration::from_secs(600),
        )
        .expect("header");
        let set = set.to_str().expect("ascii");
        assert!(set.contains("Path=/mcp/integrations/callback/"), "{set}");
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"));
        assert!(set.ends_with("; Secure"), "{set}");
        let pair = set.split(';').next().expect("pair");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {pair}")).expect("cookie"),
        );
        let got = presented(&q, &headers, "00ff").expect("found");
        assert_eq!(got.expose(), c.binding.expose());
        assert!(presented(&q, &headers, "00fe").is_none(), "another state's");
    }

    #[test]
    fn an_application_binding_must_be_long_enough() {
        let mut q = HashMap::new();
        q.insert(FIELD.to_string(), "short".to_string());
        assert!(choose(&q).is_err());
        q.insert(FIELD.to_string(), "session-0123456789abcdef".to_string());
        let c = choose(&q).expect("ok");
        assert!(!c.from_cookie);
        assert!(set_cookie("t", &c.binding, "http://x", Duration::ZERO).is_some());
    }
}

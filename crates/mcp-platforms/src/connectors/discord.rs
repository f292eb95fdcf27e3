//! Discord: OAuth 2.0, health check `GET /api/v10/users/@me`, and Discord's rate-limit form
//! (429 with JSON `retry_after` in float seconds and `X-RateLimit-*` headers).
//! It must never put a token or a whole body into an error.

use serde_json::Value;

use super::base::{connector_impl, Base, ClientAuth, Defaults, OAuthDefaults};
use super::http::{self, RawResponse};
use super::lists::{bad_settings, call, items, no_error, query, PAGE_SIZE};
use super::page::{Page, PageRequest};
use super::watermark::{self, Channels};
use super::{ratelimit, AuthKind, ConnectorError, Credentials, ErrorType, Identity};

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://discord.com",
        identity_path: "/api/v10/users/@me",
        api_version: None,
        oauth: Some(OAuthDefaults {
            authorize_url: "https://discord.com/oauth2/authorize",
            token_url: "https://discord.com/api/oauth2/token",
            revoke_url: Some("https://discord.com/api/oauth2/token/revoke"),
            client_auth: ClientAuth::Basic,
            // A refresh returns a new refresh token; keep the newest.
            rotates_refresh_tokens: true,
            pkce: true,
            scopes: &["identify", "guilds"],
            extra_authorize_params: &[],
        }),
    }
}

pub struct Discord(pub Base);

impl Discord {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        self.0
            .get_identity(&self.0.identity_path, creds, &[], "/id", None, classify)
            .await
    }
}

connector_impl!(Discord, AuthKind::OAuth2);

/// Discord's body `{"message", "code"}`; on 429 `{"retry_after", "global"}`.
pub fn classify(base: &Base, resp: &RawResponse) -> ConnectorError {
    let body = resp.json().unwrap_or(Value::Null);
    let code = body
        .get("code")
        .and_then(Value::as_u64)
        .map(|c| c.to_string());
    let mut e = http::classify_status(base.platform, resp, code.as_deref());
    if resp.status == 429 {
        let global = body.get("global").and_then(Value::as_bool) == Some(true);
        e.code = Some(if global { "global" } else { "ratelimited" }.into());
        e.retry_after = ratelimit::discord_body(&body).or(e.retry_after);
    }
    if e.error_type == ErrorType::AuthInvalid && resp.status != 401 {
        e.error_type = ErrorType::InsufficientScope;
    }
    e
}

/// Discord: the messages of each channel in `settings.channels` `after` the channel's newest
/// snowflake seen (its watermark, moved on every page); a short page ends the channel. No
/// channel configured: nothing to read (the sync handler says so before calling).
pub(super) async fn page(base: &Base, req: PageRequest<'_>) -> Result<Page, ConnectorError> {
    let PageRequest {
        creds,
        cursor,
        settings,
    } = req;
    let configured =
        watermark::channels(base.platform, settings).map_err(|e| bad_settings(base, e))?;
    let mut c = Channels::parse(cursor);
    if !c.active {
        c.start(&configured, false);
    }
    let Some(channel) = c.current().map(String::from) else {
        c.finish(&configured);
        return Ok(Page {
            items: vec![],
            next_cursor: Some(c.text()),
            done: true,
            deleted: vec![],
        });
    };
    let path = format!("/api/v10/channels/{channel}/messages");
    let q = [
        ("after", c.mark().unwrap_or("0").to_string()),
        ("limit", PAGE_SIZE.to_string()),
    ];
    let v = call(classify, base, query(base, &path, creds, &q), no_error).await?;
    let items = items(&v, "", "message", "/id", Some("/timestamp"));
    for it in &items {
        c.see(Some(it.external_id.clone()), watermark::snowflake_newer);
    }
    // `after` is both the page cursor and the watermark: checkpoint it with every page.
    if let Some(n) = c.newest.clone() {
        c.marks.insert(channel, n);
    }
    if items.len() < PAGE_SIZE as usize {
        c.channel_done(watermark::snowflake_newer);
    }
    let done = c.is_done();
    if done {
        c.finish(&configured);
    }
    Ok(Page {
        items,
        next_cursor: Some(c.text()),
        done,
        deleted: vec![],
    })
}

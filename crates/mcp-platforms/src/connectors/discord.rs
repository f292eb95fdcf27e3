//! Discord: OAuth 2.0, health check `GET /api/v10/users/@me`, and Discord's rate-limit form
//! (429 with JSON `retry_after` in float seconds and `X-RateLimit-*` headers).
//! It must never put a token or a whole body into an error.

use super::event::{ids_at, json_handshake, str_of, Handshake, Read, Refusal};
use super::meaning::Meaning;
use super::spec::{self, Accounts, Scheme, Spec, Webhooks};
use serde_json::Value;
use std::sync::Arc;

use super::base::{connector_impl, Base, ClientAuth, Defaults, OAuthDefaults};
use super::http::{self, RawResponse};
use super::lists::{bad_settings, call, channels_from, items, no_error, PAGE_SIZE};
use super::page::{Page, PageRequest};
use super::watermark;
use super::{ratelimit, AuthKind, ConnectorError, Credentials, ErrorType, Identity};

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://discord.com",
        identity_path: "/api/v10/users/@me",
        api_version: None,
        // 50 requests/s per bot globally; per-route buckets are announced only in the
        // X-RateLimit-* headers (about 5 per 5 s on channel messages in practice).
        rate: (5.0, 1.0),
        oauth: Some(OAuthDefaults {
            authorize_url: "https://discord.com/oauth2/authorize",
            token_url: "https://discord.com/api/oauth2/token",
            revoke_url: Some("https://discord.com/api/oauth2/token/revoke"),
            client_auth: ClientAuth::Basic,
            // A refresh returns a new refresh token; keep the newest.
            rotates_refresh_tokens: true,
            pkce: true,
            // A bot install through the code grant: `bot` adds the app's bot to the guild the
            // person picks and makes the token answer name that guild; `identify` lets the
            // health check read the person (`/users/@me`)
            // (https://discord.com/developers/docs/topics/oauth2#advanced-bot-authorization).
            scopes: &["identify", "bot"],
            scope_separator: " ",
            // The bot's permissions in that guild: VIEW_CHANNEL (1 << 10) and
            // READ_MESSAGE_HISTORY (1 << 16), without which a channel's messages read empty
            // (https://discord.com/developers/docs/topics/permissions#permissions-bitwise-permission-flags).
            extra_authorize_params: &[("permissions", "66560")],
        }),
    }
}

pub struct Discord(pub Base);

impl Discord {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        self.0.identity(creds, "/id", None, classify).await
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

/// Guild channel types whose messages are read: GUILD_TEXT (0) and GUILD_ANNOUNCEMENT (5)
/// (https://discord.com/developers/docs/resources/channel#channel-object-channel-types).
const TEXT_CHANNELS: [u64; 2] = [0, 5];

/// `Authorization: Bot <token>`: the app's bot reads the guilds it was installed in
/// (https://discord.com/developers/docs/reference#authentication).
fn as_bot(
    base: &Base,
    req: reqwest::RequestBuilder,
) -> Result<reqwest::RequestBuilder, ConnectorError> {
    let token = base.bot_token.as_ref().ok_or_else(|| {
        bad_settings(
            base,
            "platforms.discord.bot_token is not set: channel messages are read as the app's bot"
                .into(),
        )
    })?;
    Ok(req.header(
        reqwest::header::AUTHORIZATION,
        format!("Bot {}", token.expose()),
    ))
}

/// The text channels of the integration's guild (`GET /guilds/{guild.id}/channels`, as the
/// bot): the configured ones, which must all be the guild's, or every one of them when none is
/// configured.
async fn guild_channels(
    base: &Base,
    guild: &str,
    configured: &[String],
) -> Result<Vec<String>, ConnectorError> {
    if guild.is_empty() || !guild.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_settings(
            base,
            "the integration's guild is not known yet".into(),
        ));
    }
    let req = as_bot(
        base,
        base.request(
            reqwest::Method::GET,
            &format!("/api/v10/guilds/{guild}/channels"),
        ),
    )?;
    let v = call(classify, base, req, no_error).await?;
    let text: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter(|ch| {
            ch.get("type")
                .and_then(Value::as_u64)
                .is_some_and(|t| TEXT_CHANNELS.contains(&t))
        })
        .filter_map(|ch| http::json_id(ch, "/id"))
        .collect();
    if configured.is_empty() {
        return Ok(text);
    }
    if let Some(foreign) = configured.iter().find(|c| !text.contains(c)) {
        return Err(bad_settings(
            base,
            format!("channel {foreign} is not a text channel of the integration's guild"),
        ));
    }
    Ok(configured.to_vec())
}

/// Discord: as the app's bot, the messages of each text channel of the integration's guild
/// (those in `settings.channels`, or all of them) `after` the channel's newest snowflake seen
/// (its watermark, moved on every page); a short page ends the channel. The guild's channels
/// are read once at the start of each listing, so a channel of another guild is never read.
pub(super) async fn page(base: &Base, req: PageRequest<'_>) -> Result<Page, ConnectorError> {
    let PageRequest {
        cursor,
        settings,
        account,
        ..
    } = req;
    let (configured, mut c) = channels_from(base, settings, cursor)?;
    if !c.active {
        let channels = guild_channels(base, account.unwrap_or(""), &configured).await?;
        c.start(&channels, false);
    }
    let Some(channel) = c.current().map(String::from) else {
        return Ok(c.page(vec![], &configured));
    };
    let path = format!("/api/v10/channels/{channel}/messages");
    let q = [
        ("after", c.mark().unwrap_or("0").to_string()),
        ("limit", PAGE_SIZE.to_string()),
    ];
    let req = as_bot(base, base.request(reqwest::Method::GET, &path).query(&q))?;
    let v = call(classify, base, req, no_error).await?;
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
    Ok(c.page(items, &configured))
}

/// What a Discord webhook event means: `APPLICATION_DEAUTHORIZED` withdraws our access
/// (https://discord.com/developers/docs/events/webhook-events#application-deauthorized).
pub fn event_meaning(_event_type: Option<&str>, payload: &Value) -> Meaning {
    let kind = payload
        .get("event")
        .and_then(|e| e.get("type"))
        .and_then(Value::as_str);
    match kind {
        Some("APPLICATION_DEAUTHORIZED") => Meaning::Revoked("discord: application deauthorized"),
        _ => Meaning::Changed,
    }
}

/// Discord: its connector (reading only the guild the bot was installed in, and the channels
/// of `settings.channels`), and the application's Interactions and Webhook Events, signed with
/// Ed25519 by the application's key and delivered for every guild to one URL.
pub const SPEC: Spec = Spec {
    webhooks: Some(Webhooks {
        read: read_event,
        meaning: event_meaning,
        meaning_reads_payload: true,
        empty_ack,
        ..Webhooks::signed(Scheme::Ed25519)
    }),
    accounts: Accounts {
        app_level: true,
        from_token_answer: token_account,
        from_event: event_accounts,
        case_insensitive: false,
    },
    channels: Some(spec::ChannelIds::Snowflake),
    account_required: Some("the Discord guild the bot was installed in is not known yet"),
    ..Spec::new(
        defaults,
        |b| Arc::new(Discord(b)),
        |raw, _, ctx| crate::items::discord::model(raw, ctx),
    )
};

/// What a Discord body is. The application's two URLs may both be this one: Interactions
/// (they carry the interaction's `id` and `token`; `type` 1 is the PING, answered 200 with
/// `{"type": 1}`) and Webhook Events (`version`, `application_id`, `type`: 0 is the PING,
/// answered 204 with an empty body; 1 is an event, `event: {type, timestamp, data}`). Any other
/// webhook-events `type` is not what Discord sends. An interaction is keyed by its `id`;
/// webhook events have none.
fn read_event(payload: &Value, _secret: Option<&[u8]>) -> Result<Read, Refusal> {
    let kind = payload.get("type").and_then(Value::as_i64);
    let interaction = payload.get("id").is_some() || payload.get("token").is_some();
    if interaction {
        if kind == Some(1) {
            return Ok(Read::Answer(json_handshake(serde_json::json!({"type": 1}))));
        }
        return Ok(Read::Event {
            id: http::json_id(payload, "/id"),
            event_type: None,
        });
    }
    match kind {
        Some(0) => Ok(Read::Answer(Handshake {
            status: ::http::StatusCode::NO_CONTENT,
            // Discord asks for a valid content type on PING answers, even an empty one.
            content_type: "application/json",
            body: String::new(),
        })),
        Some(1) => Ok(Read::Event {
            id: None,
            event_type: str_of(payload, "/event/type").map(String::from),
        }),
        _ => Err(Refusal::Malformed),
    }
}

/// Webhook events are acknowledged with 204 and no body
/// (https://discord.com/developers/docs/events/webhook-events).
fn empty_ack(payload: &Value) -> bool {
    payload.get("event").is_some_and(Value::is_object)
}

/// A bot install's token answer names its `guild.id`.
fn token_account(answer: &Value) -> Option<String> {
    http::json_id(answer, "/guild/id")
}

/// `guild_id` (interactions) or `event.data.guild.id` (webhook events).
fn event_accounts(payload: &Value) -> Vec<String> {
    ids_at(
        payload,
        &["/guild_id", "/event/data/guild/id", "/event/data/guild_id"],
    )
}

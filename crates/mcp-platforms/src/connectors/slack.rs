//! Slack: OAuth v2 (refresh only with token rotation on), health check `POST /api/auth.test`,
//! and Slack's error form: HTTP 200 with `{"ok": false, "error": "<code>"}`, 429 +
//! `Retry-After`. It must never put a token or a whole body into an error.

use super::event::{
    first_str, ids_at, is_channel_id, one, str_at, str_of, Deletion, Gone, Handshake, Read, Refusal,
};
use super::meaning::Meaning;
use super::page::{item, SyncItem};
use super::spec::{self, Accounts, Scheme, Spec, Webhooks};
use serde_json::Value;
use std::sync::Arc;

use super::base::{connector_impl, Base, ClientAuth, Defaults, OAuthDefaults};
use super::http::{self, RawResponse};
use super::lists::{call, channels_from, items, query, text, PAGE_SIZE};
use super::page::{Page, PageRequest};
use super::watermark::{self, Channels};
use super::{AuthKind, ConnectorError, Credentials, ErrorType, Identity, MethodLimit};

pub fn defaults() -> Defaults {
    Defaults {
        api_base: "https://slack.com",
        identity_path: "/api/auth.test",
        api_version: None,
        // conversations.history is Tier 3 (50+ per minute per workspace) for Marketplace and
        // internal apps: 0.8/s = 48/min. conversations.list (Tier 2, 20+ per minute) takes from
        // the same bucket but is called once per 200 channels. Commercially distributed apps
        // outside the Marketplace get 1 request per minute for conversations.history since
        // 2025: set `[sync.rate_limits.slack]` for those.
        rate: (3.0, 0.8),
        oauth: Some(OAuthDefaults {
            authorize_url: "https://slack.com/oauth/v2/authorize",
            token_url: "https://slack.com/api/oauth.v2.access",
            revoke_url: Some("https://slack.com/api/auth.revoke"),
            client_auth: ClientAuth::Body,
            // With token rotation on, every refresh returns a new refresh token.
            rotates_refresh_tokens: true,
            pkce: false,
            scopes: &["channels:history", "channels:read", "users:read"],
            // https://docs.slack.dev/authentication/installing-with-oauth: `scope` is a
            // comma-separated list (a space is refused as `invalid_scope`).
            scope_separator: ",",
            extra_authorize_params: &[],
        }),
    }
}

pub struct Slack(pub Base);

impl Slack {
    async fn check(&self, creds: &Credentials) -> Result<Identity, ConnectorError> {
        let req = http::authorize(
            self.0.request(reqwest::Method::POST, &self.0.identity_path),
            creds,
        );
        let resp = self.0.send(req).await?;
        if !resp.is_success() {
            return Err(classify(&self.0, &resp));
        }
        let v = resp
            .json()
            .ok_or_else(|| http::invalid_response(self.0.platform, &resp, "not JSON"))?;
        if v.get("ok").and_then(Value::as_bool) != Some(true) {
            return Err(classify(&self.0, &resp));
        }
        let team = http::json_id(&v, "/team_id");
        let web_base = v
            .get("url")
            .and_then(Value::as_str)
            .filter(|u| u.starts_with("https://"))
            .map(str::to_string);
        Ok(Identity {
            account_id: http::json_id(&v, "/user_id").or_else(|| team.clone()),
            account: team.or_else(|| http::json_id(&v, "/enterprise_id")),
            web_base,
        })
    }
}

connector_impl!(Slack, AuthKind::OAuth2, method_limit);

/// Messages a page of `conversations.history` asks for under the non-Marketplace limits (the
/// method's maximum and default there).
pub const LIMITED_PAGE: u32 = 15;

/// `conversations.history` under the non-Marketplace limits: 1 request a minute per
/// installation (https://docs.slack.dev/changelog/2025/05/29/rate-limit-changes-for-non-marketplace-apps).
pub const LIMITED_HISTORY: MethodLimit = MethodLimit {
    bucket: "slack:conversations.history",
    capacity: 1.0,
    per_sec: 1.0 / 60.0,
};

/// The limit of the next call when it is `conversations.history` and the app is held to the
/// non-Marketplace limits; `None` otherwise (`conversations.list` keeps its tier).
pub fn method_limit(base: &Base, cursor: Option<&str>, settings: &Value) -> Option<MethodLimit> {
    if !base.limited_history {
        return None;
    }
    let c = Channels::parse(cursor);
    let history_next = if c.active {
        c.current().is_some()
    } else {
        watermark::channels(base.platform, settings).is_ok_and(|ch| !ch.is_empty())
    };
    history_next.then_some(LIMITED_HISTORY)
}

/// The type of a Slack `error` code.
pub fn error_type(code: &str) -> ErrorType {
    match code {
        "invalid_auth"
        | "not_authed"
        | "invalid_client_id"
        | "bad_client_secret"
        | "invalid_grant"
        | "invalid_refresh_token" => ErrorType::AuthInvalid,
        "token_revoked" | "account_inactive" | "app_uninstalled" | "team_disabled"
        | "org_login_required" => ErrorType::AuthRevoked,
        "token_expired" => ErrorType::AuthExpired,
        "missing_scope" | "no_permission" | "not_allowed_token_type" | "ekm_access_denied" => {
            ErrorType::InsufficientScope
        }
        "ratelimited" | "rate_limited" => ErrorType::RateLimited,
        "channel_not_found" | "not_in_channel" | "user_not_found" => ErrorType::NotFound,
        "invalid_cursor" | "invalid_arguments" | "invalid_arg_name" | "missing_argument" => {
            ErrorType::BadRequest
        }
        "service_unavailable" | "fatal_error" | "internal_error" | "request_timeout" => {
            ErrorType::ServerError
        }
        _ => ErrorType::InvalidResponse,
    }
}

pub fn classify(base: &Base, resp: &RawResponse) -> ConnectorError {
    let body = resp.json().unwrap_or(Value::Null);
    let code = body.get("error").and_then(Value::as_str);
    let p = base.platform;
    match code {
        Some(c) if resp.is_success() || error_type(c) != ErrorType::InvalidResponse => {
            let mut t = error_type(c);
            if resp.status == 429 {
                t = ErrorType::RateLimited;
            } else if resp.status >= 500 {
                t = http::error_type_for_status(resp.status);
            }
            http::coded(p, t, resp, c).with_retry_after(resp.header_retry_after())
        }
        _ => http::classify_status(p, resp, code),
    }
}

/// Slack: `conversations.history` of each channel in `settings.channels` (none: the public
/// channels `conversations.list` names that the app is a member of), newest first with `response_metadata.next_cursor`,
/// from `oldest` = the channel's newest `ts` seen (exclusive). External ids are
/// `<channel>:<ts>` (a `ts` is unique within its channel only).
pub(super) async fn page(base: &Base, req: PageRequest<'_>) -> Result<Page, ConnectorError> {
    let PageRequest {
        creds,
        cursor,
        settings,
        ..
    } = req;
    let (configured, mut c) = channels_from(base, settings, cursor)?;
    let not_ok = |v: &Value| v.get("ok").and_then(Value::as_bool) != Some(true);
    if !c.active {
        c.start(&configured, true);
    }
    let Some(channel) = c.current().map(String::from) else {
        // No channel left in hand: the next page of public channels, if any.
        if let Some(from) = c.discover.take() {
            let mut q = vec![
                ("types", "public_channel".to_string()),
                ("exclude_archived", "true".to_string()),
                ("limit", "200".to_string()),
            ];
            if !from.is_empty() {
                q.push(("cursor", from));
            }
            let v = call(
                classify,
                base,
                query(base, "/api/conversations.list", creds, &q),
                not_ok,
            )
            .await?;
            c.queue = v
                .get("channels")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                // A bot reads only the channels it is a member of.
                .filter(|ch| ch.get("is_member").and_then(Value::as_bool) != Some(false))
                .filter_map(|ch| text(ch, "/id"))
                .filter(|id| id.bytes().all(|b| b.is_ascii_alphanumeric()))
                .collect();
            c.discover = text(&v, "/response_metadata/next_cursor");
        }
        return Ok(c.page(vec![], &configured));
    };
    let limit = if base.limited_history {
        LIMITED_PAGE
    } else {
        PAGE_SIZE
    };
    let mut q = vec![("channel", channel.clone()), ("limit", limit.to_string())];
    if let Some(m) = c.mark() {
        q.push(("oldest", m.to_string()));
    }
    if let Some(p) = &c.page {
        q.push(("cursor", p.clone()));
    }
    let v = call(
        classify,
        base,
        query(base, "/api/conversations.history", creds, &q),
        not_ok,
    )
    .await?;
    let mut items = items(&v, "/messages", "message", "/ts", Some("/ts"));
    for it in &mut items {
        c.see(Some(it.external_id.clone()), watermark::ts_newer);
        it.external_id = format!("{channel}:{}", it.external_id);
    }
    match text(&v, "/response_metadata/next_cursor") {
        Some(next) => c.page = Some(next),
        None => c.channel_done(watermark::ts_newer),
    }
    Ok(c.page(items, &configured))
}

/// What a Slack event means: `tokens_revoked` and `app_uninstalled` withdraw our access
/// (https://api.slack.com/events/tokens_revoked, https://api.slack.com/events/app_uninstalled).
pub fn event_meaning(event_type: Option<&str>, _payload: &Value) -> Meaning {
    match event_type {
        Some("tokens_revoked") => Meaning::Revoked("slack: tokens revoked"),
        Some("app_uninstalled") => Meaning::Revoked("slack: app uninstalled"),
        _ => Meaning::Changed,
    }
}

/// Slack: its connector; the Events API, one Request URL for every workspace of the app signed
/// with the app's signing secret (`v0` HMAC with `X-Slack-Request-Timestamp`); the channels a
/// workspace syncs (`settings.channels`); and the workspace's web address, which `auth.test`
/// names (`url`, https://docs.slack.dev/reference/methods/auth.test) and message links need.
pub const SPEC: Spec = Spec {
    webhooks: Some(Webhooks {
        read: read_event,
        meaning: event_meaning,
        deletion_event_types: &["message", "channel_deleted"],
        deletions,
        items: event_items,
        ..Webhooks::signed(Scheme::V0Hmac {
            signature: "x-slack-signature",
            timestamp: "x-slack-request-timestamp",
        })
    }),
    accounts: Accounts {
        app_level: true,
        from_token_answer: token_account,
        from_event: event_accounts,
        case_insensitive: false,
    },
    channels: Some(spec::ChannelIds::Alphanumeric),
    web_base_from_identity: true,
    ..Spec::new(
        defaults,
        |b| Arc::new(Slack(b)),
        |raw, _, ctx| crate::items::slack::model(raw, ctx),
    )
};

/// `url_verification` is answered with its challenge as `text/plain`; an event is keyed by its
/// `event_id`, its type is `event.type` (or the envelope's `type`).
fn read_event(payload: &Value, _secret: Option<&[u8]>) -> Result<Read, Refusal> {
    if str_of(payload, "/type") == Some("url_verification") {
        let challenge = str_of(payload, "/challenge").ok_or(Refusal::Malformed)?;
        return Ok(Read::Answer(Handshake {
            status: ::http::StatusCode::OK,
            content_type: "text/plain",
            body: challenge.to_string(),
        }));
    }
    Ok(Read::Event {
        id: http::json_id(payload, "/event_id"),
        event_type: first_str(payload, &["/event/type", "/type"]),
    })
}

/// A deleted message (`message` with subtype `message_deleted`: its `<channel>:<deleted_ts>`)
/// and a deleted channel (every item of it, by the prefix `<channel>:`).
fn deletions(event_type: Option<&str>, payload: &Value) -> Vec<Deletion> {
    match event_type {
        Some("message") if str_of(payload, "/event/subtype") == Some("message_deleted") => {
            // The Slack connector's ids are `<channel>:<ts>`.
            let item = event_channel(payload).zip(str_at(payload, "/event/deleted_ts"));
            one(
                item.map(|(c, ts)| Gone::Item(format!("{c}:{ts}"))),
                "slack: message deleted",
            )
        }
        Some("channel_deleted") => one(
            event_channel(payload).map(|c| Gone::Prefix(format!("{c}:"))),
            "slack: channel deleted",
        ),
        _ => Vec::new(),
    }
}

/// `event.channel`, when it is a channel id as the Slack connector keeps them (ASCII letters
/// and digits): never an empty or odd prefix.
fn event_channel(payload: &Value) -> Option<String> {
    str_at(payload, "/event/channel").filter(|c| is_channel_id(c))
}

/// The `message` subtypes that are a new message as a person reads it
/// (https://docs.slack.dev/reference/events/message#subtypes); edits, deletions and channel
/// notices are not items of their own.
const NEW_MESSAGE_SUBTYPES: [&str; 4] = [
    "thread_broadcast",
    "file_share",
    "bot_message",
    "me_message",
];

/// Fields of a `message` event that a `conversations.history` message does not carry
/// (https://docs.slack.dev/reference/events/message): removed so that the item is the same
/// whether an event or the listing brought it.
const EVENT_ONLY: [&str; 3] = ["channel", "event_ts", "channel_type"];

/// The item a `message` event carries whole: Slack allows commercially distributed apps outside
/// its Marketplace one `conversations.history` request a minute, so new messages come from the
/// events and the history listing is the backfill.
fn event_items(payload: &Value) -> Vec<SyncItem> {
    new_message(payload).into_iter().collect()
}

/// A Slack `event_callback` whose event is a new message in a channel: the message, with the
/// external id `<channel>:<ts>` that the history listing gives it.
fn new_message(payload: &Value) -> Option<SyncItem> {
    let event = payload.get("event")?;
    if event.get("type").and_then(Value::as_str) != Some("message") {
        return None;
    }
    if let Some(sub) = event.get("subtype") {
        let sub = sub.as_str()?;
        if !NEW_MESSAGE_SUBTYPES.contains(&sub) {
            return None;
        }
    }
    let channel = event.get("channel").and_then(Value::as_str)?;
    if !is_channel_id(channel) {
        return None;
    }
    let mut message = event.clone();
    if let Some(m) = message.as_object_mut() {
        for k in EVENT_ONLY {
            m.remove(k);
        }
    }
    let mut it = item(&message, "message", "/ts", Some("/ts"))?;
    it.external_id = format!("{channel}:{}", it.external_id);
    Some(it)
}

/// The token answer's `team.id` (an org-wide Enterprise Grid install has no team:
/// `enterprise.id`).
fn token_account(answer: &Value) -> Option<String> {
    http::json_id(answer, "/team/id").or_else(|| http::json_id(answer, "/enterprise/id"))
}

/// The installation the event is delivered for (`installation`); without `authorizations` (an
/// older envelope), where the event occurred.
fn event_accounts(payload: &Value) -> Vec<String> {
    match installation(payload) {
        Some(installation) => installation.into_iter().collect(),
        None => ids_at(payload, &["/team_id", "/enterprise_id"]),
    }
}

/// The Slack installation an Events API envelope is delivered for: `authorizations[0]`, its
/// `enterprise_id` for an org-wide install (`is_enterprise_install: true`, connected to the
/// enterprise), else its `team_id` — as Slack's own Bolt reads it. The outer `team_id` is the
/// workspace where the event occurred, which in a Slack Connect channel shared by two
/// organisations may be the other one. `None` when the envelope has no `authorizations` (or an
/// empty list); `Some(None)` when the installation names no account (unroutable, never the
/// outer fields).
fn installation(payload: &Value) -> Option<Option<String>> {
    let first = payload.get("authorizations")?.as_array()?.first()?;
    let enterprise = first.get("is_enterprise_install").and_then(Value::as_bool) == Some(true);
    Some(if enterprise {
        http::json_id(first, "/enterprise_id")
    } else {
        http::json_id(first, "/team_id")
    })
}

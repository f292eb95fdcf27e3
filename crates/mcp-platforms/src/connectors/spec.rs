//! What the crate knows of one platform, gathered in one value: each platform's module declares
//! its `SPEC`, and the registry (`platforms!` in `connectors/mod.rs`) lists them, one line per
//! platform. The code that serves every platform (the connectors' registry, the webhook intake,
//! the accounts, the channel settings) reads a platform's spec instead of naming platforms.
//! Optional capabilities have defaults (`Spec::new`, `Webhooks::signed`, `Accounts::NONE`): a
//! platform writes only what it has. Plain data and function pointers, readable in `const`.

use std::sync::Arc;

use serde_json::Value;

use super::base::{Base, Defaults};
use super::event::{Deletion, Read, Refusal};
use super::meaning::Meaning;
use super::page::SyncItem;
use super::Connector;
use crate::items::{Context, Model};

/// One platform.
pub struct Spec {
    /// Its built-in defaults (API base, identity path, rate, OAuth), before
    /// `[platforms.<name>]`.
    pub defaults: fn() -> Defaults,
    /// Its connector, over the effective settings.
    pub connector: fn(Base) -> Arc<dyn Connector>,
    /// The model of one of its synced records (`connectors::model`): `raw` as listed, `content`
    /// as its content call answered (when fetched), the integration's `Context`.
    pub model: fn(&Value, Option<&Value>, &Context) -> Model,
    /// Its webhooks; `None` when it delivers none.
    pub webhooks: Option<Webhooks>,
    /// The accounts its grants and events name.
    pub accounts: Accounts,
    /// The form of the channel ids its `settings.channels` hold, where it syncs the channels
    /// named there (`watermark::channels`).
    pub channels: Option<ChannelIds>,
    /// Why it cannot sync before the account its integration is connected to is known, where
    /// it reads only that account (Discord: the guild the bot was installed in).
    pub account_required: Option<&'static str>,
    /// Whether its records' links need the workspace's web address and its identity call names
    /// it (`connectors::WEB_BASE_FROM_IDENTITY`).
    pub web_base_from_identity: bool,
}

/// How a platform signs its deliveries: which of the shared schemes (`crate::webhooks`), with
/// which parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `v0=hex(HMAC(secret, "v0:" + ts + ":" + body))` in header `signature`, the time in
    /// header `timestamp`, within the replay window.
    V0Hmac {
        signature: &'static str,
        timestamp: &'static str,
    },
    /// HMAC-SHA256 of the body, hex, in `header`; `None`: in the header the webhook's config
    /// names (`webhooks::Keys::signature_header`).
    BodyHmac { header: Option<&'static str> },
    /// Twilio's `X-Twilio-Signature` over the URL and the form parameters.
    Twilio,
    /// Ed25519 over timestamp and body with the application's public key.
    Ed25519,
    /// A `clientState` in each notification that equals the subscription's secret; the stored
    /// payload is redacted and keyed by its notifications (`webhooks::client_state`).
    ClientState,
    /// Google's OIDC token on the Pub/Sub push.
    GmailJwt,
    /// Monday's JWT signed with the app's signing secret.
    MondayJwt,
}

/// What a platform's webhooks are.
pub struct Webhooks {
    pub scheme: Scheme,
    /// Its deliveries carry no signed time, so a captured one verifies forever
    /// (`webhooks::UNTIMED`).
    pub untimed: bool,
    /// Its bodies are form fields (`application/x-www-form-urlencoded`), not JSON.
    pub form_body: bool,
    /// What a verified body is: a handshake or an event (its id and type). `secret` is the
    /// webhook's (a handshake reply may be keyed by it). Default: the event's `event_id` or
    /// `id`, its `type` or `event`.
    pub read: fn(&Value, Option<&[u8]>) -> Result<Read, Refusal>,
    /// What an event means for its integration, from its type and, where `meaning_reads_payload`,
    /// its payload. Default: a change.
    pub meaning: fn(Option<&str>, &Value) -> Meaning,
    pub meaning_reads_payload: bool,
    /// The event types whose payload can report a deletion.
    pub deletion_event_types: &'static [&'static str],
    /// The deletions an event reports. Default: none.
    pub deletions: fn(Option<&str>, &Value) -> Vec<Deletion>,
    /// The items an event carries whole. Default: none.
    pub items: fn(&Value) -> Vec<SyncItem>,
    /// A handshake the URL's query alone asks for, as the text to echo. Default: none.
    pub url_handshake: fn(&str) -> Option<String>,
    /// Whether an event is acknowledged with 204 and no body. Default: no (200 JSON).
    pub empty_ack: fn(&Value) -> bool,
}

/// The accounts a platform's grants and events name (`crate::accounts`).
pub struct Accounts {
    /// Every customer's events come to one URL of the app, signed with the app's secret.
    pub app_level: bool,
    /// The account in an OAuth token answer. Default: none.
    pub from_token_answer: fn(&Value) -> Option<String>,
    /// The accounts a verified event names, most specific first. Default: none.
    pub from_event: fn(&Value) -> Vec<String>,
    /// Its account names compare without case (stored in lower case).
    pub case_insensitive: bool,
}

/// The form of a platform's channel ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelIds {
    /// ASCII letters and digits (Slack).
    Alphanumeric,
    /// Digits, given as strings or numbers (Discord snowflakes).
    Snowflake,
}

impl Spec {
    /// A platform of these defaults and connector with nothing optional: no webhooks, no
    /// account named in its grants or events, no channels, no web address.
    pub const fn new(
        defaults: fn() -> Defaults,
        connector: fn(Base) -> Arc<dyn Connector>,
        model: fn(&Value, Option<&Value>, &Context) -> Model,
    ) -> Spec {
        Spec {
            defaults,
            connector,
            model,
            webhooks: None,
            accounts: Accounts::NONE,
            channels: None,
            account_required: None,
            web_base_from_identity: false,
        }
    }

    /// Whether it delivers webhooks.
    pub const fn has_webhooks(&self) -> bool {
        self.webhooks.is_some()
    }

    /// Whether its deliveries carry no signed time.
    pub const fn untimed(&self) -> bool {
        match &self.webhooks {
            Some(w) => w.untimed,
            None => false,
        }
    }

    /// Whether its events' meaning is read from their payload.
    pub const fn meaning_reads_payload(&self) -> bool {
        match &self.webhooks {
            Some(w) => w.meaning_reads_payload,
            None => false,
        }
    }

    /// The event types whose payload can report a deletion.
    pub const fn deletion_event_types(&self) -> &'static [&'static str] {
        match &self.webhooks {
            Some(w) => w.deletion_event_types,
            None => &[],
        }
    }
}

impl Webhooks {
    /// Webhooks signed by `scheme` with nothing else particular; every other field is to be
    /// set where the platform has it.
    pub const fn signed(scheme: Scheme) -> Webhooks {
        Webhooks {
            scheme,
            untimed: false,
            form_body: false,
            read: read_generic,
            meaning: changed,
            meaning_reads_payload: false,
            deletion_event_types: &[],
            deletions: no_deletions,
            items: no_items,
            url_handshake: no_url_handshake,
            empty_ack: no_empty_ack,
        }
    }
}

impl Accounts {
    /// Routed by nothing but its integration's own webhook URL.
    pub const NONE: Accounts = Accounts {
        app_level: false,
        from_token_answer: no_token_account,
        from_event: no_event_accounts,
        case_insensitive: false,
    };
}

/// The default reading of an event: its `event_id` or `id`, its `type` or `event`.
pub fn read_generic(payload: &Value, _secret: Option<&[u8]>) -> Result<Read, Refusal> {
    use super::event::first_str;
    use super::http::json_id;
    Ok(Read::Event {
        id: json_id(payload, "/event_id").or_else(|| json_id(payload, "/id")),
        event_type: first_str(payload, &["/type", "/event"]),
    })
}

fn changed(_event_type: Option<&str>, _payload: &Value) -> Meaning {
    Meaning::Changed
}

fn no_deletions(_event_type: Option<&str>, _payload: &Value) -> Vec<Deletion> {
    Vec::new()
}

fn no_items(_payload: &Value) -> Vec<SyncItem> {
    Vec::new()
}

fn no_url_handshake(_query: &str) -> Option<String> {
    None
}

fn no_empty_ack(_payload: &Value) -> bool {
    false
}

fn no_token_account(_answer: &Value) -> Option<String> {
    None
}

fn no_event_accounts(_payload: &Value) -> Vec<String> {
    Vec::new()
}

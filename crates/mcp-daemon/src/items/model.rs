//! The model's columns of a stored item, computed by `mcp_platforms::connectors::model` from its
//! listing record (and its content, once fetched), with the daemon's rules on top: the text cut
//! to `[items] max_text_bytes`, a platform that keeps no text (`[items.<platform>] text =
//! false`), and whether the item still needs its content call. Pure: no database, no HTTP.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::config::ItemsConfig;
use crate::integrations::Integration;
use mcp_platforms::connectors::{Connectors, Platform, SyncItem};
use mcp_platforms::items::{self as model, Context};

/// `mcp.synced_items.content_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentState {
    /// Modelled from the listing alone: the platform's listing is whole, or its content call
    /// failed for good (recorded in `mcp.integration_errors`).
    Listed,
    /// Its content call is still to be made (the sync's content step).
    Pending,
    /// Modelled with the content the platform's content call returned.
    Fetched,
    /// Its platform keeps no text (`[items.<platform>] text = false`).
    Withheld,
}

impl ContentState {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentState::Listed => "listed",
            ContentState::Pending => "pending",
            ContentState::Fetched => "fetched",
            ContentState::Withheld => "withheld",
        }
    }

    pub fn parse(s: &str) -> Option<ContentState> {
        [
            ContentState::Listed,
            ContentState::Pending,
            ContentState::Fetched,
            ContentState::Withheld,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// The model's columns of one item, ready to bind.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    pub kind: &'static str,
    pub title: Option<String>,
    pub text: Option<String>,
    pub text_truncated: bool,
    pub author: Option<Value>,
    /// A JSON array (empty when nobody is named).
    pub participants: Value,
    pub occurred_at: Option<DateTime<Utc>>,
    pub url: Option<String>,
    pub thread: Option<String>,
    pub content_state: ContentState,
    /// The content to store (`None` also when the platform keeps no text).
    pub content: Option<Value>,
}

/// What an item is modelled from.
pub struct Source<'a> {
    pub platform: Platform,
    /// The integration's account and web address (`Context`).
    pub account: Option<&'a str>,
    pub web_base: Option<&'a str>,
    pub external_id: &'a str,
    pub raw: &'a Value,
    /// The content call's answer, when it was made (`Some(Value::Null)`: made, nothing more).
    pub content: Option<&'a Value>,
    /// The listing's own time, for a model that names none.
    pub listed_at: Option<DateTime<Utc>>,
}

/// Models items for the writers: the connectors (whether a record needs its content call) and
/// `[items]`. Cheap to clone.
#[derive(Clone)]
pub struct Modeller {
    connectors: Arc<Connectors>,
    config: Arc<ItemsConfig>,
}

impl Modeller {
    pub fn new(connectors: Arc<Connectors>, config: ItemsConfig) -> Modeller {
        Modeller {
            connectors,
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &ItemsConfig {
        &self.config
    }

    /// Whether a listed record of `p` waits for its content call: the connector says its
    /// listing lacks it, and the platform keeps text and makes content calls.
    pub fn needs_content(&self, p: Platform, raw: &Value) -> bool {
        self.config.fetches_content(p) && self.connectors.get(p).needs_content(raw)
    }

    /// An item as a listing (or an event) gave it: pending when its content call is still to
    /// be made. A stored item whose listing changed is modelled again this way (its old
    /// content goes; the content step fetches the new one).
    pub fn listed(&self, integration: &Integration, item: &SyncItem) -> ModelRow {
        self.row(
            &Source {
                platform: integration.platform,
                account: integration.external_account_id.as_deref(),
                web_base: integration.web_base.as_deref(),
                external_id: &item.external_id,
                raw: &item.raw,
                content: None,
                listed_at: item.occurred_at,
            },
            false,
        )
    }

    /// An item modelled from what is stored or was just fetched: `fetched` when its content
    /// call has been made (whatever it answered), else as `listed`.
    pub fn row(&self, src: &Source<'_>, fetched: bool) -> ModelRow {
        let keep = self.config.keeps_text(src.platform);
        let ctx = Context {
            account: src.account.map(str::to_string),
            web_base: src.web_base.map(str::to_string),
            external_id: Some(src.external_id.to_string()),
        };
        let content = if keep {
            src.content.filter(|c| !c.is_null())
        } else {
            None
        };
        let m = mcp_platforms::connectors::model(src.platform, src.raw, content, &ctx);
        let state = if !keep {
            ContentState::Withheld
        } else if fetched {
            ContentState::Fetched
        } else if self.needs_content(src.platform, src.raw) {
            ContentState::Pending
        } else {
            ContentState::Listed
        };
        let (text, text_truncated) = match (keep, m.text) {
            (true, Some(t)) => {
                let (t, cut) = model::clip(&t, self.config.max_text_bytes);
                (Some(t), cut)
            }
            _ => (None, false),
        };
        ModelRow {
            kind: m.kind.as_str(),
            title: m.title,
            text,
            text_truncated,
            author: m.author.and_then(|a| serde_json::to_value(a).ok()),
            participants: serde_json::to_value(&m.participants).unwrap_or(Value::Array(vec![])),
            occurred_at: m.occurred_at.or(src.listed_at),
            url: m.url,
            thread: m.thread,
            content_state: state,
            content: content.cloned(),
        }
    }
}

/// A batch of model rows as arrays for `unnest(…)` (jsonb travels as text).
#[derive(Default)]
pub struct Columns<'a> {
    pub kinds: Vec<&'static str>,
    pub titles: Vec<Option<&'a str>>,
    pub texts: Vec<Option<&'a str>>,
    pub truncated: Vec<bool>,
    pub authors: Vec<Option<String>>,
    pub participants: Vec<String>,
    pub times: Vec<Option<DateTime<Utc>>>,
    pub urls: Vec<Option<&'a str>>,
    pub threads: Vec<Option<&'a str>>,
    pub states: Vec<&'static str>,
    pub contents: Vec<Option<String>>,
}

impl<'a> Columns<'a> {
    pub fn push(&mut self, m: &'a ModelRow) {
        self.kinds.push(m.kind);
        self.titles.push(m.title.as_deref());
        self.texts.push(m.text.as_deref());
        self.truncated.push(m.text_truncated);
        self.authors.push(m.author.as_ref().map(Value::to_string));
        self.participants.push(m.participants.to_string());
        self.times.push(m.occurred_at);
        self.urls.push(m.url.as_deref());
        self.threads.push(m.thread.as_deref());
        self.states.push(m.content_state.as_str());
        self.contents.push(m.content.as_ref().map(Value::to_string));
    }
}

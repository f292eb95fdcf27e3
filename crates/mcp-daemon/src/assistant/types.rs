//! The tools' inputs and outputs: their JSON schemas are what `tools/list` shows, derived from
//! these types. Ids and times travel as strings (UUIDs, RFC 3339).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Integration {
    pub integration_id: String,
    pub platform: String,
    /// The account at the platform (its id), once connected.
    pub account: Option<String>,
    pub display_name: Option<String>,
    /// PENDING, CONNECTED, ACTIVE, DEGRADED, ERROR, EXPIRED, REVOKED, SUSPENDED.
    pub state: String,
    pub state_reason: Option<String>,
    /// unknown, healthy, degraded, unhealthy.
    pub health: String,
    pub last_health_check: Option<String>,
    /// closed, open, half_open: open means calls to the platform are paused.
    pub breaker: String,
    pub consecutive_failures: i32,
    pub last_synced_at: Option<String>,
    pub token_expires_at: Option<String>,
    /// The last error recorded, in words.
    pub last_error: Option<String>,
    /// What a person should do about it, when anything.
    pub next_step: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Integrations {
    pub integrations: Vec<Integration>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Words to find (all of them), "a phrase", -word to exclude, `or`. Empty: newest first.
    #[serde(default)]
    pub query: Option<String>,
    /// Only these platforms (gmail, outlook, slack, discord, zoom, fireflies, otter, loom,
    /// monday, notion, granola, zerodb, zerovoice).
    #[serde(default)]
    pub platforms: Option<Vec<String>>,
    /// Only these kinds (message, email, meeting, recording, transcript, task, document, note,
    /// call).
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    /// Only this integration's items.
    #[serde(default)]
    pub integration_id: Option<String>,
    /// Only items that occurred at or after this time (RFC 3339).
    #[serde(default)]
    pub since: Option<String>,
    /// Only items that occurred before this time (RFC 3339).
    #[serde(default)]
    pub until: Option<String>,
    /// At most this many hits (1-50, 20 by default).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page of the same search.
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Hit {
    pub integration_id: String,
    pub external_id: String,
    pub platform: String,
    pub kind: String,
    pub title: Option<String>,
    /// The matched words between « and », or the text's start.
    pub snippet: Option<String>,
    /// `{name, address, id}` of who wrote it, when known.
    pub author: Option<Value>,
    pub occurred_at: Option<String>,
    /// Where a person opens it at the platform.
    pub url: Option<String>,
    /// The thread it belongs to (get_thread).
    pub thread: Option<String>,
    /// The length of its text in bytes (read it with get_item).
    pub text_bytes: Option<i32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchResult {
    pub hits: Vec<Hit>,
    /// Pass as `cursor` for the next page; absent when this is the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetItemArgs {
    pub integration_id: String,
    pub external_id: String,
    /// The first character of the text to return (0 by default): a long text comes in pages.
    #[serde(default)]
    pub offset: Option<u64>,
    /// At most this many characters of text (up to the server's result limit).
    #[serde(default)]
    pub max_chars: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Item {
    pub integration_id: String,
    pub external_id: String,
    pub platform: String,
    pub kind: String,
    pub title: Option<String>,
    pub author: Option<Value>,
    /// `[{name, address, id}]`.
    pub participants: Value,
    pub occurred_at: Option<String>,
    pub url: Option<String>,
    pub thread: Option<String>,
    /// listed, pending (its content is still to be fetched), fetched, withheld (this
    /// platform's text is not kept).
    pub content_state: String,
    /// The text was cut when stored (`[items] max_text_bytes`).
    pub text_truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ItemPage {
    pub item: Item,
    /// The text from `text_offset`, at most the page's characters.
    pub text: Option<String>,
    pub text_offset: u64,
    /// Characters in the whole text.
    pub text_chars: u64,
    /// Pass as `offset` for the rest of the text; absent at its end.
    pub next_offset: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetThreadArgs {
    pub integration_id: String,
    /// The item's `thread` (a Gmail threadId, an Outlook conversationId, a Slack thread_ts…).
    pub thread: String,
    /// The `next_cursor` of the previous page of this thread.
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ThreadMessage {
    pub external_id: String,
    pub kind: String,
    pub title: Option<String>,
    /// Its whole text; absent when it alone exceeds the result limit (`text_chars` says how
    /// long it is: read it with get_item).
    pub text: Option<String>,
    pub text_chars: u64,
    pub author: Option<Value>,
    pub occurred_at: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Thread {
    pub integration_id: String,
    pub thread: String,
    /// Oldest first.
    pub messages: Vec<ThreadMessage>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetChangesArgs {
    /// The `next_cursor` of the previous call; absent: from the oldest change kept.
    #[serde(default)]
    pub cursor: Option<String>,
    /// At most this many changes (1-500, 100 by default).
    #[serde(default)]
    pub max_rows: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Change {
    /// A added, U updated, D deleted.
    pub op: String,
    pub integration_id: String,
    pub external_id: String,
    pub platform: String,
    pub kind: Option<String>,
    pub title: Option<String>,
    /// The text's first 200 characters.
    pub preview: Option<String>,
    pub occurred_at: Option<String>,
    pub changed_at: String,
    pub url: Option<String>,
    pub thread: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Changes {
    pub changes: Vec<Change>,
    /// Pass as `cursor` next time (also when no change came: it keeps the place).
    pub next_cursor: Option<String>,
    /// More changes are waiting now.
    pub more: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestSyncArgs {
    pub integration_id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SyncRequested {
    pub job_id: i64,
    /// A sync of this integration was already waiting or running: this is that job.
    pub coalesced: bool,
}

//! Discord as its bot sees it (`Authorization: Bot <token>`): the text channels of the guilds
//! the bot was installed in, and their messages. A person's bearer token is refused here, as
//! Discord refuses it (https://discord.com/developers/docs/reference#authentication), and a
//! channel of a guild without the bot is `Missing Access`. Test double only.

use axum::response::Response;
use serde_json::{json, Value};

use super::{num, ok, page, total};
use crate::forms::json_response;
use crate::req::{account_id, Req};
use crate::state::State;
use mcp_platforms::connectors::Platform;

/// The sandbox app's bot token (a test value, never a real one).
pub const DISCORD_BOT_TOKEN: &str = "sandbox-discord-bot-token";

/// Message ids: `BASE + k·STRIDE + i` for the `i`-th oldest message of a guild's `k`-th
/// channel (snowflakes are unique across channels, and grow with time within one).
const BASE: u64 = 1_100_000_000_000_000_000;
const STRIDE: u64 = 1_000_000_000;

/// Each guild's channels: two text channels and a voice channel, ids after the guild's.
const CHANNELS: [(u64, u64, &str); 3] = [(1, 0, "general"), (2, 0, "random"), (3, 2, "voice")];

pub fn discord_bot_path(path: &str) -> bool {
    path.starts_with("/api/v10/guilds/") || path.starts_with("/api/v10/channels/")
}

fn channel_id(guild: &str, k: u64) -> Option<String> {
    guild.parse::<u64>().ok().map(|g| (g + k).to_string())
}

fn error(status: u16, message: &str, code: u64) -> Response {
    json_response(status, json!({"message": message, "code": code}), &[])
}

/// The guild (and the login that installed the bot there) a channel belongs to.
/// (the login that installed the bot there, the channel's index and type).
fn guild_of(st: &State, channel: &str) -> Option<(String, u64, u64)> {
    st.installs.bot_guilds().into_iter().find_map(|(g, login)| {
        CHANNELS
            .iter()
            .find(|(k, ..)| channel_id(&g, *k).as_deref() == Some(channel))
            .map(|(k, t, _)| (login.clone(), *k, *t))
    })
}

pub fn discord_bot(st: &State, r: &Req) -> Response {
    let auth = r
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bot {DISCORD_BOT_TOKEN}") {
        return error(401, "401: Unauthorized", 0);
    }
    let parts: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", "v10", "guilds", guild, "channels"] => {
            if st.installs.bot_guild(guild).is_none() {
                return error(403, "Missing Access", 50001);
            }
            let list: Vec<Value> = CHANNELS
                .iter()
                .filter_map(|(k, t, name)| {
                    channel_id(guild, *k).map(|id| {
                        json!({"id": id, "type": t, "guild_id": guild, "name": name,
                            "position": k, "permission_overwrites": []})
                    })
                })
                .collect();
            ok(Value::Array(list))
        }
        ["api", "v10", "channels", channel, "messages"] => {
            let Some((login, k, kind)) = guild_of(st, channel) else {
                return error(404, "Unknown Channel", 10003);
            };
            if kind != 0 {
                return ok(json!([]));
            }
            messages(st, r, &login, BASE + k * STRIDE)
        }
        _ => error(404, "404: Not Found", 0),
    }
}

/// The channel's messages `after` a snowflake, at most `limit` (1–100, default 50), newest
/// first (https://discord.com/developers/docs/resources/message#get-channel-messages).
fn messages(st: &State, r: &Req, login: &str, first: u64) -> Response {
    let n = total(st);
    let author = account_id(Platform::Discord, login);
    let rm = st.removed(Platform::Discord, login);
    let after = num(r.q("after"), 0);
    let off = if after >= first {
        (after - first + 1).min(n)
    } else {
        0
    };
    let limit = num(r.q("limit"), 50).clamp(1, 100);
    let mut items: Vec<u64> = match rm.as_deref() {
        None => page(off, limit, n).0.collect(),
        Some(rm) => (off..n)
            .filter(|&i| rm.keeps(i))
            .take(limit as usize)
            .collect(),
    };
    items.reverse();
    st.count_served(r.platform, items.len() as u64);
    ok(Value::Array(
        items
            .into_iter()
            .map(|i| {
                json!({"id": (first + i).to_string(), "type": 0,
                    "content": format!("message {i}"), "author": {"id": author},
                    "timestamp": super::rfc3339(super::TS0 + i)})
            })
            .collect(),
    ))
}

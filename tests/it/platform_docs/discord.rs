//! Discord, from discord/discord-api-docs: the identity call, a bot install's listing of its
//! guild's text channels and their messages, read with the bot's token.

use mcp_platforms::connectors::{Credentials, ErrorType, Platform};
use mcp_platforms::secret::Secret;
use serde_json::json;

use super::{json, DocServer};

/// https://discord.com/developers/docs/resources/user#user-object-example-user
const USER: &str = r#"{
  "id": "80351110224678912",
  "username": "Nelly",
  "global_name": null,
  "discriminator": "1337",
  "avatar": "8342729096ea3675442027381ff50dfe",
  "verified": true,
  "email": "nelly@discord.com",
  "flags": 64,
  "banner": "06c16474723fe537c283b8efa61a30c8",
  "accent_color": 16711680,
  "premium_type": 0,
  "public_flags": 64
}"#;

/// https://discord.com/developers/docs/resources/channel#channel-object-example-guild-text-channel
/// and #channel-object-example-guild-voice-channel, as Get Guild Channels lists them
/// (https://discord.com/developers/docs/resources/guild#get-guild-channels).
const CHANNELS: &str = r#"[{
  "id": "41771983423143937",
  "guild_id": "41771983423143937",
  "name": "general",
  "type": 0,
  "position": 6,
  "permission_overwrites": [],
  "rate_limit_per_user": 2,
  "nsfw": true,
  "topic": "24/7 chat about how to gank Mike #2",
  "last_message_id": "155117677105512449",
  "parent_id": "399942396007890945",
  "default_auto_archive_duration": 60
}, {
  "id": "155101607195836416",
  "last_message_id": "174629835082649376",
  "type": 2,
  "name": "ROCKET CHEESE",
  "position": 5,
  "parent_id": null,
  "bitrate": 64000,
  "user_limit": 0,
  "rtc_region": null,
  "guild_id": "41771983423143937",
  "permission_overwrites": [],
  "rate_limit_per_user": 0,
  "nsfw": false
}]"#;

/// https://discord.com/developers/docs/resources/message#message-object-example-message, as
/// Get Channel Messages returns it (a list).
const MESSAGES: &str = concat!(
    "[",
    include_str!("../../../crates/mcp-platforms/fixtures/discord-message.json"),
    "]"
);

const GUILD: &str = "41771983423143937";

fn bearer() -> Credentials {
    Credentials::Bearer(Secret::new("user-access-token"))
}

#[tokio::test]
async fn the_identity_is_the_users_id() {
    let server = DocServer::start(vec![json("GET", "/api/v10/users/@me", USER)]).await;
    let c = server.connectors(Platform::Discord, |_| {});
    let id = c
        .get(Platform::Discord)
        .health_check(&bearer())
        .await
        .expect("identity");
    assert_eq!(id.account_id.as_deref(), Some("80351110224678912"));
    assert_eq!(
        id.account, None,
        "the guild comes from the bot install's token answer"
    );
    let seen = server.seen();
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer user-access-token")
    );
}

/// The bot reads its guild's text channels (not the voice channel) with `Authorization: Bot`,
/// `after` the channel's watermark, at most 100 a page; messages come newest first.
#[tokio::test]
async fn the_bot_lists_its_guilds_text_channels_and_their_messages() {
    let server = DocServer::start(vec![
        json(
            "GET",
            "/api/v10/guilds/41771983423143937/channels",
            CHANNELS,
        ),
        json(
            "GET",
            "/api/v10/channels/41771983423143937/messages",
            MESSAGES,
        ),
    ])
    .await;
    let c = server.connectors(Platform::Discord, |o| {
        o.bot_token = Some(Secret::new("doc-bot-token"));
    });
    let page = c
        .get(Platform::Discord)
        .list_page(&bearer(), None, &json!({}), Some(GUILD))
        .await
        .expect("page");
    assert!(page.done, "a short page ends the only text channel");
    let ids: Vec<&str> = page.items.iter().map(|i| i.external_id.as_str()).collect();
    assert_eq!(ids, ["334385199974967042"]);
    assert_eq!(
        page.items[0].occurred_at.map(|t| t.to_rfc3339()),
        Some("2017-07-11T17:27:07.299+00:00".into())
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for s in &seen {
        assert_eq!(
            s.header("authorization"),
            Some("Bot doc-bot-token"),
            "{}",
            s.path
        );
    }
    assert_eq!(seen[1].q("after"), Some("0"));
    assert_eq!(seen[1].q("limit"), Some("100"));
}

/// A configured channel that is not one of the guild's text channels is refused before any
/// message is read; without the bot token nothing is called.
#[tokio::test]
async fn a_channel_of_another_guild_is_refused_and_a_missing_bot_token_calls_nothing() {
    let server = DocServer::start(vec![json(
        "GET",
        "/api/v10/guilds/41771983423143937/channels",
        CHANNELS,
    )])
    .await;
    let c = server.connectors(Platform::Discord, |o| {
        o.bot_token = Some(Secret::new("doc-bot-token"));
    });
    let e = c
        .get(Platform::Discord)
        .list_page(
            &bearer(),
            None,
            &json!({"channels": ["155101607195836416"]}),
            Some(GUILD),
        )
        .await
        .expect_err("a voice channel is not a text channel");
    assert_eq!(e.error_type, ErrorType::BadRequest);
    assert_eq!(
        server.seen().len(),
        1,
        "only the guild's channels were read"
    );
    let without = server.connectors(Platform::Discord, |_| {});
    let e = without
        .get(Platform::Discord)
        .list_page(&bearer(), None, &json!({}), Some(GUILD))
        .await
        .expect_err("no bot token");
    assert!(e.message.contains("bot_token"), "{e}");
    assert_eq!(server.seen().len(), 1);
}

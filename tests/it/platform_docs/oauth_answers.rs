//! Token endpoint answers as the platforms document them, read by the code exchange: the
//! tokens, their lifetime and scopes, and the account the grant is for (what routes the
//! app-level webhook deliveries).

use std::time::Duration;

use mcp_platforms::connectors::Platform;
use mcp_platforms::secret::Secret;

use super::{json, DocServer};

async fn exchange(p: Platform, answer: &str) -> mcp_platforms::oauth::TokenSet {
    let server = DocServer::start(vec![json("POST", "/oauth/token", answer)]).await;
    let c = server.connectors(p, |_| {});
    let spec = c.get(p).oauth().cloned().expect("oauth");
    mcp_platforms::oauth::exchange_code(
        c.client(),
        p,
        &spec,
        &Secret::new("code"),
        "https://gw.example/cb",
        Some(&Secret::new("verifier")),
    )
    .await
    .unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Slack's `oauth.v2.access` "success_with_token_rotation" example
/// (https://docs.slack.dev/reference/methods/oauth.v2.access): the installation's team, scopes
/// comma-separated, a 12-hour token with its refresh token.
#[tokio::test]
async fn slack_names_the_installations_team() {
    let t = exchange(
        Platform::Slack,
        r#"{
 "ok": true,
 "access_token": "xoxe.xoxb-1-..",
 "token_type": "bot",
 "scope": "commands,incoming-webhook",
 "bot_user_id": "U0KRQLJ9H",
 "app_id": "A0KRD7HC3",
 "expires_in": 43200,
 "refresh_token": "xoxe-1-...",
 "team": {"name": "Slack Softball Team", "id": "T9TK3CUKW"},
 "enterprise": {"name": "slack-sports", "id": "E12345678"},
 "authed_user": {"id": "U1234", "scope": "chat:write", "access_token": "xoxe.xoxp-1234", "expires_in": 43200, "refresh_token": "xoxe-1-...", "token_type": "user"}
}"#,
    )
    .await;
    assert_eq!(t.account.as_deref(), Some("T9TK3CUKW"));
    assert_eq!(t.access_token.expose(), "xoxe.xoxb-1-..");
    assert_eq!(t.expires_in, Some(Duration::from_secs(43_200)));
    assert_eq!(
        t.scopes.as_deref(),
        Some(&["commands".to_string(), "incoming-webhook".to_string()][..])
    );
    assert!(t.refresh_token.is_some());
}

/// Discord's "Extended Bot Authorization Access Token Example"
/// (https://discord.com/developers/docs/topics/oauth2#advanced-bot-authorization): the guild
/// the bot was added to names the account.
#[tokio::test]
async fn discord_names_the_bots_guild() {
    let t = exchange(
        Platform::Discord,
        r#"{
  "token_type": "Bearer",
  "guild": {
    "mfa_level": 0,
    "emojis": [],
    "application_id": null,
    "name": "SomeTest",
    "roles": [{"hoist": false, "name": "@everyone", "mentionable": false, "color": 0,
      "position": 0, "id": "290926798626357250", "managed": false, "permissions": 49794241,
      "permissions_new": "49794241"}],
    "afk_timeout": 300,
    "system_channel_id": null,
    "widget_channel_id": null,
    "region": "us-east",
    "default_message_notifications": 1,
    "explicit_content_filter": 0,
    "splash": null,
    "features": [],
    "afk_channel_id": null,
    "widget_enabled": false,
    "verification_level": 0,
    "owner_id": "53908232999183680",
    "id": "2909267986347357250",
    "icon": null,
    "description": null,
    "max_members": 100000,
    "preferred_locale": "en-US"
  },
  "access_token": "zMndOe7jFLXGawdlxMOdNvXjjOce5X",
  "scope": "bot",
  "expires_in": 604800,
  "refresh_token": "mgp8qnvBwJcmadwgCYKyYD5CAzGAX4"
}"#,
    )
    .await;
    assert_eq!(t.account.as_deref(), Some("2909267986347357250"));
    assert_eq!(t.expires_in, Some(Duration::from_secs(604_800)));
}

/// Notion's create-a-token answer (https://developers.notion.com/reference/create-a-token):
/// the workspace names the account; no lifetime is given.
#[tokio::test]
async fn notion_names_the_workspace() {
    let t = exchange(
        Platform::Notion,
        r#"{
  "access_token": "<string>",
  "token_type": "<string>",
  "refresh_token": "<string>",
  "bot_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
  "workspace_icon": "<string>",
  "workspace_name": "<string>",
  "workspace_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
  "owner": {"type": "<string>", "user": {"type": "<string>", "person": {"email": "<string>"},
    "name": "<string>", "avatar_url": "<string>", "id": "<string>", "object": "<string>"}},
  "duplicated_template_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
  "request_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a"
}"#,
    )
    .await;
    assert_eq!(
        t.account.as_deref(),
        Some("3c90c3cc-0d44-4b50-8888-8dd25736052a")
    );
    assert_eq!(t.expires_in, None);
    assert!(t.refresh_token.is_some());
}

/// The Microsoft identity platform's token answer
/// (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#successful-response-2;
/// the page's trailing comma left out): a new refresh token with each answer.
#[tokio::test]
async fn microsoft_answers_a_refresh_token_and_its_lifetime() {
    let t = exchange(
        Platform::Outlook,
        r#"{
    "access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsIng1dCI6Ik5HVEZ2ZEstZnl0aEV1Q...",
    "token_type": "Bearer",
    "expires_in": 3599,
    "scope": "https%3A%2F%2Fgraph.microsoft.com%2Fmail.read",
    "refresh_token": "AwABAAAAvPM1KaPlrEqdFSBzjqfTGAMxZGUTdM0t4B4...",
    "id_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.eyJhdWQiOiIyZDRkMTFhMi1mODE0LTQ2YTctOD..."
}"#,
    )
    .await;
    assert_eq!(t.expires_in, Some(Duration::from_secs(3599)));
    assert_eq!(
        t.refresh_token.map(|r| r.expose().to_string()).as_deref(),
        Some("AwABAAAAvPM1KaPlrEqdFSBzjqfTGAMxZGUTdM0t4B4...")
    );
    assert_eq!(t.account, None, "Outlook's account comes from /me");
}

/// A token endpoint answering 307 or 308 (which would send the request again, body and all, to
/// the address it names) is not followed: the code, verifier and client secret go nowhere else.
#[tokio::test]
async fn a_token_request_is_never_sent_on_by_a_307_or_308() {
    for status in [307, 308] {
        let elsewhere = DocServer::start(vec![json("POST", "/steal", "{}")]).await;
        let server = DocServer::start(vec![super::Answer {
            method: "POST",
            path: "/oauth/token",
            status,
            headers: vec![("location", format!("{}/steal", elsewhere.base()))],
            body: String::new(),
        }])
        .await;
        let c = server.connectors(Platform::Zoom, |_| {});
        let spec = c.get(Platform::Zoom).oauth().cloned().expect("oauth");
        let refused = mcp_platforms::oauth::refresh(
            c.client(),
            Platform::Zoom,
            &spec,
            &Secret::new("a-refresh-token"),
        )
        .await;
        assert!(refused.is_err(), "{status}");
        assert!(elsewhere.seen().is_empty(), "{status}: the request went on");
    }
}

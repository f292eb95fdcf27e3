//! Event bodies as the platforms deliver them, shaped after each platform's documented examples
//! (the address beside each builder), for tests, the demo and the bench to sign with
//! `sign_webhook`. They are built here, never from the platforms crate's event parsing, so a
//! wrong shape there is not mirrored here; they must never describe anything but test traffic.

use serde_json::{json, Value};

/// The Slack installation an event is delivered for (`authorizations[0]`).
#[derive(Debug, Clone)]
pub struct SlackInstallation {
    /// The workspace the app is installed in (`None` for an org-wide install).
    pub team_id: Option<String>,
    /// The Enterprise Grid organisation, if any.
    pub enterprise_id: Option<String>,
    /// An org-wide install (`is_enterprise_install`).
    pub enterprise_install: bool,
}

impl SlackInstallation {
    /// An install in workspace `team_id`.
    pub fn workspace(team_id: &str) -> SlackInstallation {
        SlackInstallation {
            team_id: Some(team_id.to_string()),
            enterprise_id: None,
            enterprise_install: false,
        }
    }

    /// An org-wide install in organisation `enterprise_id`.
    pub fn organisation(enterprise_id: &str) -> SlackInstallation {
        SlackInstallation {
            team_id: None,
            enterprise_id: Some(enterprise_id.to_string()),
            enterprise_install: true,
        }
    }
}

/// A Slack Events API `event_callback` envelope around `event`, occurred in workspace
/// `team_id`, delivered for `installation`: the outer fields and `authorizations` (one
/// installation, as Slack truncates it) of
/// https://docs.slack.dev/reference/objects/event-object and
/// https://docs.slack.dev/reference/methods/apps.event.authorizations.list .
pub fn slack_event(
    event_id: &str,
    team_id: &str,
    installation: &SlackInstallation,
    event: Value,
) -> Value {
    json!({
        "token": "XXYYZZ",
        "team_id": team_id,
        "api_app_id": "A0SANDBOX",
        "event": event,
        "type": "event_callback",
        "authorizations": [{
            "enterprise_id": installation.enterprise_id,
            "team_id": installation.team_id,
            "user_id": "U0SANDBOXBOT",
            "is_bot": true,
            "is_enterprise_install": installation.enterprise_install,
        }],
        "event_id": event_id,
        "event_time": 1_700_000_000,
    })
}

/// A Slack `message` event in `channel`:
/// https://docs.slack.dev/reference/events/message
pub fn slack_message(channel: &str, ts: &str, text: &str) -> Value {
    json!({"type": "message", "channel": channel, "user": "U0SANDBOX1", "text": text,
        "ts": ts, "event_ts": ts, "channel_type": "channel"})
}

/// The application id the sandbox's Discord payloads carry.
pub const DISCORD_APPLICATION_ID: &str = "1234560123453231555";

/// Discord's Webhook Events PING (`type` 0, no `event`), answered 204 with an empty body:
/// https://discord.com/developers/docs/events/webhook-events#payload-structure
pub fn discord_webhook_ping() -> Value {
    json!({"version": 1, "application_id": DISCORD_APPLICATION_ID, "type": 0})
}

/// A Discord Webhook Event (`type` 1) of `event_type` with its `data`:
/// https://discord.com/developers/docs/events/webhook-events#webhook-event-payloads
pub fn discord_webhook_event(event_type: &str, timestamp: &str, data: Value) -> Value {
    json!({
        "version": 1,
        "application_id": DISCORD_APPLICATION_ID,
        "type": 1,
        "event": {"type": event_type, "timestamp": timestamp, "data": data},
    })
}

/// An APPLICATION_AUTHORIZED event for a bot installed in guild `guild_id` (`integration_type`
/// 0, with the `guild` Discord adds then):
/// https://discord.com/developers/docs/events/webhook-events#application-authorized
pub fn discord_application_authorized(guild_id: &str, timestamp: &str) -> Value {
    discord_webhook_event(
        "APPLICATION_AUTHORIZED",
        timestamp,
        json!({
            "integration_type": 0,
            "scopes": ["applications.commands", "bot"],
            "user": {"id": "80351110224678912", "username": "Nelly", "discriminator": "1337",
                "avatar": "8342729096ea3675442027381ff50dfe"},
            "guild": {"id": guild_id, "name": "Sandbox Guild", "icon": null},
        }),
    )
}

/// A Discord interaction of `kind` (1 PING, 2 APPLICATION_COMMAND, …) with its `id` and `token`,
/// from guild `guild_id` when given:
/// https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object
pub fn discord_interaction(id: &str, kind: u8, guild_id: Option<&str>) -> Value {
    let mut v = json!({
        "id": id,
        "application_id": DISCORD_APPLICATION_ID,
        "type": kind,
        "token": format!("sandbox-interaction-token-{id}"),
        "version": 1,
    });
    if kind != 1 {
        v["data"] = json!({"id": "866818195033292850", "name": "sandbox", "type": 1});
    }
    if let Some(g) = guild_id {
        v["guild_id"] = json!(g);
    }
    v
}

/// Fireflies' legacy (V1) webhook payload: https://docs.fireflies.ai/graphql-api/webhooks
pub fn fireflies_v1(meeting_id: &str) -> Value {
    json!({"meetingId": meeting_id, "eventType": "Transcription completed",
        "clientReferenceId": "be582c46-4ac9-4565-9ba6-6ab4264496a8"})
}

/// A Fireflies Webhooks V2 payload (`meeting.transcribed`, `meeting.summarized`, …; the
/// timestamp in milliseconds): https://docs.fireflies.ai/graphql-api/webhooks-v2
pub fn fireflies_v2(event: &str, meeting_id: &str, timestamp_ms: i64) -> Value {
    json!({"event": event, "timestamp": timestamp_ms, "meeting_id": meeting_id})
}

/// A Zoom recording event (`recording.trashed`, `recording.deleted`, `recording.recovered`)
/// for the meeting instance `uuid` of account `account_id`, naming the recording files
/// `file_ids`: the fields of the Meetings webhooks' recording events
/// (https://developers.zoom.us/docs/api/meetings/events/ — `payload.operator`, `operator_id`,
/// `object` the meeting's recording with its `recording_files`).
pub fn zoom_recording_event(
    event: &str,
    account_id: &str,
    uuid: &str,
    meeting_id: i64,
    file_ids: &[&str],
) -> Value {
    let files: Vec<Value> = file_ids
        .iter()
        .map(|id| zoom_recording_file(id, uuid))
        .collect();
    zoom_event(
        event,
        account_id,
        json!({
            "uuid": uuid,
            "id": meeting_id,
            "account_id": account_id,
            "host_id": "z8yCxjabcdEFGHfp8uQ",
            "topic": "My Personal Meeting",
            "type": 4,
            "start_time": "2021-03-18T05:41:36Z",
            "duration": 20,
            "share_url": "https://example.com/rec/share/sandbox",
            "total_size": 7220 * file_ids.len(),
            "recording_count": file_ids.len(),
            "recording_files": files,
        }),
    )
}

/// A Zoom Meetings webhook event: `payload` names the account, the operator and the `object`.
fn zoom_event(event: &str, account_id: &str, object: Value) -> Value {
    json!({
        "event": event,
        "event_ts": 1_626_230_691_572_i64,
        "payload": {
            "account_id": account_id,
            "operator": "admin@example.com",
            "operator_id": "z8yCxjabcdEFGHfp8uQ",
            "object": object,
        },
    })
}

/// One of a meeting's recording files, with the fields of the List all recordings response
/// (https://developers.zoom.us/docs/api/meetings/#tag/cloud-recording/GET/users/{userId}/recordings);
/// its `meeting_id` is the meeting instance's `uuid`.
pub fn zoom_recording_file(id: &str, meeting_uuid: &str) -> Value {
    json!({"id": id, "meeting_id": meeting_uuid, "recording_start": "2021-03-18T05:41:36Z",
        "recording_end": "2021-03-18T05:41:36Z", "file_type": "MP4", "file_extension": "MP4",
        "file_size": 7220, "download_url": "https://example.com/rec/download/sandbox",
        "status": "completed", "recording_type": "shared_screen_with_speaker_view"})
}

/// Zoom's `meeting.deleted` (a meeting's schedule deleted: `payload.object` names the meeting,
/// no recording): https://developers.zoom.us/docs/api/meetings/events/
pub fn zoom_meeting_deleted(account_id: &str, uuid: &str, meeting_id: i64) -> Value {
    zoom_event(
        "meeting.deleted",
        account_id,
        json!({
            "uuid": uuid,
            "id": meeting_id,
            "host_id": "z8yCxjabcdEFGHfp8uQ",
            "topic": "My Meeting",
            "type": 2,
            "start_time": "2021-03-18T05:41:36Z",
            "duration": 60,
            "timezone": "America/Los_Angeles",
        }),
    )
}

//! Zoom. The listing stores one meeting of `GET /v2/users/me/recordings`' `meetings[]`
//! (https://developers.zoom.us/docs/api/meetings/#tag/cloud-recording/GET/users/{userId}/recordings):
//! `uuid`, `id`, `topic`, `start_time`, `host_id`, `recording_files[]` and, where Zoom
//! sends them, `host_email` and `share_url`. The content is `{"vtt": "<text>"}`: the WebVTT
//! file downloaded from the `recording_files[]` entry whose `file_type` is `TRANSCRIPT`
//! (`download_url`, with the access token), read by `text::vtt`; its speakers are the
//! participants. The link is `share_url`, else a file's `play_url`; the thread is the meeting
//! instance (`uuid`, else the meeting number `id`).

use serde_json::Value;

use super::text::{turns, vtt};
use super::{fields, Kind, Model, Person};

pub fn model(raw: &Value, content: Option<&Value>) -> Model {
    let mut m = Model::empty(Kind::Recording);
    m.title = fields::text(raw, "/topic");
    m.author = Person::new(
        None,
        fields::text(raw, "/host_email"),
        fields::text(raw, "/host_id"),
    );
    m.occurred_at = fields::time(raw, "/start_time");
    m.thread = fields::text(raw, "/uuid").or_else(|| fields::id(raw, "/id"));
    m.url = fields::text(raw, "/share_url").or_else(|| play_url(raw));
    let cues = content
        .and_then(|c| c.get("vtt"))
        .and_then(Value::as_str)
        .and_then(vtt::cue_turns);
    if let Some(cues) = cues {
        m.participants = turns::speakers(&cues)
            .into_iter()
            .filter_map(|name| Person::new(Some(name), None, None))
            .collect();
        m.text = turns::render(cues);
    }
    m
}

/// The `play_url` of the first playable file (video or audio first, any file else).
fn play_url(raw: &Value) -> Option<String> {
    let files = fields::array(raw, "/recording_files");
    let media = files
        .iter()
        .find(|f| fields::text(f, "/file_type").is_some_and(|t| t == "MP4" || t == "M4A"));
    media
        .into_iter()
        .chain(files)
        .find_map(|f| fields::text(f, "/play_url"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // https://developers.zoom.us/docs/api/meetings/#tag/cloud-recording/GET/users/{userId}/recordings:
    // one meeting of the example response (assembled from the spec's per-field examples, as
    // the portal renders it), with a TRANSCRIPT file beside the video file.
    const MEETING: &str = r#"{
        "account_id": "Cx3wERazSgup7ZWRHQM8-w",
        "duration": 20,
        "host_id": "_0ctZtY0REqWalTmwvrdIw",
        "id": 6840331990,
        "recording_count": 22,
        "start_time": "2021-03-18T05:41:36Z",
        "topic": "My Personal Meeting",
        "total_size": 22,
        "type": "1",
        "uuid": "BOKXuumlTAGXuqwr3bLyuQ==",
        "recording_play_passcode": "yNYIS408EJygs7rE5vVsJwXIz4-VW7MH",
        "recording_files": [
            {"download_url": "https://example.com/rec/download/Qg75t7xZBtEbAkjdlgbfdngBBBB",
             "file_path": "/9090876528/path01/demo.mp4", "file_size": 7220, "file_type": "MP4",
             "file_extension": "MP4", "id": "72576a1f-4e66-4a77-87c4-f13f9808bd76",
             "meeting_id": "L0AGOEPVR9m5WSOOs/d+FQ==",
             "play_url": "https://example.com/rec/play/Qg75t7xZBtEbAkjdlgbfdngBBBB",
             "recording_end": "2021-03-18T05:41:36Z", "recording_start": "2021-03-18T05:41:36Z",
             "recording_type": "shared_screen_with_speaker_view", "status": "completed"},
            {"download_url": "https://example.com/rec/download/Tr75t7xZBtEbAkjdlgbfdngCCCC",
             "file_size": 1420, "file_type": "TRANSCRIPT", "file_extension": "VTT",
             "id": "a1f3c7de-2b44-4f0e-9d7e-5a0c1b2e3f40", "meeting_id": "L0AGOEPVR9m5WSOOs/d+FQ==",
             "recording_end": "2021-03-18T05:41:36Z", "recording_start": "2021-03-18T05:41:36Z",
             "recording_type": "audio_transcript", "status": "completed"}
        ]
    }"#;

    const TRANSCRIPT: &str = include_str!("fixtures/zoom_transcript.vtt");

    #[test]
    fn the_listing_alone_gives_topic_time_host_and_a_play_link() {
        let raw: Value = serde_json::from_str(MEETING).expect("fixture");
        let m = model(&raw, None);
        assert_eq!(m.kind, Kind::Recording);
        assert_eq!(m.title.as_deref(), Some("My Personal Meeting"));
        assert_eq!(
            m.author.and_then(|p| p.id).as_deref(),
            Some("_0ctZtY0REqWalTmwvrdIw")
        );
        assert_eq!(
            m.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2021-03-18T05:41:36+00:00")
        );
        assert_eq!(m.thread.as_deref(), Some("BOKXuumlTAGXuqwr3bLyuQ=="));
        assert_eq!(
            m.url.as_deref(),
            Some("https://example.com/rec/play/Qg75t7xZBtEbAkjdlgbfdngBBBB")
        );
        assert_eq!(m.text, None);
    }

    #[test]
    fn the_transcript_is_the_text_and_its_speakers_the_participants() {
        let mut raw: Value = serde_json::from_str(MEETING).expect("fixture");
        raw["share_url"] = json!("https://example.com/rec/share/Qg75t7xZBtEbAkjdlgbfdngBBBB");
        let m = model(&raw, Some(&json!({"vtt": TRANSCRIPT})));
        let names: Vec<&str> = m
            .participants
            .iter()
            .filter_map(|p| p.name.as_deref())
            .collect();
        assert_eq!(names, ["Priya Raman", "Tom O'Neil"]);
        let text = m.text.unwrap_or_default();
        assert!(
            text.starts_with(
                "Priya Raman: Morning, everyone. Can you all hear me? Great.\nTom O'Neil: "
            ),
            "{text}"
        );
        assert_eq!(
            m.url.as_deref(),
            Some("https://example.com/rec/share/Qg75t7xZBtEbAkjdlgbfdngBBBB")
        );
        assert_eq!(model(&raw, Some(&json!({"vtt": "not webvtt"}))).text, None);
    }
}

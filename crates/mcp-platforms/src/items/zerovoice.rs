//! ZeroVoice (Twilio). The listing stores Recording resources of
//! `GET /2010-04-01/Accounts/{AccountSid}/Recordings.json`
//! (https://www.twilio.com/docs/voice/api/recording): `sid`, `call_sid`, `conference_sid`,
//! `date_created` (RFC 2822), `duration` (seconds, as text), `media_url`. A recording names
//! no caller or callee (those are on the Call resource), so there are no people. The content
//! is the recording's transcriptions: the answer of
//! `GET …/Recordings/{RecordingSid}/Transcriptions.json` (`transcriptions[]`), or one
//! Transcription resource (https://www.twilio.com/docs/voice/api/recording-transcription),
//! whose `transcription_text` is the text. The link is `media_url` (the audio; Twilio asks for
//! the account's credentials unless media is public); the thread is the call (or conference).

use serde_json::Value;

use super::{fields, Kind, Model};

pub fn model(raw: &Value, content: Option<&Value>) -> Model {
    let mut m = Model::empty(Kind::Recording);
    // A recording has no title of its own: a readable one from its length (Twilio writes
    // -1 while the recording is in progress).
    if fields::text(raw, "/sid").is_some() {
        m.title = Some(match fields::id(raw, "/duration").filter(|d| d != "-1") {
            Some(secs) => format!("Call recording ({secs} s)"),
            None => "Call recording".to_string(),
        });
    }
    m.occurred_at = fields::first_time(raw, &["/start_time", "/date_created"]);
    m.url = fields::text(raw, "/media_url");
    m.thread = fields::first_text(raw, &["/call_sid", "/conference_sid"]);
    m.text = content.and_then(transcriptions);
    m
}

/// The completed transcriptions' text, in order.
fn transcriptions(content: &Value) -> Option<String> {
    let list = match content.get("transcriptions").and_then(Value::as_array) {
        Some(list) => list.iter().collect::<Vec<_>>(),
        None => vec![content],
    };
    fields::sections(list.into_iter().map(|t| {
        let done = fields::text(t, "/status").is_none_or(|s| s == "completed");
        fields::text(t, "/transcription_text").filter(|_| done)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // https://www.twilio.com/docs/voice/api/recording#read-multiple-recording-resources: the
    // example answer (its `encryption_details` and `subresource_uris` left out); its one
    // recording is what the connector lists.
    const RECORDINGS: &str = include_str!("../../fixtures/twilio-recordings-page.json");

    fn recording() -> Value {
        let page: Value = serde_json::from_str(RECORDINGS).expect("fixture");
        page["recordings"][0].clone()
    }

    // https://www.twilio.com/docs/voice/api/recording-transcription#read-multiple-transcription-resources-belonging-to-a-recording
    // (the shape of its example answer; the text is ours).
    const TRANSCRIPTIONS: &str = r#"{
        "end": 0, "first_page_uri": "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Recordings/REaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Transcriptions.json?PageSize=50&Page=0",
        "next_page_uri": null, "page": 0, "page_size": 50, "previous_page_uri": null, "start": 0,
        "transcriptions": [{
            "account_sid": "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "api_version": "2008-08-01",
            "date_created": "Mon, 22 Aug 2011 20:58:44 +0000", "date_updated": "Mon, 22 Aug 2011 20:58:44 +0000",
            "duration": "10", "price": "0.00", "price_unit": "USD",
            "recording_sid": "REaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "sid": "TRaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "status": "completed", "transcription_text": "Hi, this is Sam returning your call about the delivery.",
            "type": "fast", "uri": "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Transcriptions/TRaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json"
        }],
        "uri": "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Recordings/REaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Transcriptions.json?PageSize=50&Page=0"
    }"#;

    #[test]
    fn a_listed_recording_has_its_call_time_and_media_link() {
        let raw = recording();
        let m = model(&raw, None);
        assert_eq!(m.kind, Kind::Recording);
        assert_eq!(m.title.as_deref(), Some("Call recording (4 s)"));
        assert_eq!(
            m.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2016-10-14T21:56:34+00:00")
        );
        assert_eq!(
            m.thread.as_deref(),
            Some("CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        );
        assert_eq!(
            m.url.as_deref(),
            Some("http://api.twilio.com/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Recordings/REaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        );
        assert_eq!((m.text, m.author), (None, None));
        assert!(m.participants.is_empty());
    }

    #[test]
    fn completed_transcriptions_are_the_text() {
        let raw = recording();
        let list: Value = serde_json::from_str(TRANSCRIPTIONS).expect("fixture");
        let m = model(&raw, Some(&list));
        assert_eq!(
            m.text.as_deref(),
            Some("Hi, this is Sam returning your call about the delivery.")
        );
        let pending = json!({"status": "in-progress", "transcription_text": null});
        assert_eq!(model(&raw, Some(&pending)).text, None);
    }
}

//! Zoom, from its Meeting API OpenAPI description (developers.zoom.us): it publishes no
//! hand-written examples, so these answers are assembled from the spec's own per-field
//! `example` values, as the developer portal renders its samples.

use mcp_platforms::connectors::{Credentials, Platform};
use mcp_platforms::secret::Secret;
use serde_json::json;

use super::{json, DocServer};

/// https://developers.zoom.us/docs/api/users/#tag/users/GET/users/{userId} (the fields a
/// connector reads, with the spec's example values).
const ME: &str = r#"{
  "id": "zJKyaiAyTNC-MWjiWC18KQ",
  "created_at": "2018-10-31T04:32:37Z",
  "dept": "Developers",
  "email": "jchill@example.com",
  "first_name": "Jill",
  "last_name": "Chill",
  "pmi": 3542471135,
  "role_name": "Admin",
  "timezone": "Asia/Shanghai",
  "type": 1,
  "use_pmi": false,
  "account_id": "q6gBJVO5TzexKYTb_I2rpg",
  "account_number": 10009239,
  "status": "pending",
  "verified": 1
}"#;

/// https://developers.zoom.us/docs/api/meetings/#tag/cloud-recording/GET/users/{userId}/recordings
const RECORDINGS: &str = r#"{
  "from": "2022-01-01",
  "to": "2022-04-01",
  "next_page_token": "Tva2CuIdTgsv8wAnhyAdU3m06Y2HuLQtlh3",
  "page_count": 1,
  "page_size": 30,
  "total_records": 1,
  "meetings": [{
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
    "recording_files": [{
      "download_url": "https://example.com/rec/download/Qg75t7xZBtEbAkjdlgbfdngBBBB",
      "file_path": "/9090876528/path01/demo.mp4",
      "file_size": "7220",
      "file_type": "MP4",
      "file_extension": "M4A",
      "id": "72576a1f-4e66-4a77-87c4-f13f9808bd76",
      "meeting_id": "L0AGOEPVR9m5WSOOs/d+FQ==",
      "play_url": "https://example.com/rec/play/Qg75t7xZBtEbAkjdlgbfdngBBBB",
      "recording_end": "2021-03-18T05:41:36Z",
      "recording_start": "2021-03-18T05:41:36Z",
      "recording_type": "shared_screen_with_speaker_view",
      "status": "completed"
    }]
  }]
}"#;

fn token() -> Credentials {
    Credentials::Bearer(Secret::new("zoom-doc-token"))
}

#[tokio::test]
async fn the_identity_names_the_account() {
    let server = DocServer::start(vec![json("GET", "/v2/users/me", ME)]).await;
    let c = server.connectors(Platform::Zoom, |_| {});
    let id = c
        .get(Platform::Zoom)
        .health_check(&token())
        .await
        .expect("identity");
    assert_eq!(id.account_id.as_deref(), Some("zJKyaiAyTNC-MWjiWC18KQ"));
    assert_eq!(id.account.as_deref(), Some("q6gBJVO5TzexKYTb_I2rpg"));
}

/// Recordings are asked in a date window (`from`, `to`, at most 300 a page); a meeting's
/// `uuid` is the item, its `start_time` the time; `next_page_token` pages on.
#[tokio::test]
async fn recordings_are_read_by_meeting_in_date_windows() {
    let server = DocServer::start(vec![json("GET", "/v2/users/me/recordings", RECORDINGS)]).await;
    let c = server.connectors(Platform::Zoom, |_| {});
    let cursor = json!({"since": "2022-01-01"}).to_string();
    let page = c
        .get(Platform::Zoom)
        .list_page(&token(), Some(&cursor), &json!({}), None)
        .await
        .expect("page");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].external_id, "BOKXuumlTAGXuqwr3bLyuQ==");
    assert_eq!(
        page.items[0].occurred_at.map(|t| t.to_rfc3339()),
        Some("2021-03-18T05:41:36+00:00".into())
    );
    assert!(!page.done, "a next_page_token pages on");
    let seen = server.seen();
    assert_eq!(seen[0].q("from"), Some("2022-01-01"));
    assert_eq!(
        seen[0].q("to"),
        Some("2022-01-30"),
        "windows of at most 30 days"
    );
    assert_eq!(seen[0].q("page_size"), Some("300"));
}

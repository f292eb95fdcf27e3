//! Zoom's recording files and their download. Every other meeting of the recordings listing
//! has a transcript beside its video: a `recording_files[]` entry with `file_type`
//! `TRANSCRIPT`, `file_extension` `VTT`, `recording_type` `audio_transcript` and a
//! `download_url` (https://developers.zoom.us/docs/api/meetings/#tag/cloud-recording/GET/users/{userId}/recordings).
//! The download takes the user's access token as a Bearer header (that page's `download_url`)
//! and answers 302 to a signed URL on another host (`localhost` for the sandbox's
//! `127.0.0.1`: the same server under another name), which needs no token and records
//! whether one came anyway. Transcripts are WebVTT with "Speaker Name: words" cues, as Zoom
//! writes them. A file not listed any more is Zoom's 404 (code 3301).

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::listed;
use crate::forms::json_response;
use crate::req::Req;
use crate::state::State;
use mcp_platforms::connectors::Platform;

/// Where transcript downloads live under the sandbox's Zoom base.
pub const DOWNLOAD_PREFIX: &str = "/rec/download/";
/// Where the storage host serves the files a download redirects to.
pub const STORAGE_PREFIX: &str = "/_storage/";

/// Whether meeting `i` has a transcript file.
pub fn has_transcript(i: u64) -> bool {
    i.is_multiple_of(2)
}

/// Meeting `i`'s recording files: its video, and its transcript where it has one.
pub fn recording_files(st: &State, i: u64, uuid: &str) -> Vec<Value> {
    let mut files = vec![crate::events::zoom_recording_file(
        &format!("rec{i}-mp4"),
        uuid,
    )];
    if has_transcript(i) {
        let id = format!("rec{i}-vtt");
        files.push(
            json!({"id": id, "meeting_id": uuid, "recording_start": "2021-03-18T05:41:36Z",
            "recording_end": "2021-03-18T05:41:36Z", "file_type": "TRANSCRIPT",
            "file_extension": "VTT", "file_size": 1024,
            "download_url": format!("{}/zoom{DOWNLOAD_PREFIX}{id}", st.base_url),
            "status": "completed", "recording_type": "audio_transcript"}),
        );
    }
    files
}

fn not_found() -> Response {
    json_response(
        404,
        json!({"code": 3301, "message": "This recording does not exist."}),
        &[],
    )
}

/// The meeting index of a transcript file id (`rec<i>-vtt`).
fn meeting(file: &str) -> Option<u64> {
    file.strip_prefix("rec")?.strip_suffix("-vtt")?.parse().ok()
}

/// The storage host: the sandbox under another name.
fn storage_base(st: &State) -> String {
    st.base_url.replacen("127.0.0.1", "localhost", 1)
}

/// A signature binding a storage URL to its file and login (a fake of a signed URL).
fn signature(file: &str, login: &str) -> String {
    let h = format!("{file}|{login}|sandbox-storage")
        .bytes()
        .fold(1469598103934665603u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(1099511628211)
        });
    format!("{h:016x}")
}

/// `GET /rec/download/<file>` with the access token: 302 to the storage host.
pub fn download(st: &State, r: &Req, login: &str) -> Response {
    let file = r.path.trim_start_matches(DOWNLOAD_PREFIX);
    let Some(i) = meeting(file).filter(|&i| has_transcript(i)) else {
        return not_found();
    };
    if !listed(st, Platform::Zoom, login, i) {
        return not_found();
    }
    let login_q: String = url::form_urlencoded::byte_serialize(login.as_bytes()).collect();
    let to = format!(
        "{}/zoom{STORAGE_PREFIX}{file}.vtt?login={login_q}&sig={}",
        storage_base(st),
        signature(file, login)
    );
    json_response(302, json!(null), &[("location", to)])
}

/// `GET /_storage/<file>.vtt?login=&sig=` on the storage host: the file, no token needed.
pub fn storage(st: &State, r: &Req) -> Response {
    st.content
        .count_download(r.headers.contains_key("authorization"));
    let file = r
        .path
        .trim_start_matches(STORAGE_PREFIX)
        .trim_end_matches(".vtt");
    let login = r.q("login").unwrap_or_default();
    let i = meeting(file).filter(|&i| has_transcript(i));
    let (Some(i), Some(sig)) = (i, r.q("sig")) else {
        return denied();
    };
    if sig != signature(file, login) {
        return denied();
    }
    if !listed(st, Platform::Zoom, login, i) {
        return not_found();
    }
    let text = transcript(i, st.content.large(Platform::Zoom, login, i));
    let mut resp = text.into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/vtt"));
    resp
}

fn denied() -> Response {
    let mut resp = (
        axum::http::StatusCode::FORBIDDEN,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code></Error>",
    )
        .into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    resp
}

/// A cue's time, `hh:mm:ss.mmm`.
fn stamp(ms: u64) -> String {
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    format!("{h:02}:{m:02}:{s:02}.{:03}", ms % 1000)
}

/// Meeting `i`'s transcript; padded with filler cues to about `large` bytes when asked.
pub fn transcript(i: u64, large: Option<usize>) -> String {
    let mut cues: Vec<(String, String)> = vec![
        (
            "Ana Lima".into(),
            format!("Welcome to meeting {i}, the roadmap review."),
        ),
        (
            "Ben Okafor".into(),
            format!("Thanks Ana. The launch of release {i} moves to Thursday."),
        ),
        (
            "Ana Lima".into(),
            "Then the pricing page ships first, before the launch.".into(),
        ),
        (
            "Chloé Martin".into(),
            "I will write the release notes tonight.".into(),
        ),
    ];
    let mut out = String::from("WEBVTT\n\n");
    let mut n = 0u64;
    let mut push = |out: &mut String, who: &str, words: &str| {
        n += 1;
        let at = (n - 1) * 4_500;
        out.push_str(&format!(
            "{n}\n{} --> {}\n{who}: {words}\n\n",
            stamp(at),
            stamp(at + 4_200)
        ));
    };
    for (who, words) in cues.drain(..) {
        push(&mut out, &who, &words);
    }
    if let Some(bytes) = large {
        let mut j = 0;
        while out.len() < bytes {
            j += 1;
            let words = format!("Filler sentence {j} keeps the transcript of meeting {i} long.");
            push(&mut out, "Ben Okafor", &words);
        }
        push(&mut out, "Ana Lima", &format!("That closes meeting {i}."));
    }
    out
}

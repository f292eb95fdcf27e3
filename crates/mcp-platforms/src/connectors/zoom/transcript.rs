//! Zoom's content call: a recording's transcript, the WebVTT file of the meeting's
//! `recording_files[]` entry whose `file_type` is `TRANSCRIPT`, downloaded from its
//! `download_url` with the user's OAuth access token in the `Authorization` header (the
//! `download_url` field of
//! https://developers.zoom.us/docs/api/meetings/#tag/cloud-recording/GET/users/{userId}/recordings:
//! "use the user's OAuth access token to download the file, and set the access_token as a
//! Bearer token in the Authorization header"; the older `?access_token=` form is not used, a
//! token in a URL ends up in logs).
//!
//! Redirects are followed here, not by the client: only 302 and 303, at most `MAX_REDIRECTS`,
//! never from https to plain http. The token goes only to the download URL's own origin:
//! Zoom documents sending it there, and nothing about the storage host a download may be
//! redirected to, whose signed URL needs no token. It must never put the token, a URL's query
//! or the file's text into an error.

use serde_json::{json, Value};
use url::Url;

use super::super::base::Base;
use super::super::content::{self, ContentRequest};
use super::super::http::{self, RawResponse};
use super::super::{ConnectorError, ErrorType, MethodLimit};
use super::classify;

/// Redirects followed at most from one download.
pub const MAX_REDIRECTS: usize = 5;

/// The meeting's transcript file: `file_type` `TRANSCRIPT` (or a `VTT` file of
/// `recording_type` `audio_transcript`) with a `download_url`, `status` `completed` where
/// given (a file still `processing` is read once the listing shows it completed). Closed
/// captions (`CC`) are not the transcript.
pub fn transcript_file(raw: &Value) -> Option<&Value> {
    let text = |f: &Value, k: &str| f.get(k).and_then(Value::as_str).map(str::to_string);
    raw.get("recording_files")?.as_array()?.iter().find(|f| {
        let kind = text(f, "file_type").map(|t| t.to_ascii_uppercase());
        let ext = text(f, "file_extension").map(|t| t.to_ascii_uppercase());
        let rtype = text(f, "recording_type");
        let is_transcript = kind.as_deref() == Some("TRANSCRIPT")
            || (ext.as_deref() == Some("VTT") && rtype.as_deref() == Some("audio_transcript"));
        let ready = text(f, "status").is_none_or(|s| s.eq_ignore_ascii_case("completed"));
        is_transcript && ready && text(f, "download_url").is_some_and(|u| !u.is_empty())
    })
}

/// A meeting without a transcript file has nothing to fetch.
pub(super) fn needs_content(_: &Base, raw: &Value) -> bool {
    transcript_file(raw).is_some()
}

/// No bucket of its own: Zoom's rate-limit categories name API endpoints, not file downloads
/// (https://developers.zoom.us/docs/api/rate-limits/); each call of a download still takes a
/// token of the integration's bucket (`pace`).
pub(super) fn content_limit(_: &Base) -> Option<MethodLimit> {
    None
}

fn refused(base: &Base, status: Option<u16>, code: &str, why: &str) -> ConnectorError {
    ConnectorError::new(
        base.platform,
        ErrorType::BadRequest,
        status,
        Some(code.into()),
        why,
    )
}

/// Whether a download URL is Zoom's: the API's own origin, or https on the API host's parent
/// domain (`api.zoom.us` → `zoom.us` and its subdomains, where Zoom's `download_url`s live).
fn on_platform(api: &Url, url: &Url) -> bool {
    if url.origin() == api.origin() {
        return true;
    }
    let (Some(api_host), Some(host)) = (api.domain(), url.domain()) else {
        return false;
    };
    let labels: Vec<&str> = api_host.split('.').collect();
    if url.scheme() != "https" || labels.len() < 3 {
        return false;
    }
    let parent = labels[1..].join(".");
    host.eq_ignore_ascii_case(&parent)
        || host
            .to_ascii_lowercase()
            .ends_with(&format!(".{}", parent.to_ascii_lowercase()))
}

/// `{"vtt": "<WebVTT text>"}` of the meeting's transcript file.
pub(super) async fn fetch_content(
    base: &Base,
    req: ContentRequest<'_>,
) -> Result<Value, ConnectorError> {
    let file = transcript_file(req.raw)
        .ok_or_else(|| refused(base, None, "no_transcript", "the meeting has no transcript"))?;
    let link = file
        .get("download_url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let bad_link = || refused(base, None, "foreign_link", "download_url is not Zoom's");
    let start = Url::parse(link).map_err(|_| bad_link())?;
    let api = Url::parse(&base.api_base).map_err(|_| bad_link())?;
    if !on_platform(&api, &start) {
        return Err(bad_link());
    }
    let mut at = start.clone();
    for _ in 0..=MAX_REDIRECTS {
        let mut get = base.downloads.get(at.clone());
        if at.origin() == start.origin() {
            get = http::authorize(get, req.creds);
        }
        let resp = content::send(base, req.pace, get).await?;
        match resp.status {
            302 | 303 => at = next_hop(base, &resp, &at)?,
            300..=399 => {
                return Err(refused(
                    base,
                    Some(resp.status),
                    "redirect_refused",
                    "a redirect other than 302 or 303",
                ))
            }
            _ if resp.is_success() => return webvtt(base, &resp),
            _ => return Err(classify(base, &resp)),
        }
    }
    Err(refused(
        base,
        None,
        "redirect_refused",
        "too many redirects",
    ))
}

/// Where a 302 or 303 points: its `Location`, resolved against the URL that answered; never
/// from https to http.
fn next_hop(base: &Base, resp: &RawResponse, at: &Url) -> Result<Url, ConnectorError> {
    let status = Some(resp.status);
    let next = resp
        .headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| at.join(l).ok())
        .ok_or_else(|| {
            refused(
                base,
                status,
                "redirect_refused",
                "a redirect without a place",
            )
        })?;
    match (at.scheme(), next.scheme()) {
        (_, "https") | ("http", "http") => Ok(next),
        _ => Err(refused(
            base,
            status,
            "redirect_refused",
            "a redirect off https",
        )),
    }
}

/// The downloaded file as `{"vtt": text}` when it is WebVTT (its signature, after a BOM).
/// Zoom answers a download its token may not make with 200 and an HTML page ("Only the host
/// can download this recording", seen on Zoom's developer forum, thread 53338): refused.
fn webvtt(base: &Base, resp: &RawResponse) -> Result<Value, ConnectorError> {
    let text = String::from_utf8_lossy(&resp.body);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let signed = text.strip_prefix("WEBVTT").is_some_and(|rest| {
        rest.chars()
            .next()
            .is_none_or(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
    });
    if signed {
        return Ok(json!({ "vtt": text }));
    }
    let html = resp
        .headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/html"))
        || text.trim_start().starts_with('<');
    let (t, code, why) = if html {
        (
            ErrorType::InsufficientScope,
            "download_refused",
            "the download answered a web page",
        )
    } else {
        (
            ErrorType::InvalidResponse,
            "not_webvtt",
            "the transcript is not WebVTT",
        )
    };
    Err(ConnectorError::new(
        base.platform,
        t,
        Some(resp.status),
        Some(code.into()),
        format!("HTTP {}: {why}", resp.status),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn downloads_stay_on_zoom() {
        let api = url("https://api.zoom.us");
        for ok in [
            "https://zoom.us/rec/download/abc",
            "https://us02web.zoom.us/rec/download/abc",
            "https://api.zoom.us/rec/download/abc",
        ] {
            assert!(on_platform(&api, &url(ok)), "{ok}");
        }
        for no in [
            "http://zoom.us/rec/download/abc",
            "https://zoom.us.evil.example/rec",
            "https://evilzoom.us/rec",
            "https://example.com/rec/download/abc",
        ] {
            assert!(!on_platform(&api, &url(no)), "{no}");
        }
        let sandbox = url("http://127.0.0.1:4000/zoom");
        assert!(on_platform(
            &sandbox,
            &url("http://127.0.0.1:4000/zoom/rec/download/x")
        ));
        assert!(!on_platform(&sandbox, &url("http://127.0.0.1:4001/x")));
    }

    #[test]
    fn the_transcript_file_is_the_completed_transcript() {
        let file = |t: &str, ext: &str, status: &str| {
            json!({"file_type": t, "file_extension": ext, "status": status,
                "recording_type": "audio_transcript", "download_url": "https://zoom.us/rec/download/x"})
        };
        let meeting = |files: Vec<Value>| json!({ "recording_files": files });
        assert!(transcript_file(&meeting(vec![file("MP4", "MP4", "completed")])).is_none());
        assert!(transcript_file(&meeting(vec![file("TRANSCRIPT", "VTT", "processing")])).is_none());
        assert!(transcript_file(&meeting(vec![file("TRANSCRIPT", "VTT", "completed")])).is_some());
        assert!(transcript_file(&meeting(vec![file("", "VTT", "completed")])).is_some());
        assert!(transcript_file(&json!({"recording_files": "x"})).is_none());
        let mut cc = file("CC", "VTT", "completed");
        cc["recording_type"] = json!("closed_caption");
        assert!(transcript_file(&meeting(vec![cc])).is_none());
    }
}

//! Fireflies' `transcript(id:)` (https://docs.fireflies.ai/graphql-api/query/transcript; the
//! `Transcript`, `Sentence` and `Summary` schemas of https://docs.fireflies.ai/schema/transcript)
//! for the listing's transcripts (`tr<i>`): sentences with their speakers, the summary's
//! overview, action items and keywords, participants, attendees, organizer and link. The
//! answer holds every field the schema's example names whatever the query selects (a
//! simplification). A transcript not listed is the documented `object_not_found` error
//! (https://docs.fireflies.ai/miscellaneous/error-codes) beside a `null` transcript.

use serde_json::{json, Value};

use super::listed;
use crate::forms::json_response;
use crate::req::Req;
use crate::state::State;
use crate::timeline::TS0;
use axum::response::Response;
use mcp_platforms::connectors::Platform;

/// Whether a GraphQL request asks `transcript(…)` (not the `transcripts` listing).
pub fn asks_transcript(r: &Req) -> bool {
    let b = r.json();
    let q = b.get("query").and_then(Value::as_str).unwrap_or("");
    q.match_indices("transcript")
        .any(|(at, _)| q[at + "transcript".len()..].trim_start().starts_with('('))
}

/// The id a `transcript` query asks: its `id` argument as a variable (any variable name) or
/// an inline string.
fn asked_id(r: &Req) -> Option<String> {
    let b = r.json();
    let q = b.get("query").and_then(Value::as_str).unwrap_or("");
    let (_, after) = q.split_once("transcript(")?;
    let arg = after.split_once("id:")?.1.trim_start();
    if let Some(var) = arg.strip_prefix('$') {
        let name: String = var
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        return b
            .pointer(&format!("/variables/{name}"))
            .and_then(Value::as_str)
            .map(String::from);
    }
    let lit = arg.strip_prefix('"')?;
    Some(lit.split('"').next()?.to_string())
}

pub fn transcript(st: &State, r: &Req, login: &str) -> Response {
    let id = asked_id(r).unwrap_or_default();
    let i = id.strip_prefix("tr").and_then(|n| n.parse::<u64>().ok());
    match i.filter(|&i| listed(st, Platform::Fireflies, login, i)) {
        Some(i) => json_response(200, json!({"data": {"transcript": record(i)}}), &[]),
        None => json_response(
            200,
            json!({"data": {"transcript": null}, "errors": [{"message": "Transcript not found",
                "friendly": true, "code": "object_not_found",
                "extensions": {"code": "object_not_found", "status": 404,
                    "metadata": {"objectType": "Transcript"}}}]}),
            &[],
        ),
    }
}

/// Transcript `i`.
pub fn record(i: u64) -> Value {
    let said = [
        (
            "Ana Lima",
            0,
            format!("Good morning, this is call {i} about the budget."),
        ),
        (
            "Ben Okafor",
            1,
            "The vendor quote came in lower than expected.".to_string(),
        ),
        (
            "Ana Lima",
            0,
            "Then we can hire the second designer this quarter.".to_string(),
        ),
        (
            "Ben Okafor",
            1,
            "I will send the revised budget by Friday.".to_string(),
        ),
    ];
    let sentences: Vec<Value> = said
        .iter()
        .enumerate()
        .map(|(k, (who, sid, text))| {
            let start = k as f64 * 5.5;
            json!({"index": k, "speaker_name": who, "speaker_id": sid, "text": text,
                "raw_text": text, "start_time": start, "end_time": start + 5.0})
        })
        .collect();
    let date = chrono::DateTime::from_timestamp((TS0 + i) as i64, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    json!({
        "id": format!("tr{i}"), "title": format!("call {i}"), "date": (TS0 + i) * 1000,
        "dateString": date, "duration": 22.5,
        "host_email": "ana@sandbox.test", "organizer_email": "ana@sandbox.test",
        "participants": ["ana@sandbox.test", "ben@sandbox.test,carla@sandbox.test"],
        "meeting_attendees": [
            {"displayName": "Ana Lima", "email": "ana@sandbox.test", "name": "Ana Lima"},
            {"displayName": "Ben Okafor", "email": "ben@sandbox.test", "name": "Ben Okafor"}],
        "transcript_url": format!("https://app.fireflies.ai/view/tr{i}"),
        "speakers": [{"id": 0, "name": "Ana Lima"}, {"id": 1, "name": "Ben Okafor"}],
        "sentences": sentences,
        "summary": {"overview": format!("Call {i} settled the hiring budget."),
            "action_items": "Ben Okafor: send the revised budget by Friday",
            "keywords": ["budget", "hiring", "vendor"]},
    })
}

//! Content calls when things go wrong or grow: a 429 in the middle of a fetch (its wait kept),
//! an item deleted between its listing and its fetch, a very large item, a pace that refuses,
//! Notion's paging; and no credential in any error.

use std::time::Duration;

use mcp_platforms::connectors::{ErrorType, Platform};
use mcp_sandbox::{FaultKind, FaultSpec};
use serde_json::json;

use super::*;

/// The platforms with a content call.
const CONTENT: [Platform; 4] = [
    Platform::Gmail,
    Platform::Zoom,
    Platform::Fireflies,
    Platform::Notion,
];

fn content_fault(p: Platform, after: Option<u64>, secs: u64) -> FaultSpec {
    FaultSpec {
        platform: p.as_str().into(),
        token: None,
        fault: FaultKind::RateLimitSeconds,
        count: Some(1),
        retry_after_secs: Some(secs),
        after,
        code: None,
    }
}

/// The listing index of a listed item, as the sandbox numbers them.
fn index_of(p: Platform, it: &SyncItem, position: usize) -> u64 {
    let id = it.external_id.as_str();
    match p {
        Platform::Zoom => id.trim_start_matches("rec").trim_end_matches("=="),
        Platform::Fireflies => id.trim_start_matches("tr"),
        Platform::Notion => return u64::from_str_radix(&id[..8], 16).expect("page"),
        _ => return position as u64,
    }
    .parse()
    .expect("index")
}

/// A listed item of `p` that needs content, with its listing index.
async fn needing_content(sb: &Sandbox, c: &Connectors, p: Platform) -> (SyncItem, u64) {
    let conn = c.get(p);
    let all = listed(&*conn, &creds(sb, p)).await;
    let (k, it) = all
        .into_iter()
        .enumerate()
        .find(|(_, it)| conn.needs_content(&it.raw))
        .unwrap_or_else(|| panic!("{p}: nothing to fetch"));
    let i = index_of(p, &it, k);
    (it, i)
}

#[tokio::test]
async fn every_content_call_answers_a_429_with_its_wait() {
    let (sb, c) = setup().await;
    for p in CONTENT {
        let (it, _) = needing_content(&sb, &c, p).await;
        sb.set_content_fault(content_fault(p, None, 42));
        let cr = creds(&sb, p);
        let got = fetch(&sb, &*c.get(p), &cr, &it.raw, &json!({})).await;
        let e = got.result.expect_err("rate limited");
        assert_eq!(e.error_type, ErrorType::RateLimited, "{p}: {e}");
        let wait = e.retry_after.unwrap_or_default();
        // Fireflies names the time its quota resets: the wait is what is left of it.
        assert!(
            (Duration::from_secs(40)..=Duration::from_secs(42)).contains(&wait),
            "{p}: {wait:?}"
        );
        assert_eq!((got.paces, got.calls), (1, 1), "{p}");
        let shown = format!("{e} {e:?}");
        let presented = match &cr {
            Credentials::Bearer(t) | Credentials::ApiKey(t) => t.expose().to_string(),
            Credentials::Basic { secret, .. } => secret.expose().to_string(),
        };
        assert!(!shown.contains(&presented), "{p}: the credential shows");
    }
}

/// A Notion page of several pages of blocks: the 429 of its second call ends the fetch with
/// the wait Notion named; listing calls between are not content calls and do not count.
#[tokio::test]
async fn a_429_in_the_middle_of_a_fetch_is_rate_limited_with_its_wait() {
    let (sb, c) = setup().await;
    let conn = c.get(Platform::Notion);
    let cr = creds(&sb, Platform::Notion);
    let (page, i) = needing_content(&sb, &c, Platform::Notion).await;
    sb.enlarge_items(Platform::Notion, LOGIN, &[i], 10_000);
    sb.set_content_fault(content_fault(Platform::Notion, Some(1), 17));
    listed(&*conn, &cr).await;
    let got = fetch(&sb, &*conn, &cr, &page.raw, &json!({})).await;
    let e = got.result.expect_err("rate limited");
    assert_eq!(e.error_type, ErrorType::RateLimited, "{e}");
    assert_eq!(e.retry_after, Some(Duration::from_secs(17)));
    assert_eq!((got.paces, got.calls), (2, 2), "stopped at the second call");
    // The fault spent, the same fetch goes through: the page's blocks come in pages of 100.
    let again = fetch(&sb, &*conn, &cr, &page.raw, &json!({})).await;
    let content = again.result.expect("blocks");
    let blocks = content["blocks"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(blocks, 17 + 250, "every filler paragraph");
    assert_eq!(
        again.calls,
        3 + 3,
        "three pages of the page's blocks, three nested"
    );
    assert_eq!(again.paces, again.calls);
    let text = text_of(&model(Platform::Notion, &page.raw, &content));
    assert!(
        text.ends_with(&format!("Filler paragraph 250 of page {i}.")),
        "{text}"
    );
}

#[tokio::test]
async fn an_item_deleted_meanwhile_is_not_found() {
    let (sb, c) = setup().await;
    for p in CONTENT {
        let (it, i) = needing_content(&sb, &c, p).await;
        assert_eq!(sb.remove_items(p, LOGIN, &[i]), 1, "{p}");
        let got = fetch(&sb, &*c.get(p), &creds(&sb, p), &it.raw, &json!({})).await;
        let e = got.result.expect_err("gone");
        assert_eq!(e.error_type, ErrorType::NotFound, "{p}: {e}");
        assert!(!e.is_cursor_expired(), "{p}: not a listing's cursor");
        assert_eq!(got.calls, 1, "{p}");
    }
}

/// The first of `p`'s items that needs a content call, made `bytes` large in the sandbox, and
/// then fetched: the item, its listing index, and the fetch.
async fn fetch_enlarged(
    sb: &Sandbox,
    c: &Connectors,
    p: Platform,
    bytes: usize,
) -> (SyncItem, u64, Fetched) {
    let (it, i) = needing_content(sb, c, p).await;
    sb.enlarge_items(p, LOGIN, &[i], bytes);
    let got = fetch(sb, &*c.get(p), &creds(sb, p), &it.raw, &json!({})).await;
    (it, i, got)
}

/// A transcript and a message body of several megabytes come whole.
#[tokio::test]
async fn a_very_large_item_comes_whole() {
    let (sb, c) = setup().await;
    let (meeting, i, got) = fetch_enlarged(&sb, &c, Platform::Zoom, 5_000_000).await;
    let content = got.result.expect("transcript");
    assert!(content["vtt"].as_str().map_or(0, str::len) >= 5_000_000);
    let text = text_of(&model(Platform::Zoom, &meeting.raw, &content));
    assert!(
        text.ends_with(&format!("Ana Lima: That closes meeting {i}.")),
        "{}",
        &text[text.len().saturating_sub(200)..]
    );

    let (message, _, got) = fetch_enlarged(&sb, &c, Platform::Gmail, 4_000_000).await;
    let content = got.result.expect("message");
    let text = text_of(&model(Platform::Gmail, &message.raw, &content));
    // (Line ends become "\n": a little shorter than the part.)
    assert!(text.len() >= 3_900_000, "{}", text.len());
    assert!(text.contains("Fin de la lettre"), "the end is there");
}

/// An answer past the content bound (32 MiB) is refused, not read on.
#[tokio::test]
async fn content_past_the_bound_is_refused() {
    let (sb, c) = setup().await;
    let (_, _, got) = fetch_enlarged(&sb, &c, Platform::Zoom, 33 << 20).await;
    let e = got.result.expect_err("too large");
    assert_eq!(e.error_type, ErrorType::InvalidResponse, "{e}");
}

/// The pace comes before every call: a pace that refuses stops the fetch there, with its error.
#[tokio::test]
async fn a_refusing_pace_stops_the_fetch_before_its_call() {
    let (sb, c) = setup().await;
    let conn = c.get(Platform::Notion);
    let cr = creds(&sb, Platform::Notion);
    let (page, _) = needing_content(&sb, &c, Platform::Notion).await;
    for (fail_at, calls) in [(1, 0), (3, 2)] {
        let (n, pace) = pace(Some(fail_at));
        let before = sb.calls(Platform::Notion);
        let e = conn
            .fetch_content(&cr, &page.raw, &json!({}), &*pace)
            .await
            .expect_err("the pace refused");
        assert_eq!(e.code.as_deref(), Some("bucket"));
        assert_eq!(e.retry_after, Some(Duration::from_secs(9)));
        assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), fail_at);
        assert_eq!(sb.calls(Platform::Notion) - before, calls);
    }
}

#[tokio::test]
async fn notions_block_calls_have_a_bucket_of_their_own() {
    let (_sb, c) = setup().await;
    let limit = c.get(Platform::Notion).content_limit().expect("a limit");
    assert_eq!((limit.capacity, limit.per_sec), (3.0, 3.0));
    for p in [Platform::Gmail, Platform::Zoom, Platform::Fireflies] {
        assert!(c.get(p).content_limit().is_none(), "{p}");
    }
}

//! The sandbox through the connectors: items removed from and restored to listings, and faults
//! that fire after letting requests through.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use mcp_platforms::connectors::{
    Connector, Connectors, Credentials, HttpClientConfig, Page, Platform,
};

use super::state::{FaultKind, FaultSpec, State};
use super::{account_of, start, Sandbox};

const LOGIN: &str = "acme";

fn connectors(sb: &Sandbox) -> Connectors {
    Connectors::from_config(&HttpClientConfig::default(), &sb.config_overrides())
        .expect("connectors")
}

/// One channel for the channel platforms (Discord: the first text channel of the login's
/// guild, whose id follows the guild's).
fn settings(p: Platform, login: &str) -> Value {
    match p {
        Platform::Slack => json!({"channels": [super::SLACK_CHANNEL]}),
        Platform::Discord => {
            let guild: u64 = account_of(p, login).parse().unwrap_or_default();
            json!({"channels": [(guild + 1).to_string()]})
        }
        _ => json!({}),
    }
}

/// A listing of `LOGIN`'s from `cursor` to its end: its pages.
async fn list(
    c: &Arc<dyn Connector>,
    creds: &Credentials,
    cursor: Option<String>,
) -> (Vec<Page>, Option<String>) {
    list_as(c, creds, LOGIN, cursor).await
}

async fn list_as(
    c: &Arc<dyn Connector>,
    creds: &Credentials,
    login: &str,
    mut cursor: Option<String>,
) -> (Vec<Page>, Option<String>) {
    let p = c.platform();
    let mut pages = Vec::new();
    for _ in 0..100 {
        let page = c
            .list_page(
                creds,
                cursor.as_deref(),
                &settings(p, login),
                Some(&account_of(p, login)),
            )
            .await
            .unwrap_or_else(|e| panic!("{p}: {e}"));
        cursor = page.next_cursor.clone();
        let done = page.done;
        pages.push(page);
        if done {
            return (pages, cursor);
        }
    }
    panic!("{p}: no end after 100 pages");
}

fn ids(pages: &[Page]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p.items.iter().map(|i| i.external_id.clone()))
        .collect()
}

fn deleted(pages: &[Page]) -> Vec<String> {
    pages.iter().flat_map(|p| p.deleted.clone()).collect()
}

async fn post(c: &Connectors, sb: &Sandbox, path: &str, body: Value) -> (u16, Value) {
    let resp = c
        .client()
        .post(format!("{}{path}", sb.base_url()))
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_listing_skips_removed_items_until_restored() {
    let sb = start("127.0.0.1:0").await.expect("sandbox");
    let conns = connectors(&sb);
    // Every platform whose listing holds the sandbox's 25 items of a login.
    let listed = |p: &Platform| !matches!(p, Platform::Loom | Platform::Granola | Platform::ZeroDb);
    for p in Platform::ALL.into_iter().filter(listed) {
        let c = conns.get(p);
        let (creds, _) = sb.mint_credentials(p, LOGIN);
        let all = ids(&list(&c, &creds, None).await.0);
        assert_eq!(all.len(), 25, "{p}");
        assert_eq!(sb.remove_items(p, LOGIN, &[1, 4, 4]), 2, "{p}");
        assert_eq!(sb.remove_items(p, LOGIN, &[4]), 0, "{p}: already removed");
        let left = ids(&list(&c, &creds, None).await.0);
        assert_eq!(left.len(), 23, "{p}");
        assert!(left.iter().all(|id| all.contains(id)), "{p}");
        // Another login of the same platform keeps its items.
        let (other, _) = sb.mint_credentials(p, "other");
        assert_eq!(
            ids(&list_as(&c, &other, "other", None).await.0).len(),
            25,
            "{p}"
        );
        assert_eq!(sb.restore_items(p, LOGIN, None), 2, "{p}");
        let mut back = ids(&list(&c, &creds, None).await.0);
        let mut want = all.clone();
        back.sort();
        want.sort();
        assert_eq!(back, want, "{p}");
    }
}

#[tokio::test]
async fn remove_and_restore_over_http() {
    let sb = start("127.0.0.1:0").await.expect("sandbox");
    let conns = connectors(&sb);
    let c = conns.get(Platform::Slack);
    let (creds, _) = sb.mint_credentials(Platform::Slack, LOGIN);
    let body = |indexes: Value| json!({"platform": "slack", "account": LOGIN, "indexes": indexes});
    let (status, v) = post(&conns, &sb, "/_sandbox/items/remove", body(json!([3, 7]))).await;
    assert_eq!(
        (status, v),
        (200, json!({"ok": true, "count": 2, "removed": 2}))
    );
    let left = ids(&list(&c, &creds, None).await.0);
    assert_eq!(left.len(), 23);
    for i in [3u64, 7] {
        let id = format!("{}:{}.{i:06}", super::SLACK_CHANNEL, 1_700_000_000 + i);
        assert!(!left.contains(&id), "{id} removed");
    }
    let (status, v) = post(&conns, &sb, "/_sandbox/items/restore", body(json!([3]))).await;
    assert_eq!(
        (status, v),
        (200, json!({"ok": true, "count": 1, "removed": 1}))
    );
    let no_indexes = json!({"platform": "slack", "account": LOGIN});
    let (status, v) = post(&conns, &sb, "/_sandbox/items/restore", no_indexes.clone()).await;
    assert_eq!(
        (status, v),
        (200, json!({"ok": true, "count": 1, "removed": 0}))
    );
    assert_eq!(ids(&list(&c, &creds, None).await.0).len(), 25);
    // Refused: removal without indexes, an unknown platform, no account.
    let (status, _) = post(&conns, &sb, "/_sandbox/items/remove", no_indexes).await;
    assert_eq!(status, 400);
    let bad = json!({"platform": "nope", "account": LOGIN, "indexes": [1]});
    assert_eq!(
        post(&conns, &sb, "/_sandbox/items/remove", bad).await.0,
        400
    );
    let bad = json!({"platform": "slack", "account": "", "indexes": [1]});
    assert_eq!(
        post(&conns, &sb, "/_sandbox/items/remove", bad).await.0,
        400
    );
}

#[tokio::test]
async fn pages_are_full_pages_of_the_items_left() {
    let sb = start("127.0.0.1:0").await.expect("sandbox");
    sb.set_items_per_account(250);
    let conns = connectors(&sb);
    for (p, want) in [
        (Platform::Notion, vec![100, 100, 48]),
        (Platform::Monday, vec![100, 100, 48]),
        (Platform::Outlook, [vec![10; 24], vec![8]].concat()),
    ] {
        let c = conns.get(p);
        let (creds, _) = sb.mint_credentials(p, LOGIN);
        sb.remove_items(p, LOGIN, &[0, 120]);
        let (pages, _) = list(&c, &creds, None).await;
        let sizes: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
        assert_eq!(sizes, want, "{p}");
        let all = ids(&pages);
        let unique: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(unique.len(), 248, "{p}: every item left, once");
    }
}

#[tokio::test]
async fn gmail_history_reports_removed_messages() {
    let sb = start("127.0.0.1:0").await.expect("sandbox");
    let conns = connectors(&sb);
    let c = conns.get(Platform::Gmail);
    let (creds, _) = sb.mint_credentials(Platform::Gmail, LOGIN);
    let (pages, cursor) = list(&c, &creds, None).await;
    assert_eq!(ids(&pages).len(), 25);
    assert_eq!(cursor.as_deref(), Some("10000"));
    assert_eq!(sb.remove_items(Platform::Gmail, LOGIN, &[5, 0]), 2);
    // Message `i` of 25 was added at history id 9976 + i; removals are 10001 and 10002.
    let (pages, next) = list(&c, &creds, cursor.clone()).await;
    assert!(ids(&pages).is_empty());
    assert_eq!(
        deleted(&pages),
        [format!("m{:x}", 9981), format!("m{:x}", 9976)]
    );
    assert_eq!(next.as_deref(), Some("10002"));
    // Reported once: nothing after the latest id.
    let (pages, again) = list(&c, &creds, next).await;
    assert!(ids(&pages).is_empty() && deleted(&pages).is_empty());
    assert_eq!(again.as_deref(), Some("10002"));
    // From before the messages were added: only the messages left, then the removals.
    let (pages, _) = list(&c, &creds, Some("9990".into())).await;
    assert_eq!(ids(&pages).len(), 10);
    assert_eq!(deleted(&pages).len(), 2);
    // A new full listing starts at the latest id and lists the messages left.
    let first = c
        .list_page(&creds, None, &json!({}), None)
        .await
        .expect("first page");
    assert_eq!(first.next_cursor.as_deref(), Some("list:10002:"));
    assert_eq!(ids(&list(&c, &creds, None).await.0).len(), 23);
    // Asked for added messages only: no deletion records.
    let Credentials::Bearer(token) = &creds else {
        panic!("gmail takes a bearer token");
    };
    let history = format!(
        "{}/gmail/v1/users/me/history?startHistoryId=10000&historyTypes=messageAdded",
        sb.platform_base(Platform::Gmail)
    );
    let resp = conns
        .client()
        .get(history)
        .bearer_auth(token.expose())
        .send();
    let v: Value = resp.await.expect("history").json().await.expect("json");
    assert_eq!(v["history"], json!([]));
    assert_eq!(v["historyId"], json!("10002"));
    // Restored messages are listed again; the latest id stays where it was.
    assert_eq!(sb.restore_items(Platform::Gmail, LOGIN, None), 2);
    let (pages, cursor) = list(&c, &creds, None).await;
    assert_eq!(ids(&pages).len(), 25);
    assert_eq!(cursor.as_deref(), Some("10002"));
}

#[tokio::test]
async fn outlook_delta_reports_removed_messages_once() {
    let sb = start("127.0.0.1:0").await.expect("sandbox");
    let conns = connectors(&sb);
    let c = conns.get(Platform::Outlook);
    let (creds, _) = sb.mint_credentials(Platform::Outlook, LOGIN);
    let (pages, delta) = list(&c, &creds, None).await;
    assert_eq!(ids(&pages).len(), 25);
    assert!(deleted(&pages).is_empty());
    // Nothing removed: the delta round is empty.
    let (pages, delta) = list(&c, &creds, delta).await;
    assert!(ids(&pages).is_empty() && deleted(&pages).is_empty());
    sb.remove_items(Platform::Outlook, LOGIN, &[2, 20]);
    let (pages, delta) = list(&c, &creds, delta).await;
    assert!(ids(&pages).is_empty());
    assert_eq!(deleted(&pages), ["AAMk00000002", "AAMk00000020"]);
    let (pages, delta) = list(&c, &creds, delta).await;
    assert!(deleted(&pages).is_empty(), "reported once");
    // A removal during a full listing is in the delta round after it.
    let first = c
        .list_page(&creds, None, &json!({}), None)
        .await
        .expect("first page");
    sb.remove_items(Platform::Outlook, LOGIN, &[5]);
    let (pages, fresh) = list(&c, &creds, first.next_cursor.clone()).await;
    // Item 5 was on the first page; the listing goes on from the same item.
    assert_eq!(first.items.len() + ids(&pages).len(), 23);
    let (pages, _) = list(&c, &creds, fresh).await;
    assert_eq!(deleted(&pages), ["AAMk00000005"]);
    // The older delta link reports it too, once.
    let (pages, _) = list(&c, &creds, delta).await;
    assert_eq!(deleted(&pages), ["AAMk00000005"]);
}

#[tokio::test]
async fn a_fault_after_two_requests_fails_the_third_page() {
    let sb = start("127.0.0.1:0").await.expect("sandbox");
    sb.set_items_per_account(350);
    let conns = connectors(&sb);
    let c = conns.get(Platform::Notion);
    let (creds, _) = sb.mint_credentials(Platform::Notion, LOGIN);
    let fault: FaultSpec = serde_json::from_value(json!({"platform": "notion",
        "fault": "server_error", "count": 1, "after": 2}))
    .expect("fault");
    sb.set_fault(fault);
    let mut cursor = None;
    for _ in 0..2 {
        let page = c
            .list_page(&creds, cursor.as_deref(), &json!({}), None)
            .await
            .expect("let through");
        cursor = page.next_cursor;
    }
    let e = c
        .list_page(&creds, cursor.as_deref(), &json!({}), None)
        .await
        .expect_err("the third page fails");
    assert_eq!(e.status, Some(500));
    // Fired once: the same page again succeeds.
    assert!(c
        .list_page(&creds, cursor.as_deref(), &json!({}), None)
        .await
        .is_ok());
}

#[test]
fn faults_count_the_requests_they_let_through() {
    let st = State::new("http://127.0.0.1:1".into());
    let spec = |platform: &str, after: Option<u64>, count: Option<u64>| FaultSpec {
        platform: platform.into(),
        token: None,
        fault: FaultKind::Unavailable,
        count,
        retry_after_secs: None,
        after,
        code: None,
    };
    st.add_fault(spec("slack", Some(2), Some(2)));
    let fired = |p| st.take_fault(p, None).is_some();
    assert!(!fired(Platform::Slack));
    assert!(
        !fired(Platform::Notion),
        "another platform's request is not counted"
    );
    assert!(!fired(Platform::Slack));
    assert!(fired(Platform::Slack));
    assert!(fired(Platform::Slack));
    assert!(!fired(Platform::Slack), "count used up");
    assert!(st.faults().is_empty());
    // Two faults: the waiting one counts the requests the other fails.
    st.add_fault(spec("*", None, Some(1)));
    st.add_fault(spec("zoom", Some(1), None));
    assert_eq!(
        st.take_fault(Platform::Zoom, None).map(|f| f.after),
        Some(None)
    );
    assert_eq!(
        st.take_fault(Platform::Zoom, None).map(|f| f.after),
        Some(Some(0))
    );
    // Without `after`, a spec fires at once, as before.
    let plain: FaultSpec =
        serde_json::from_value(json!({"platform": "gmail", "fault": "revoked"})).expect("spec");
    assert_eq!(plain.after, None);
    st.clear_faults(None);
    st.add_fault(plain);
    assert!(fired(Platform::Gmail));
}

#[test]
fn removals_are_per_platform_and_login() {
    let st = State::new("http://127.0.0.1:1".into());
    assert!(st.removed(Platform::Slack, LOGIN).is_none());
    assert_eq!(st.remove_items(Platform::Slack, LOGIN, &[9, 2]), 2);
    let rm = st.removed(Platform::Slack, LOGIN).expect("removed");
    assert_eq!(rm.seq, 2);
    assert_eq!(rm.at, BTreeMap::from([(9, 1), (2, 2)]));
    assert!(st.removed(Platform::Slack, "other").is_none());
    assert!(st.removed(Platform::Notion, LOGIN).is_none());
    assert_eq!(st.restore_items(Platform::Slack, LOGIN, Some(&[2, 3])), 1);
    assert_eq!(st.restore_items(Platform::Notion, LOGIN, None), 0);
    assert_eq!(st.remove_items(Platform::Slack, LOGIN, &[2]), 1);
    let rm = st.removed(Platform::Slack, LOGIN).expect("removed");
    assert_eq!(rm.at, BTreeMap::from([(9, 1), (2, 3)]), "a new seq");
}

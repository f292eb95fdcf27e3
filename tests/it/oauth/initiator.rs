//! A connect is bound to whoever started it: the authorize link sent to someone else, or a
//! state replayed from another browser, is refused without a write, and the initiator can still
//! finish.

use mcp_platforms::connectors::Platform;
use serde_json::Value;

use super::env;

fn error_of(body: &str) -> String {
    let v: Value = serde_json::from_str(body).expect("json");
    v["error"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_callback_from_another_browser_is_refused_and_the_initiator_still_connects() {
    let e = env().await;
    let ws = e.workspace().await;
    let (_, callback) = e.start_connect(Platform::Gmail, ws, None).await;
    let cookies = e.jar.lock().expect("jar").clone();
    assert_eq!(cookies.len(), 1, "the connect set its cookie: {cookies:?}");
    assert!(cookies[0].starts_with("mcp_connect_"), "{cookies:?}");
    // The attacker's link, consented to in the victim's browser: same state and code, no cookie.
    let before = e.digest().await;
    let (status, _, body) = e.call_elsewhere(&callback).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_of(&body), "not_initiator", "{body}");
    assert_eq!(
        e.digest().await,
        before,
        "a refused callback wrote something"
    );
    // Another browser with a cookie of the right name but its own value.
    let name = cookies[0].split('=').next().expect("name").to_string();
    *e.jar.lock().expect("jar") = vec![format!("{name}=guessed")];
    let (status, _, body) = e.call("GET", &callback, None).await;
    assert_eq!(
        (status, error_of(&body)),
        (400, "not_initiator".into()),
        "{body}"
    );
    assert_eq!(e.digest().await, before);
    // The browser that started it: connected, and the cookie cleared.
    *e.jar.lock().expect("jar") = cookies;
    let (status, _, body) = e.call("GET", &callback, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        e.jar.lock().expect("jar").is_empty(),
        "the cookie was cleared"
    );
    e.finish().await;
}

#[tokio::test]
async fn an_application_binding_must_come_back_on_the_callback() {
    let e = env().await;
    let ws = e.workspace().await;
    let session = "app-session-0123456789abcdef";
    let (status, to_platform, body) = e
        .call(
            "GET",
            &format!("/integrations/connect/zoom?workspace_id={ws}&binding={session}"),
            None,
        )
        .await;
    assert_eq!(status, 302, "{body}");
    assert!(
        e.jar.lock().expect("jar").is_empty(),
        "no cookie when the application binds the connect"
    );
    let back = e.client.get(&to_platform).send().await.expect("authorize");
    let back = back.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let callback = back
        .strip_prefix(super::REDIRECT_BASE)
        .expect("redirect base")
        .to_string();
    let before = e.digest().await;
    for path in [
        callback.clone(),
        format!("{callback}&binding=app-session-of-someone-else"),
    ] {
        let (status, _, body) = e.call("GET", &path, None).await;
        assert_eq!(
            (status, error_of(&body)),
            (400, "not_initiator".into()),
            "{path}: {body}"
        );
        assert_eq!(e.digest().await, before, "{path} wrote something");
    }
    let (status, _, body) = e
        .call("GET", &format!("{callback}&binding={session}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    // A binding too short to be a session's is refused before anything is written.
    let before = e.digest().await;
    let (status, _, body) = e
        .call(
            "GET",
            &format!("/integrations/connect/zoom?workspace_id={ws}&binding=short"),
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"field\":\"binding\""), "{body}");
    assert_eq!(e.digest().await, before);
    e.finish().await;
}

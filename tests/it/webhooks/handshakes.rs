//! Handshakes answered exactly as each platform expects, only when authentic where the platform
//! signs them, and never stored.

use hmac::{Hmac, Mac};
use mcp_platforms::connectors::Platform;
use serde_json::{json, Value};
use sha2::Sha256;

use super::{content_type, env, now, secret_of, sign};

#[tokio::test]
async fn handshakes_are_answered_as_each_platform_expects() {
    let env = env().await;
    let ts = now();

    // Slack url_verification: the challenge echoed.
    let path = env.hook(Platform::Slack).await;
    let s = secret_of(Platform::Slack);
    let body = br#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let r = env
        .post(
            &path,
            "application/json",
            &sign(Platform::Slack, &s, body, ts, &path),
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.content_type.starts_with("text/plain"));
    assert_eq!(
        r.body,
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    // Unsigned, it is refused.
    let r = env.post(&path, "application/json", &[], body).await;
    assert_eq!(r.status, 401);

    // Zoom endpoint.url_validation: plainToken and its HMAC with the secret token.
    let path = env.hook(Platform::Zoom).await;
    let s = secret_of(Platform::Zoom);
    let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let r = env
        .post(
            &path,
            "application/json",
            &sign(Platform::Zoom, &s, body, ts, &path),
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut mac = Hmac::<Sha256>::new_from_slice(s.as_bytes()).expect("hmac");
    mac.update(b"qgg8vlvZRS6UYooatFL8Aw");
    let expected = json!({
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
        "encryptedToken": hex::encode(mac.finalize().into_bytes()),
    });
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).expect("json"),
        expected
    );
    let r = env
        .post(
            &path,
            "application/json",
            &sign(Platform::Zoom, "wrong", body, ts, &path),
            body,
        )
        .await;
    assert_eq!(r.status, 401);

    // Outlook subscription validation: the token echoed as text/plain.
    let path = env.hook(Platform::Outlook).await;
    let r = env
        .post(
            &format!("{path}?validationToken=Validation%3A%20Testing%20client%20application"),
            "text/plain",
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/plain"));
    assert_eq!(r.body, "Validation: Testing client application");
    // The same on an unknown webhook is not answered.
    let unknown = format!(
        "/webhooks/outlook/{}?validationToken=x",
        uuid::Uuid::new_v4()
    );
    assert_eq!(env.post(&unknown, "text/plain", &[], b"").await.status, 404);

    // Discord PING: type 1 back, only when signed by the application's key.
    let path = env.hook(Platform::Discord).await;
    let s = secret_of(Platform::Discord);
    let body = br#"{"id":"123","type":1,"application_id":"456"}"#;
    let r = env
        .post(
            &path,
            "application/json",
            &sign(Platform::Discord, &s, body, ts, &path),
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).expect("json"),
        json!({"type": 1})
    );
    let r = env
        .post(
            &path,
            "application/json",
            &sign(Platform::Discord, "other", body, ts, &path),
            body,
        )
        .await;
    assert_eq!(r.status, 401);

    // Monday challenge: echoed as JSON, only with a valid JWT.
    let path = env.hook(Platform::Monday).await;
    let s = secret_of(Platform::Monday);
    let body = br#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#;
    let r = env
        .post(
            &path,
            content_type(Platform::Monday),
            &sign(Platform::Monday, &s, body, ts, &path),
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).expect("json"),
        json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );
    assert_eq!(
        env.post(&path, "application/json", &[], body).await.status,
        401
    );

    assert_eq!(env.counts().await, (0, 0), "handshakes store nothing");
    env.finish().await;
}

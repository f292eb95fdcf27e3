//! Per platform: a correctly signed event is stored once with one job; a forged signature, a
//! modified body, a wrong secret, a stale timestamp (where one is signed) and an unknown webhook
//! id are refused with nothing stored; a repeated delivery stores nothing new.

use mcp_platforms::connectors::Platform;

use super::{content_type, env, event_body, now, secret_of, sign, Env};

const TIMESTAMP_HEADERS: &[&str] = &[
    "x-slack-request-timestamp",
    "x-zm-request-timestamp",
    "x-timestamp",
    "x-signature-timestamp",
];

/// Alters one character of the signature header (not the timestamp beside it).
fn forge(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = headers.to_vec();
    let (_, v) = out
        .iter_mut()
        .find(|(k, _)| !TIMESTAMP_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
        .expect("a signature header");
    let mut chars: Vec<char> = v.chars().collect();
    let mut i = chars.len() * 3 / 4;
    while !chars[i].is_ascii_alphanumeric() {
        i += 1;
    }
    chars[i] = if chars[i] == '0' { '1' } else { '0' };
    *v = chars.into_iter().collect();
    out
}

async fn refused(
    env: &Env,
    p: Platform,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    want: u16,
    what: &str,
) {
    let before = env.counts().await;
    let r = env.post(path, content_type(p), headers, body).await;
    assert_eq!(r.status, want, "{p:?} {what}: {}", r.body);
    assert_eq!(
        env.counts().await,
        before,
        "{p:?} {what}: something was stored"
    );
}

async fn check(p: Platform) {
    let env = env().await;
    let path = env.hook(p).await;
    let secret = secret_of(p);
    let ct = content_type(p);
    let ts = now();

    // Accepted once, with one job; the same delivery again stores nothing new.
    let body = event_body(p, 1001, &secret);
    let headers = sign(p, &secret, &body, ts, &path);
    let r = env.post(&path, ct, &headers, &body).await;
    assert_eq!(r.status, 200, "{p:?} accepted: {}", r.body);
    assert_eq!(env.counts().await, (1, 1), "{p:?}: one event, one job");
    let r = env.post(&path, ct, &headers, &body).await;
    assert_eq!(r.status, 200, "{p:?} duplicate: {}", r.body);
    assert!(r.body.contains("duplicate"), "{p:?}: {}", r.body);
    assert_eq!(
        env.counts().await,
        (1, 1),
        "{p:?}: duplicate stored nothing"
    );
    let payload_ok: bool = sqlx::query_scalar(
        "SELECT payload IS NOT NULL AND body_sha256 IS NOT NULL AND platform = $1 \
         FROM mcp.webhook_events",
    )
    .bind(p.as_str())
    .fetch_one(&env.db.pool)
    .await
    .expect("event row");
    assert!(payload_ok);

    let body = event_body(p, 2002, &secret);
    if p == Platform::Outlook {
        // No signature: the clientState is the secret.
        let forged = event_body(p, 2002, "not-our-client-state");
        refused(&env, p, &path, &[], &forged, 401, "wrong clientState").await;
    } else {
        let headers = sign(p, &secret, &body, ts, &path);
        refused(
            &env,
            p,
            &path,
            &forge(&headers),
            &body,
            401,
            "forged signature",
        )
        .await;
        // Gmail's and Monday's tokens authenticate the sender, not the body: a body changed
        // in transit cannot be detected there (TLS protects it).
        if !matches!(p, Platform::Gmail | Platform::Monday) {
            let modified = event_body(p, 2003, &secret);
            refused(&env, p, &path, &headers, &modified, 401, "modified body").await;
        }
        let wrong = if p == Platform::Gmail {
            // Gmail has no shared secret: a token for another audience.
            mcp_sandbox::sign_webhook(p, b"", &body, ts, "https://other.example.test/")
        } else {
            sign(p, "the-wrong-secret", &body, ts, &path)
        };
        refused(&env, p, &path, &wrong, &body, 401, "wrong secret").await;
        refused(&env, p, &path, &[], &body, 401, "no signature").await;
    }
    if matches!(
        p,
        Platform::Slack | Platform::Zoom | Platform::Discord | Platform::Monday | Platform::Gmail
    ) {
        let stale = sign(p, &secret, &body, ts - 7200, &path);
        refused(&env, p, &path, &stale, &body, 401, "stale timestamp").await;
        let r = env.post(&path, ct, &stale, &body).await;
        assert!(r.body.contains("stale"), "{p:?}: {}", r.body);
    }
    let unknown = format!("/webhooks/{}/{}", p.as_str(), uuid::Uuid::new_v4());
    let headers = sign(p, &secret, &body, ts, &unknown);
    refused(&env, p, &unknown, &headers, &body, 404, "unknown webhook").await;
    // The webhook id of another platform is unknown here too.
    let other = if p == Platform::Slack {
        Platform::Notion
    } else {
        Platform::Slack
    };
    let mismatched = path.replacen(p.as_str(), other.as_str(), 1);
    refused(
        &env,
        other,
        &mismatched,
        &headers,
        &body,
        404,
        "platform mismatch",
    )
    .await;

    // And the correctly signed second event is still accepted.
    let headers = sign(p, &secret, &body, ts, &path);
    let r = env.post(&path, ct, &headers, &body).await;
    assert_eq!(r.status, 200, "{p:?} second event: {}", r.body);
    assert_eq!(env.counts().await, (2, 2));
    env.finish().await;
}

macro_rules! platform_tests {
    ($($name:ident => $p:expr),* $(,)?) => {
        $(#[tokio::test]
        async fn $name() {
            check($p).await;
        })*
    };
}

platform_tests! {
    slack => Platform::Slack,
    zoom => Platform::Zoom,
    notion => Platform::Notion,
    fireflies => Platform::Fireflies,
    otter => Platform::Otter,
    loom => Platform::Loom,
    granola => Platform::Granola,
    zerovoice_twilio => Platform::ZeroVoice,
    discord => Platform::Discord,
    outlook => Platform::Outlook,
    gmail => Platform::Gmail,
    monday => Platform::Monday,
}

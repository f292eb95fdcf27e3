//! Google's keys for Gmail's push tokens fetched from the JWKS URL (the sandbox's, at Google's
//! path): cached, fetched again when a rotated key appears, at most once per interval however
//! many forged key ids arrive, the last good set kept when a fetch fails; the JWKS file still
//! wins when set. Google's documented claims: https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions

use std::time::Duration;

use mcp_platforms::connectors::Platform;
use mcp_sandbox::{sign_gmail, GmailTestKey, Sandbox, GMAIL_TEST_SERVICE_ACCOUNT};

use super::{env_with, event_for_account, now, Env, GMAIL_AUD};

const ACCOUNT: &str = "user1@example.com";

async fn url_env(sb: &Sandbox, interval: Duration) -> Env {
    let url = sb.gmail_jwks_url();
    let env = env_with(|c| {
        c.gmail_jwks_file = String::new();
        c.gmail_jwks_url = url;
        c.gmail_jwks_refetch_interval = interval;
        c.gmail_service_account = GMAIL_TEST_SERVICE_ACCOUNT.into();
    })
    .await;
    env.connected(env.ws, Platform::Gmail, ACCOUNT).await;
    env
}

/// Posts push `n` to the app-level URL with `headers`; the status.
async fn push(env: &Env, n: u64, headers: &[(String, String)]) -> u16 {
    let body = event_for_account(Platform::Gmail, n, ACCOUNT);
    let r = env
        .post("/webhooks/gmail", "application/json", headers, &body)
        .await;
    r.status
}

#[tokio::test]
async fn gmail_keys_fetched_cached_and_rotated() {
    let sb = mcp_sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let env = url_env(&sb, Duration::ZERO).await;
    // Signed with the first key: the set is fetched once, then used from the cache.
    assert_eq!(push(&env, 1, &sb.sign_gmail(now(), GMAIL_AUD)).await, 200);
    assert_eq!(sb.gmail_jwks_fetches(), 1);
    assert_eq!(push(&env, 2, &sb.sign_gmail(now(), GMAIL_AUD)).await, 200);
    assert_eq!(sb.gmail_jwks_fetches(), 1, "served from the cache");
    // Google rotates: the new key id is unknown, one fetch finds it.
    sb.rotate_gmail_key();
    assert_eq!(push(&env, 3, &sb.sign_gmail(now(), GMAIL_AUD)).await, 200);
    assert_eq!(sb.gmail_jwks_fetches(), 2, "one fetch for the rotated key");
    assert_eq!(push(&env, 4, &sb.sign_gmail(now(), GMAIL_AUD)).await, 200);
    assert_eq!(sb.gmail_jwks_fetches(), 2);
    assert_eq!(env.counts().await.0, 4);
    env.finish().await;
}

#[tokio::test]
async fn gmail_forged_key_ids_fetch_at_most_once_per_interval() {
    let sb = mcp_sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let env = url_env(&sb, Duration::from_secs(3600)).await;
    // A flood of tokens naming key ids Google never published, signed with a key it does not
    // list: all refused, and only the first fetch happens.
    let flood = (0..24u64).map(|i| {
        let headers = sign_gmail(
            GmailTestKey::Second,
            Some(&format!("forged-{i}")),
            now(),
            GMAIL_AUD,
        );
        let env = &env;
        async move { push(env, 100 + i, &headers).await }
    });
    let statuses = futures::future::join_all(flood).await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(sb.gmail_jwks_fetches(), 1, "one fetch for the whole flood");
    // A key id the set has, with another key's signature: refused without a fetch.
    let forged = sign_gmail(
        GmailTestKey::Second,
        Some(GmailTestKey::First.kid()),
        now(),
        GMAIL_AUD,
    );
    assert_eq!(push(&env, 200, &forged).await, 401);
    // Google's real key still verifies from the set fetched.
    assert_eq!(push(&env, 201, &sb.sign_gmail(now(), GMAIL_AUD)).await, 200);
    // Within the interval even a genuinely rotated key waits: no second fetch.
    sb.rotate_gmail_key();
    assert_eq!(push(&env, 202, &sb.sign_gmail(now(), GMAIL_AUD)).await, 401);
    assert_eq!(sb.gmail_jwks_fetches(), 1);
    assert_eq!(env.counts().await.0, 1, "only the genuine push stored");
    env.finish().await;
}

#[tokio::test]
async fn gmail_failed_fetch_keeps_the_last_good_keys() {
    let sb = mcp_sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let env = url_env(&sb, Duration::ZERO).await;
    assert_eq!(push(&env, 1, &sb.sign_gmail(now(), GMAIL_AUD)).await, 200);
    // Google rotates but its JWKS cannot be fetched: the new key's token is refused after one
    // failed fetch, and the set fetched before stays in use.
    sb.fail_gmail_jwks(true);
    sb.rotate_gmail_key();
    assert_eq!(push(&env, 2, &sb.sign_gmail(now(), GMAIL_AUD)).await, 401);
    assert_eq!(sb.gmail_jwks_fetches(), 2, "one failed fetch");
    let first = sign_gmail(GmailTestKey::First, None, now(), GMAIL_AUD);
    assert_eq!(push(&env, 3, &first).await, 200);
    // Reachable again: the rotated key is fetched and verifies.
    sb.fail_gmail_jwks(false);
    assert_eq!(push(&env, 4, &sb.sign_gmail(now(), GMAIL_AUD)).await, 200);
    assert_eq!(env.counts().await.0, 3);
    env.finish().await;
}

#[tokio::test]
async fn gmail_jwks_file_wins_over_the_url() {
    let sb = mcp_sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let url = sb.gmail_jwks_url();
    // The test kit's file holds the first key only.
    let env = env_with(|c| c.gmail_jwks_url = url).await;
    env.connected(env.ws, Platform::Gmail, ACCOUNT).await;
    let first = sign_gmail(GmailTestKey::First, None, now(), GMAIL_AUD);
    assert_eq!(push(&env, 1, &first).await, 200);
    let second = sign_gmail(GmailTestKey::Second, None, now(), GMAIL_AUD);
    assert_eq!(push(&env, 2, &second).await, 401);
    assert_eq!(sb.gmail_jwks_fetches(), 0, "nothing fetched with a file");
    env.finish().await;
}

#[tokio::test]
async fn gmail_push_of_another_service_account_refused() {
    let sb = mcp_sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let url = sb.gmail_jwks_url();
    let env = env_with(|c| {
        c.gmail_jwks_file = String::new();
        c.gmail_jwks_url = url;
        c.gmail_service_account = "push@another-project.iam.gserviceaccount.com".into();
    })
    .await;
    env.connected(env.ws, Platform::Gmail, ACCOUNT).await;
    assert_eq!(push(&env, 1, &sb.sign_gmail(now(), GMAIL_AUD)).await, 401);
    assert_eq!(env.counts().await.0, 0);
    env.finish().await;
}

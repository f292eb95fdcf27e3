//! The app-level URL (`POST /webhooks/{platform}`): one URL and one app secret for every
//! customer account. Per platform: two accounts' events land on their own integrations; an
//! account with no live integration is answered 200 and stores nothing; a forged delivery is
//! refused and stores nothing; a revoked integration's account is no longer routed.

use mcp_platforms::accounts::APP_LEVEL;
use mcp_platforms::connectors::Platform;

use super::{app_secret_of, content_type, env, event_for_account, now, sign, Env};

fn accounts(p: Platform) -> [String; 3] {
    let f = |n: u32| match p {
        Platform::Slack => format!("T0{n}AAAA"),
        Platform::Zoom => format!("zoom-acct-{n}"),
        Platform::Discord => format!("9{n}0000000000000000"),
        Platform::Notion => format!("ws-{n}"),
        _ => format!("user{n}@example.com"),
    };
    [f(1), f(2), f(3)]
}

async fn post_app(env: &Env, p: Platform, n: u64, account: &str, forge: bool) -> (u16, String) {
    let path = format!("/webhooks/{}", p.as_str());
    let body = event_for_account(p, n, account);
    let secret = if forge {
        "not-the-app-secret".to_string()
    } else {
        app_secret_of(p)
    };
    let mut headers = sign(p, &secret, &body, now(), &path);
    if forge && p == Platform::Gmail {
        // Gmail's push is a JWT of Google's key, not of a shared secret: alter its signature.
        for (_, v) in headers.iter_mut() {
            if let Some(dot) = v.rfind('.') {
                let i = dot + 10;
                let c = if &v[i..i + 1] == "A" { "B" } else { "A" };
                v.replace_range(i..i + 1, c);
            }
        }
    }
    let r = env.post(&path, content_type(p), &headers, &body).await;
    (r.status, r.body)
}

async fn check(p: Platform) {
    let env = env().await;
    let [a1, a2, a3] = accounts(p);
    let other_ws = mcp_daemon::integrations::create_workspace(&env.db.pool, "other")
        .await
        .expect("ws");
    let i1 = env.connected(env.ws, p, &a1).await;
    let i2 = env.connected(other_ws, p, &a2).await;

    for (n, a) in [(1, &a1), (2, &a2), (3, &a2)] {
        let (status, body) = post_app(&env, p, n, a, false).await;
        assert_eq!(status, 200, "{p} {a}: {body}");
        assert!(body.contains("event_id"), "{p} {a}: {body}");
    }
    let mut want = vec![(i1, 1), (i2, 2)];
    want.sort();
    assert_eq!(
        env.events_by_integration().await,
        want,
        "{p}: routed by account"
    );
    let (events, jobs) = env.counts().await;
    assert_eq!((events, jobs), (3, 3), "{p}: one job per event");
    let ws_of_events: i64 = env
        .db
        .scalar_i64(&format!(
            "SELECT count(*) FROM mcp.webhook_events e JOIN core.integrations i \
             ON i.id = e.integration_id AND i.workspace_id = e.workspace_id \
             WHERE e.platform = '{}'",
            p.as_str()
        ))
        .await;
    assert_eq!(
        ws_of_events, 3,
        "{p}: each event in its integration's workspace"
    );

    // An account nobody connected: 200, nothing stored.
    let before = env.counts().await;
    let (status, body) = post_app(&env, p, 4, &a3, false).await;
    assert_eq!(status, 200, "{p} unknown account: {body}");
    assert!(body.contains("\"routed\":false"), "{p}: {body}");
    assert_eq!(env.counts().await, before, "{p}: unrouted stored nothing");

    // Forged (signed with another secret): refused, nothing stored.
    let (status, body) = post_app(&env, p, 5, &a1, true).await;
    assert_eq!(status, 401, "{p} forged: {body}");
    assert_eq!(env.counts().await, before, "{p}: forged stored nothing");

    // A revoked integration's account stores nothing any more, at once: the intake may still
    // hold its route for a few seconds, but the statement that stores drops the event.
    sqlx::query("SELECT mcp.transition_integration_state($1, 'REVOKED', 'test')")
        .bind(i1)
        .execute(&env.db.pool)
        .await
        .expect("revoke");
    let (status, body) = post_app(&env, p, 6, &a1, false).await;
    assert_eq!(status, 200, "{p} revoked: {body}");
    assert_eq!(env.counts().await, before, "{p}: revoked stored nothing");
    env.finish().await;
}

#[tokio::test]
async fn slack_workspaces_share_one_url() {
    check(Platform::Slack).await;
}

#[tokio::test]
async fn zoom_accounts_share_one_url() {
    check(Platform::Zoom).await;
}

#[tokio::test]
async fn discord_guilds_share_one_url() {
    check(Platform::Discord).await;
}

#[tokio::test]
async fn notion_workspaces_share_one_url() {
    check(Platform::Notion).await;
}

#[tokio::test]
async fn gmail_mailboxes_share_one_push_url() {
    check(Platform::Gmail).await;
}

#[tokio::test]
async fn app_handshakes_and_per_subscription_platforms() {
    let env = env().await;
    // Slack's url_verification on the app URL, signed with the app secret.
    let path = "/webhooks/slack";
    let body = br#"{"type":"url_verification","challenge":"ch-123","token":"x"}"#;
    let headers = sign(
        Platform::Slack,
        &app_secret_of(Platform::Slack),
        body,
        now(),
        path,
    );
    let r = env.post(path, "application/json", &headers, body).await;
    assert_eq!((r.status, r.body.as_str()), (200, "ch-123"));
    // Zoom's endpoint.url_validation, answered with the app secret.
    let path = "/webhooks/zoom";
    let body =
        br#"{"event":"endpoint.url_validation","payload":{"plainToken":"pt-1"},"event_ts":1}"#;
    let headers = sign(
        Platform::Zoom,
        &app_secret_of(Platform::Zoom),
        body,
        now(),
        path,
    );
    let r = env.post(path, "application/json", &headers, body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("encryptedToken"), "{}", r.body);
    // Discord's PING.
    let path = "/webhooks/discord";
    let body = br#"{"type":1,"id":"1"}"#;
    let headers = sign(
        Platform::Discord,
        &app_secret_of(Platform::Discord),
        body,
        now(),
        path,
    );
    let r = env.post(path, "application/json", &headers, body).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"type":1}"#));
    // A per-subscription platform has no app URL.
    let path = "/webhooks/monday";
    let r = env.post(path, "application/json", &[], b"{}").await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(env.counts().await, (0, 0));
    assert_eq!(APP_LEVEL.len(), 5);
    env.finish().await;
}

#[tokio::test]
async fn one_live_integration_per_account() {
    let env = env().await;
    let p = Platform::Slack;
    let first = env.connected(env.ws, p, "T0SAME").await;
    // The same workspace connects the same account again: the new one takes it over.
    let second = env.connected(env.ws, p, "T0SAME").await;
    let (state, reason): (String, Option<String>) =
        sqlx::query_as("SELECT state, state_reason FROM core.integrations WHERE id = $1")
            .bind(first)
            .fetch_one(&env.db.pool)
            .await
            .expect("first");
    assert_eq!(state, "REVOKED");
    assert!(reason.unwrap_or_default().contains(&second.to_string()));
    // Another workspace cannot take it.
    let other = mcp_daemon::integrations::create_workspace(&env.db.pool, "other")
        .await
        .expect("ws");
    let third: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO core.integrations (workspace_id, platform, state) VALUES ($1, 'slack', 'PENDING') RETURNING id",
    )
    .bind(other)
    .fetch_one(&env.db.pool)
    .await
    .expect("third");
    let mut tx = env.db.pool.begin().await.expect("tx");
    let r = mcp_daemon::connections::account::claim(
        &mut tx,
        third,
        p,
        "T0SAME",
        mcp_daemon::connections::account::Claim::Connect,
    )
    .await;
    assert!(
        matches!(
            r,
            Err(mcp_daemon::connections::ConnectError::AccountTaken(_))
        ),
        "{r:?}"
    );
    drop(tx);
    // And the database itself refuses a second live holder, whoever writes it.
    sqlx::query("SELECT mcp.transition_integration_state($1, 'CONNECTED')")
        .bind(third)
        .execute(&env.db.pool)
        .await
        .expect("connected");
    let dup =
        sqlx::query("UPDATE core.integrations SET external_account_id = 'T0SAME' WHERE id = $1")
            .bind(third)
            .execute(&env.db.pool)
            .await;
    assert!(dup.is_err(), "a second live integration of one account");
    env.finish().await;
}

/// An account set by SQL (an import, not a connect) is routed as a connected one is: the route
/// is made wherever `external_account_id` is set, for exactly the app-level platforms.
#[tokio::test]
async fn an_account_imported_by_sql_is_routed() {
    let env = env().await;
    for p in Platform::ALL {
        let id = mcp_testkit::integrations::bare_active(&env.db.pool, env.ws, p).await;
        sqlx::query("UPDATE core.integrations SET external_account_id = $2 WHERE id = $1")
            .bind(id)
            .bind(&accounts(p)[0])
            .execute(&env.db.pool)
            .await
            .expect("import the account");
        let routes = env
            .db
            .scalar_i64(&format!(
                "SELECT count(*) FROM mcp.webhooks WHERE integration_id = '{id}' AND delivery = 'app'"
            ))
            .await;
        assert_eq!(routes, i64::from(APP_LEVEL.contains(&p)), "{p}");
        if APP_LEVEL.contains(&p) {
            let before = env.counts().await;
            let (status, body) = post_app(&env, p, 1, &accounts(p)[0], false).await;
            assert_eq!(status, 200, "{p}: {body}");
            assert!(!body.contains("\"routed\":false"), "{p}: {body}");
            assert_eq!(env.counts().await.0, before.0 + 1, "{p}: stored");
        }
    }
    env.finish().await;
}

/// An app secret rotated at the platform: while `previous_signing_secret` is set, deliveries
/// signed with the secret before the rotation are still taken beside the new one's; one signed
/// with neither is refused and stores nothing. (The test intake has both configured.)
#[tokio::test]
async fn an_app_secret_rotation_takes_the_previous_secret_meanwhile() {
    let env = env().await;
    for p in [Platform::Slack, Platform::Zoom, Platform::Notion] {
        let account = &accounts(p)[0];
        env.connected(env.ws, p, account).await;
        let path = format!("/webhooks/{}", p.as_str());
        let post = |n: u64, secret: String| {
            let body = event_for_account(p, n, account);
            let headers = sign(p, &secret, &body, now(), &path);
            let path = path.clone();
            let env = &env;
            async move { env.post(&path, content_type(p), &headers, &body).await }
        };
        let before = env.counts().await;
        let r = post(1, app_secret_of(p)).await;
        assert_eq!(r.status, 200, "{p} new: {}", r.body);
        let r = post(2, super::previous_app_secret_of(p)).await;
        assert_eq!(r.status, 200, "{p} previous: {}", r.body);
        assert_eq!(env.counts().await.0, before.0 + 2, "{p}: both stored");
        let r = post(3, "neither-of-them".into()).await;
        assert_eq!(r.status, 401, "{p} other: {}", r.body);
        assert_eq!(env.counts().await.0, before.0 + 2, "{p}: nothing more");
    }
    env.finish().await;
}

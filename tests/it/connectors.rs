//! The 13 connectors against the sandbox on loopback: healthy, unauthorized, revoked, rate
//! limited in both Retry-After forms, server error and timeout, and no credential ever shows
//! in an error.

use std::time::Duration;

use mcp_daemon::config::Config;
use mcp_platforms::connectors::{Connectors, Credentials, ErrorType, Platform};
use mcp_platforms::secret::Secret;
use mcp_sandbox::{self as sandbox, FaultKind, Sandbox};

async fn setup() -> (Sandbox, Connectors) {
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    sb.set_hang(Duration::from_secs(3));
    let mut cfg = Config::default();
    cfg.http_client.timeout = Duration::from_millis(300);
    cfg.platforms = sb.config_overrides();
    let c = cfg.connectors().expect("connectors");
    (sb, c)
}

fn creds(p: Platform, pair: &(String, String)) -> Credentials {
    match p {
        Platform::ZeroVoice => Credentials::Basic {
            user: pair.0.clone(),
            secret: Secret::new(pair.1.clone()),
        },
        Platform::Fireflies
        | Platform::Otter
        | Platform::Loom
        | Platform::Granola
        | Platform::ZeroDb => Credentials::ApiKey(Secret::new(pair.0.clone())),
        _ => Credentials::Bearer(Secret::new(pair.0.clone())),
    }
}

/// How each platform signals an expired token, and whether it has a revoke signal.
fn expected_unauthorized(p: Platform) -> ErrorType {
    match p {
        Platform::Slack | Platform::Outlook | Platform::Zoom => ErrorType::AuthExpired,
        _ => ErrorType::AuthInvalid,
    }
}

fn expected_revoked(p: Platform) -> ErrorType {
    match p {
        Platform::Slack => ErrorType::AuthRevoked,
        other => expected_unauthorized(other),
    }
}

fn assert_no_secret(e: &mcp_platforms::connectors::ConnectorError, pair: &(String, String)) {
    let text = format!("{e} {e:?}");
    // (monday issues no refresh token: its second value is empty.)
    assert!(
        pair.1.is_empty() || !text.contains(&pair.1),
        "secret leaked: {text}"
    );
    if !matches!(e.platform, Platform::ZeroVoice) {
        assert!(!text.contains(&pair.0), "token leaked: {text}");
    }
}

#[tokio::test]
async fn every_platform_healthy_and_classified() {
    let (sb, c) = setup().await;
    for p in Platform::ALL {
        let conn = c.get(p);
        assert_eq!(conn.platform(), p);
        let pair = sb.mint_token(p, "alice");
        let cr = creds(p, &pair);

        let id = conn
            .health_check(&cr)
            .await
            .unwrap_or_else(|e| panic!("{p}: {e}"));
        assert!(id.account_id.is_some(), "{p}: no account id");

        let check = |kind: FaultKind, secs: Option<u64>| {
            sb.fault(p, kind, Some(1), secs);
            conn.health_check(&cr)
        };

        let e = check(FaultKind::Unauthorized, None)
            .await
            .expect_err("unauthorized");
        assert_eq!(
            e.error_type,
            expected_unauthorized(p),
            "{p} unauthorized: {e}"
        );
        assert_no_secret(&e, &pair);

        let e = check(FaultKind::Revoked, None).await.expect_err("revoked");
        assert_eq!(e.error_type, expected_revoked(p), "{p} revoked: {e}");
        assert_no_secret(&e, &pair);

        let e = check(FaultKind::RateLimitSeconds, Some(42))
            .await
            .expect_err("429 s");
        assert_eq!(e.error_type, ErrorType::RateLimited, "{p} 429 seconds: {e}");
        let wait = e.retry_after.expect("a wait");
        if p == Platform::Fireflies {
            // Fireflies names the time its quota resets: the wait is what is left of it.
            assert!(
                (Duration::from_secs(40)..=Duration::from_secs(42)).contains(&wait),
                "{p} 429: {wait:?}"
            );
        } else {
            assert_eq!(wait, Duration::from_secs(42), "{p} 429 seconds");
        }
        assert_no_secret(&e, &pair);

        let e = check(FaultKind::RateLimitDate, Some(120))
            .await
            .expect_err("429 date");
        assert_eq!(e.error_type, ErrorType::RateLimited, "{p} 429 date: {e}");
        let wait = e
            .retry_after
            .unwrap_or_else(|| panic!("{p}: no retry_after"));
        assert!(
            (Duration::from_secs(118)..=Duration::from_secs(120)).contains(&wait),
            "{p} 429 date: {wait:?}"
        );

        let e = check(FaultKind::ServerError, None).await.expect_err("500");
        assert_eq!(e.error_type, ErrorType::ServerError, "{p} 500: {e}");
        assert_eq!(e.status, Some(500));

        let e = check(FaultKind::Unavailable, None).await.expect_err("503");
        assert_eq!(e.error_type, ErrorType::ServiceUnavailable, "{p} 503: {e}");

        let e = check(FaultKind::Timeout, None).await.expect_err("timeout");
        assert_eq!(e.error_type, ErrorType::Timeout, "{p} timeout: {e}");
        assert_no_secret(&e, &pair);

        // Healthy again once the faults are spent.
        conn.health_check(&cr)
            .await
            .unwrap_or_else(|e| panic!("{p} after: {e}"));
        assert!(sb.calls(p) >= 9, "{p}: calls {}", sb.calls(p));
    }
}

#[tokio::test]
async fn unknown_and_revoked_tokens_are_refused() {
    let (sb, c) = setup().await;
    for p in Platform::ALL {
        let conn = c.get(p);
        let bogus = ("sbx-not-a-real-token".to_string(), "nope-nope".to_string());
        let bogus = if p == Platform::ZeroVoice {
            (format!("AC{}", "0".repeat(32)), bogus.1)
        } else {
            bogus
        };
        let e = conn
            .health_check(&creds(p, &bogus))
            .await
            .expect_err("bogus");
        assert!(
            matches!(
                e.error_type,
                ErrorType::AuthInvalid | ErrorType::AuthExpired
            ),
            "{p}: {e}"
        );
        assert_no_secret(&e, &bogus);

        let pair = sb.mint_token(p, "bob");
        assert!(sb.revoke_token(&pair.0));
        let e = conn
            .health_check(&creds(p, &pair))
            .await
            .expect_err("revoked");
        assert_eq!(e.error_type, expected_revoked(p), "{p}: {e}");
    }
}

#[tokio::test]
async fn native_rate_limit_forms() {
    let (sb, c) = setup().await;
    for (p, want) in [
        (Platform::Gmail, None),
        (Platform::Monday, Some(Duration::from_secs(9))),
        (Platform::Discord, Some(Duration::from_secs(9))),
    ] {
        let pair = sb.mint_token(p, "carol");
        sb.fault(p, FaultKind::RateLimitNative, Some(1), Some(9));
        let e = c
            .get(p)
            .health_check(&creds(p, &pair))
            .await
            .expect_err("429");
        assert_eq!(e.error_type, ErrorType::RateLimited, "{p}: {e}");
        assert_eq!(e.retry_after, want, "{p}");
    }
    let pair = sb.mint_token(Platform::Gmail, "dave");
    sb.fault(Platform::Gmail, FaultKind::Quota, Some(1), None);
    let e = c
        .get(Platform::Gmail)
        .health_check(&creds(Platform::Gmail, &pair))
        .await
        .expect_err("quota");
    assert_eq!(e.error_type, ErrorType::QuotaExceeded);
}

/// The connectors' OAuth settings and the sandbox's table of what each platform's OAuth server
/// does (`mcp_sandbox::facts`, written from the platforms' documentation on its own) agree:
/// which platforms use OAuth, the scope separator, the client authentication, PKCE, and
/// whether a refresh answers a new refresh token.
#[test]
fn connector_oauth_settings_agree_with_the_documented_oauth_servers() {
    use mcp_platforms::connectors::{registry, ClientAuth};
    use sandbox::facts::{ClientForm, Refresh};
    for p in Platform::ALL {
        let code = registry::defaults(p).oauth;
        let facts = sandbox::facts::oauth(p);
        assert_eq!(code.is_some(), facts.is_some(), "{p}: OAuth or not");
        let (Some(c), Some(f)) = (code, facts) else {
            continue;
        };
        assert_eq!(
            c.scope_separator,
            f.scope_separator.to_string(),
            "{p}: scope separator"
        );
        assert_eq!(c.pkce, f.pkce, "{p}: PKCE");
        assert_eq!(
            c.rotates_refresh_tokens,
            matches!(f.refresh, Refresh::Rotating | Refresh::NewPairOldValid),
            "{p}: a refresh answers a new refresh token"
        );
        let accepted = matches!(
            (c.client_auth, f.client),
            (ClientAuth::Basic, ClientForm::Basic | ClientForm::Either)
                | (ClientAuth::Body, ClientForm::Body | ClientForm::Either)
        );
        assert!(accepted, "{p}: client authentication");
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Authorization code with PKCE, then refresh: Zoom rotates (the old refresh token is then
/// `invalid_grant`), Gmail does not.
#[tokio::test]
async fn sandbox_oauth_code_refresh_and_rotation() {
    let (sb, c) = setup().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for p in [Platform::Zoom, Platform::Gmail] {
        let spec = c.get(p).oauth().cloned().expect("oauth");
        let verifier = "a-verifier-of-sufficient-length-0123456789";
        let loc = http
            .get(&spec.authorize_url)
            .query(&[
                ("client_id", spec.client_id.clone().unwrap_or_default()),
                ("redirect_uri", "http://127.0.0.1:1/cb".into()),
                ("state", "st8".into()),
                ("code_challenge", sandbox::pkce_s256(verifier)),
                ("code_challenge_method", "S256".into()),
            ])
            .send()
            .await
            .expect("authorize");
        assert_eq!(loc.status(), 302);
        let to = url::Url::parse(loc.headers()["location"].to_str().expect("loc")).expect("url");
        let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
        assert_eq!(q["state"], "st8");
        let id = spec.client_id.clone().unwrap_or_default();
        let secret = spec.client_secret.clone().expect("secret");
        let token = |body: String| {
            let req = http
                .post(&spec.token_url)
                .header("content-type", "application/x-www-form-urlencoded");
            let req = match spec.client_auth {
                mcp_platforms::connectors::ClientAuth::Basic => {
                    req.basic_auth(&id, Some(secret.expose()))
                }
                mcp_platforms::connectors::ClientAuth::Body => req,
            };
            req.body(body).send()
        };
        let mut base = vec![
            ("redirect_uri", "http://127.0.0.1:1/cb"),
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
        ];
        if spec.client_auth == mcp_platforms::connectors::ClientAuth::Body {
            base.extend([
                ("client_id", id.as_str()),
                ("client_secret", secret.expose()),
            ]);
        }
        let mut right = base.clone();
        right.push(("code_verifier", verifier));
        let r = token(form(&right)).await.expect("token");
        assert_eq!(r.status(), 200, "{p}: code exchange");
        let v: serde_json::Value = r.json().await.expect("json");
        assert!(
            v["refresh_token"].is_string() && v["expires_in"].is_u64(),
            "{p}: {v}"
        );
        // A code is single use.
        let r = token(form(&right)).await.expect("token");
        assert_eq!(r.status(), 400, "{p}: used code");

        let (_, refresh) = sb.mint_token(p, "erin");
        let mut rf = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ];
        if spec.client_auth == mcp_platforms::connectors::ClientAuth::Body {
            rf.extend([
                ("client_id", id.as_str()),
                ("client_secret", secret.expose()),
            ]);
        }
        let r = token(form(&rf)).await.expect("refresh");
        assert_eq!(r.status(), 200, "{p}: refresh");
        let v: serde_json::Value = r.json().await.expect("json");
        let access = v["access_token"].as_str().expect("access").to_string();
        c.get(p)
            .health_check(&Credentials::Bearer(Secret::new(access)))
            .await
            .expect("refreshed token works");
        let rotated = v["refresh_token"]
            .as_str()
            .is_some_and(|r| r != refresh.as_str());
        assert_eq!(spec.rotates_refresh_tokens, rotated, "{p}");
        let again = token(form(&rf)).await.expect("refresh again");
        let want = if spec.rotates_refresh_tokens {
            400
        } else {
            200
        };
        assert_eq!(again.status(), want, "{p}: reuse of the old refresh token");
    }
}

#[tokio::test]
async fn sandbox_lists_page_with_cursors() {
    let (sb, _c) = setup().await;
    sb.set_items_per_account(7);
    let http = reqwest::Client::new();
    let (tok, _) = sb.mint_token(Platform::Slack, "fred");
    let mut cursor = String::new();
    let mut seen = 0;
    loop {
        let v: serde_json::Value = http
            .get(format!(
                "{}/api/conversations.history",
                sb.platform_base(Platform::Slack)
            ))
            .query(&[
                ("channel", "C1"),
                ("limit", "3"),
                ("cursor", cursor.as_str()),
            ])
            .bearer_auth(&tok)
            .send()
            .await
            .expect("history")
            .json()
            .await
            .expect("json");
        seen += v["messages"].as_array().map_or(0, Vec::len);
        cursor = v["response_metadata"]["next_cursor"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(seen, 7);
    let (tok, _) = sb.mint_token(Platform::Gmail, "fred");
    let r = http
        .get(format!(
            "{}/gmail/v1/users/me/history",
            sb.platform_base(Platform::Gmail)
        ))
        .query(&[("startHistoryId", "5")])
        .bearer_auth(&tok)
        .send()
        .await
        .expect("history");
    assert_eq!(r.status(), 404, "too old a history id");
    let stats: serde_json::Value = http
        .get(format!("{}/_sandbox/stats", sb.base_url()))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["calls"]["slack"], 3);
}

#[tokio::test]
async fn platform_calls_go_over_tls_and_trust_only_known_roots() {
    let (sb, cert_pem) = sandbox::start_https("127.0.0.1:0")
        .await
        .expect("https sandbox");
    assert!(sb.base_url().starts_with("https://"));
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("sandbox-ca.pem");
    std::fs::write(&ca, &cert_pem).expect("write cert");
    let pair = sb.mint_token(Platform::Notion, "tls");
    let creds = creds(Platform::Notion, &pair);

    let mut cfg = Config {
        platforms: sb.config_overrides(),
        ..Default::default()
    };
    cfg.http_client.timeout = Duration::from_secs(5);
    // Without the sandbox's certificate among the trusted roots, the call is refused.
    let untrusted = cfg.connectors().expect("connectors");
    let e = untrusted
        .get(Platform::Notion)
        .health_check(&creds)
        .await
        .expect_err("an unknown certificate authority is refused");
    assert_eq!(e.error_type, ErrorType::Network, "{e}");
    assert_eq!(sb.calls(Platform::Notion), 0, "no request got through");

    cfg.http_client.extra_root_certs = vec![ca];
    let trusted = cfg.connectors().expect("connectors");
    trusted
        .get(Platform::Notion)
        .health_check(&creds)
        .await
        .expect("a health check over TLS");
    assert_eq!(sb.calls(Platform::Notion), 1);
}

/// The sandbox's authorize endpoint splits `scope` by each platform's documented separator
/// (Slack's v2 authorize: commas; RFC 6749's space elsewhere) and sends the other form back as
/// `invalid_scope`, as the platforms do.
#[tokio::test]
async fn the_sandbox_refuses_scopes_joined_with_the_wrong_separator() {
    let (_sb, c) = setup().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let cases = [
        (
            Platform::Slack,
            "channels:history,users:read",
            "channels:history users:read",
        ),
        (Platform::Gmail, "openid email", "openid,email"),
    ];
    for (p, good, bad) in cases {
        let spec = c.get(p).oauth().cloned().expect("oauth");
        for (scope, accepted) in [(good, true), (bad, false)] {
            let r = http
                .get(&spec.authorize_url)
                .query(&[
                    (
                        "client_id",
                        spec.client_id.clone().unwrap_or_default().as_str(),
                    ),
                    ("redirect_uri", "http://127.0.0.1:1/cb"),
                    ("state", "st"),
                    ("scope", scope),
                ])
                .send()
                .await
                .expect("authorize");
            assert_eq!(r.status(), 302, "{p} {scope}");
            let to =
                url::Url::parse(r.headers()["location"].to_str().expect("location")).expect("url");
            let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
            if accepted {
                assert!(q.contains_key("code"), "{p} {scope}: {q:?}");
            } else {
                assert_eq!(
                    q.get("error").map(String::as_str),
                    Some("invalid_scope"),
                    "{p} {scope}"
                );
            }
        }
    }
}

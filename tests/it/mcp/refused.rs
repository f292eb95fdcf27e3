//! Who may not call, and what they are told: no, revoked or expired tokens; JWTs of the wrong
//! audience, key or age; foreign origins and hosts; a caller past its rate; and the management
//! API's tokens. Raw HTTP where the status is the point, the SDK where an assistant is.

use serde_json::{json, Value};

use super::*;
use mcp_sandbox::{sign_test_jwt, GmailTestKey, GMAIL_TEST_JWKS};

const AUDIENCE: &str = "https://mcp.example.test/mcp";
const ISSUER: &str = "https://idp.example.test/";

/// An `initialize` POSTed by hand: its status, `WWW-Authenticate`, body.
async fn post(port: u16, headers: &[(&str, &str)]) -> (u16, String, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "probe", "version": "1"}}})
            .to_string(),
        );
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("post");
    let status = resp.status().as_u16();
    let www = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, www, body)
}

fn jwt(ws: uuid::Uuid, aud: &str, key: GmailTestKey, exp_in: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    sign_test_jwt(
        key,
        &json!({"iss": ISSUER, "aud": aud, "sub": "user-17", "iat": now, "exp": now + exp_in,
                "workspace_id": ws.to_string()}),
    )
}

#[tokio::test]
async fn bad_credentials_origins_and_hosts_are_refused_and_jwts_of_the_provider_are_taken() {
    let db = TestDb::new().await;
    let a = seed(&db, "a", "heron", 100).await;
    let jwks = tempfile::NamedTempFile::new().expect("jwks file");
    std::fs::write(jwks.path(), GMAIL_TEST_JWKS).expect("write jwks");
    let jwks_path = jwks.path().display().to_string();
    let d = daemon(
        &db,
        &[
            ("MCP_WORKER__MCP__JWT_ISSUER", ISSUER),
            ("MCP_WORKER__MCP__JWKS_FILE", &jwks_path),
            ("MCP_WORKER__MCP__RESOURCE_URL", AUDIENCE),
            (
                "MCP_WORKER__MCP__ALLOWED_ORIGINS",
                "[\"http://localhost:*\"]",
            ),
        ],
    )
    .await;
    let live = token_cli(&db.url, a.ws, &[]).await;
    let revoked = token_cli(&db.url, a.ws, &["--name", "old"]).await;
    let expiring = token_cli(&db.url, a.ws, &["--expires", "1s"]).await;
    sqlx::query("UPDATE mcp.mcp_tokens SET revoked_at = now() WHERE name = 'old'")
        .execute(&db.pool)
        .await
        .expect("revoke");
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;

    // No credentials: 401 naming the protected-resource document, which names the issuer.
    let (status, www, _) = post(d.port, &[]).await;
    assert_eq!(status, 401);
    let meta_url = "https://mcp.example.test/.well-known/oauth-protected-resource/mcp";
    assert_eq!(www, format!("Bearer resource_metadata=\"{meta_url}\""));
    let (code, doc) = crate::common::http_get(d.port, "/.well-known/oauth-protected-resource/mcp")
        .await
        .expect("metadata");
    assert_eq!(code, 200);
    let doc: Value = serde_json::from_str(&doc).expect("json");
    assert_eq!(doc["resource"], AUDIENCE);
    assert_eq!(doc["authorization_servers"], json!([ISSUER]));

    let good_jwt = jwt(a.ws, AUDIENCE, GmailTestKey::First, 600);
    let cases: Vec<(&str, String, u16)> = vec![
        ("live token", live.clone(), 200),
        ("revoked token", revoked, 401),
        ("expired token", expiring, 401),
        ("made-up token", format!("mcpt_{}", "x".repeat(43)), 401),
        ("JWT", good_jwt.clone(), 200),
        (
            "JWT for another audience",
            jwt(a.ws, "https://other.example/mcp", GmailTestKey::First, 600),
            401,
        ),
        (
            "JWT of a key not in the JWKS",
            jwt(a.ws, AUDIENCE, GmailTestKey::Second, 600),
            401,
        ),
        (
            "expired JWT",
            jwt(a.ws, AUDIENCE, GmailTestKey::First, -600),
            401,
        ),
    ];
    for (what, cred, want) in cases {
        let bearer = format!("Bearer {cred}");
        let (status, www, _) = post(d.port, &[("authorization", &bearer)]).await;
        assert_eq!(status, want, "{what}");
        if want == 401 {
            assert!(www.contains("error=\"invalid_token\""), "{what}: {www}");
        }
    }
    // Where a call comes from: a foreign Origin or Host is refused even with a good token.
    let bearer = format!("Bearer {live}");
    let (status, _, body) = post(
        d.port,
        &[
            ("authorization", &bearer),
            ("origin", "https://evil.example"),
        ],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = post(
        d.port,
        &[
            ("authorization", &bearer),
            ("origin", "http://localhost:6274"),
        ],
    )
    .await;
    assert_eq!(status, 200, "an allowed origin passes");
    let (status, _, _) = post(
        d.port,
        &[("authorization", &bearer), ("host", "rebound.evil.example")],
    )
    .await;
    assert_eq!(status, 403, "a Host that is not ours (DNS rebinding)");

    // The SDK with the provider's JWT reads the workspace of its claim; with a revoked token
    // it cannot connect.
    let out = drive(http_plan(
        d.port,
        &good_jwt,
        "auto",
        json!([{"op": "call", "tool": "search_items", "args": {"query": "heron"}}]),
    ))
    .await;
    assert_eq!(ok_step(&out, 0)["hits"].as_array().map(Vec::len), Some(5));
    let (_, metrics) = crate::common::http_get(d.port, "/metrics")
        .await
        .expect("metrics");
    let m = mcp_testkit::parse_metrics(&metrics);
    let sum = |name: &str, labels: &[&str]| -> f64 {
        m.iter()
            .filter(|(k, _)| k.starts_with(name) && labels.iter().all(|l| k.contains(l)))
            .map(|(_, v)| *v)
            .sum()
    };
    assert!(
        sum("mcp_mcp_auth_refused_total", &["reason=\"jwt\""]) >= 3.0,
        "{metrics}"
    );
    assert!(
        sum("mcp_mcp_auth_refused_total", &["reason=\"origin\""]) >= 1.0,
        "{metrics}"
    );
    assert!(
        sum(
            "mcp_mcp_calls_total",
            &["tool=\"search_items\"", "outcome=\"ok\""]
        ) >= 1.0,
        "{metrics}"
    );
    drop(d);
    db.drop_db().await;
}

/// A token past its burst gets a tool error with `retry_after_s`; a read-only token may not
/// ask for a sync; the management API makes, lists and revokes tokens for its caller's
/// workspace only.
#[tokio::test]
async fn rates_scopes_and_the_management_api_hold() {
    let db = TestDb::new().await;
    let a = seed(&db, "a", "plover", 100).await;
    let b = seed(&db, "b", "curlew", 100).await;
    let d = daemon(
        &db,
        &[
            ("MCP_WORKER__MCP__CALLS_PER_MINUTE", "1"),
            ("MCP_WORKER__MCP__BURST", "2"),
            ("MCP_WORKER__HTTP__API_TOKEN", "gateway-secret"),
            (
                "MCP_WORKER__OAUTH__REDIRECT_BASE",
                "https://hooks.example.test",
            ),
        ],
    )
    .await;
    let read_only = token_cli(&db.url, a.ws, &["--scope", "read"]).await;
    let out = drive(http_plan(
        d.port,
        &read_only,
        "auto",
        json!([
            {"op": "call", "tool": "request_sync", "args": {"integration_id": a.slack.to_string()}},
            {"op": "call", "tool": "list_integrations"},
            {"op": "call", "tool": "list_integrations"},
            {"op": "call", "tool": "list_integrations"}
        ]),
    ))
    .await;
    assert_eq!(out["ok"], true, "{out}");
    let denied = &out["steps"][0];
    assert_eq!(denied["is_error"], true);
    assert_eq!(denied["structured"]["error"], "denied", "{denied}");
    assert_eq!(out["steps"][1]["is_error"], false);
    assert_eq!(out["steps"][2]["is_error"], false, "the burst is two calls");
    let limited = &out["steps"][3];
    assert_eq!(limited["structured"]["error"], "rate_limited", "{limited}");
    assert!(limited["structured"]["retry_after_s"].as_u64().unwrap_or(0) >= 1);

    // The management API: the gateway makes a token for A; A's workspace token may not make
    // one for B; listing shows no token value; a revoked token is refused at once.
    let admin = format!("http://127.0.0.1:{}", d.admin_port);
    let http = reqwest::Client::new();
    let made: Value = http
        .post(format!("{admin}/mcp/tokens"))
        .bearer_auth("gateway-secret")
        .json(
            &json!({"workspace_id": a.ws.to_string(), "name": "desk", "scopes": ["read"],
                      "expires_in_s": 3600}),
        )
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let tok = made["token"]
        .as_str()
        .expect("token shown once")
        .to_string();
    assert!(tok.starts_with("mcpt_"));
    let (ws_token, _) = mcp_daemon::api_tokens::create(&db.pool, a.ws, "app")
        .await
        .map(|(r, t)| (t, r))
        .expect("workspace api token");
    let status = http
        .post(format!("{admin}/mcp/tokens"))
        .bearer_auth(ws_token.expose())
        .json(&json!({"workspace_id": b.ws.to_string()}))
        .send()
        .await
        .expect("create for b")
        .status();
    assert_eq!(status, 403);
    let listed: Value = http
        .get(format!("{admin}/mcp/tokens"))
        .bearer_auth(ws_token.expose())
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let listed = listed["tokens"].as_array().expect("tokens");
    assert!(listed
        .iter()
        .all(|t| t["workspace_id"] == json!(a.ws.to_string())));
    assert!(listed.iter().all(|t| t.get("token").is_none()));
    let bearer = format!("Bearer {tok}");
    assert_eq!(post(d.port, &[("authorization", &bearer)]).await.0, 200);
    let status = http
        .delete(format!(
            "{admin}/mcp/tokens/{}",
            made["id"].as_str().unwrap_or("")
        ))
        .bearer_auth(ws_token.expose())
        .send()
        .await
        .expect("revoke")
        .status();
    assert_eq!(status, 200);
    assert_eq!(post(d.port, &[("authorization", &bearer)]).await.0, 401);
    drop(d);
    db.drop_db().await;
}

//! Who calls the MCP server. `Authorization: Bearer` carries either a token of
//! `mcp.mcp_tokens` (`mcpt_…`, found by its SHA-256: live, not revoked, not expired) or, when
//! `[mcp] jwt_issuer` is set, a JWT of that identity provider: signed by a key of its JWKS
//! (asymmetric algorithms only), `iss` the issuer, `aud` the server's canonical URL (RFC 8707),
//! not expired, the workspace in the configured claim. Anything else is 401 with
//! `WWW-Authenticate: Bearer resource_metadata="…"` pointing at the RFC 9728 document this
//! module also serves. The caller's `Access` goes into the request's extensions for the tools.
//! A token or JWT is never logged, counted by value or put into an error.

use mcp_queue::pg::Db;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use uuid::Uuid;

use super::config::McpConfig;
use super::tokens;
use mcp_platforms::webhooks::{GmailKeys, GmailKeysConfig};

/// Refused credentials, by reason (`missing`, `unknown`, `jwt`).
pub const REFUSED: &str = "mcp_mcp_auth_refused_total";

/// Who is calling, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub workspace: Uuid,
    /// What the logs and the rate limit know the caller by: `token:<id>` or `jwt:<sub>`.
    pub caller: String,
    pub scopes: Vec<String>,
}

impl Access {
    pub fn may(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("cannot read mcp.jwks_file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("mcp.jwks_file {path} is not a JWKS: {message}")]
    Parse { path: String, message: String },
}

/// The identity provider's keys: a file's set, or the URL's cache.
enum Keys {
    File(Arc<JwkSet>),
    Url(Box<GmailKeys>),
}

/// What `authorize` checks against.
pub struct AuthState {
    pool: Db,
    issuer: String,
    audience: String,
    claim: String,
    keys: Option<Keys>,
    /// The RFC 9728 document's URL (in `WWW-Authenticate`; relative when no public base is
    /// configured: then made absolute from the request's allowed `Host`) and body.
    metadata_url: String,
    metadata: Value,
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl AuthState {
    pub fn new(pool: Db, cfg: &McpConfig, public_base: &str) -> Result<AuthState, AuthSetupError> {
        let resource = cfg.resource(public_base);
        let keys = if cfg.jwt_issuer.is_empty() {
            None
        } else if let Some(set) = check_keys(cfg)? {
            Some(Keys::File(Arc::new(set)))
        } else {
            // The JWKS cache of Gmail's push verification: fetched on demand, an unknown key
            // id fetched again at most once per interval. Its claim checks are not used here.
            GmailKeys::load(&GmailKeysConfig {
                jwks_url: cfg.jwks_url.clone(),
                refetch_interval: cfg.jwks_refetch_interval,
                ..GmailKeysConfig::default()
            })
            .ok()
            .map(|k| Keys::Url(Box::new(k)))
        };
        let mut metadata = json!({
            "resource": resource,
            "bearer_methods_supported": ["header"],
            "scopes_supported": tokens::SCOPES,
            "resource_name": "mcp-worker",
        });
        if !cfg.jwt_issuer.is_empty() {
            metadata["authorization_servers"] = json!([cfg.jwt_issuer]);
        }
        Ok(AuthState {
            pool,
            issuer: cfg.jwt_issuer.clone(),
            audience: resource.clone(),
            claim: cfg.jwt_workspace_claim.clone(),
            keys,
            metadata_url: metadata_url(&resource),
            metadata,
            hosts: cfg.hosts(public_base),
            origins: cfg.origins(public_base),
        })
    }

    pub fn metadata(&self) -> &Value {
        &self.metadata
    }

    fn unauthorized(&self, presented: bool, host: Option<&str>) -> Response {
        let url = match host {
            Some(h) if self.metadata_url.starts_with('/') => {
                format!("http://{h}{}", self.metadata_url)
            }
            _ => self.metadata_url.clone(),
        };
        let mut challenge = format!("Bearer resource_metadata=\"{url}\"");
        if presented {
            challenge.push_str(", error=\"invalid_token\"");
        }
        let mut resp = (
            StatusCode::UNAUTHORIZED,
            Json(json!({
                "error": "unauthorized",
                "message": "present a token of this workspace's (mcp-worker mcp token create) \
                            or a JWT of the configured identity provider: \
                            Authorization: Bearer …",
            })),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }

    /// The caller a presented bearer value is, if any.
    async fn access(&self, bearer: &str) -> Result<Option<Access>, sqlx::Error> {
        if bearer.starts_with(tokens::PREFIX) {
            return match tokens::find(&self.pool, bearer).await {
                Ok(found) => Ok(found.map(|f| Access {
                    workspace: f.workspace_id,
                    caller: format!("token:{}", f.id),
                    scopes: f.scopes,
                })),
                Err(tokens::TokenError::Db(e)) => Err(e),
                Err(_) => Ok(None),
            };
        }
        Ok(self.verify_jwt(bearer).await)
    }

    async fn verify_jwt(&self, jwt: &str) -> Option<Access> {
        let keys = self.keys.as_ref()?;
        let head = jsonwebtoken::decode_header(jwt).ok()?;
        if !matches!(
            head.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
        ) {
            return None;
        }
        let set = match keys {
            Keys::File(set) => set.clone(),
            Keys::Url(cache) => {
                cache.refresh_for(head.kid.as_deref()).await;
                cache.set()?
            }
        };
        let jwk = match head.kid.as_deref() {
            Some(kid) => set.find(kid)?,
            None if set.keys.len() == 1 => set.keys.first()?,
            None => return None,
        };
        let key = DecodingKey::from_jwk(jwk).ok()?;
        let mut v = Validation::new(head.alg);
        v.set_issuer(&[self.issuer.as_str()]);
        v.set_audience(&[self.audience.as_str()]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Value>(jwt, &key, &v).ok()?.claims;
        let workspace = claims
            .get(&self.claim)
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())?;
        let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("?");
        // A `scope` claim narrows the scopes to those of ours it names.
        let scopes: Vec<String> = match claims.get("scope").and_then(Value::as_str) {
            Some(s) => s
                .split_whitespace()
                .filter(|w| tokens::SCOPES.contains(w))
                .map(str::to_string)
                .collect(),
            None => tokens::SCOPES.iter().map(|s| s.to_string()).collect(),
        };
        Some(Access {
            workspace,
            caller: format!("jwt:{sub}"),
            scopes,
        })
    }
}

/// The identity provider's JWKS file, read and parsed, when `[mcp] jwks_file` names one.
pub fn check_keys(cfg: &McpConfig) -> Result<Option<JwkSet>, AuthSetupError> {
    if cfg.jwks_file.is_empty() {
        return Ok(None);
    }
    let path = cfg.jwks_file.clone();
    let text = std::fs::read_to_string(&path).map_err(|source| AuthSetupError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| AuthSetupError::Parse {
            path,
            message: e.to_string(),
        })
}

/// RFC 9728 §3.1: the metadata of `https://h/p` is at `https://h/.well-known/oauth-protected-resource/p`.
pub fn metadata_url(resource: &str) -> String {
    match url::Url::parse(resource) {
        Ok(u) => {
            let path = u.path().trim_end_matches('/');
            format!(
                "{}/.well-known/oauth-protected-resource{}",
                u.origin().ascii_serialization(),
                path
            )
        }
        Err(_) => "/.well-known/oauth-protected-resource/mcp".into(),
    }
}

/// Whether a `Host` value is one of `allowed` (`name`, or `name:port` exactly).
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    allowed
        .iter()
        .any(|a| a.eq_ignore_ascii_case(host) || a.eq_ignore_ascii_case(name))
}

/// Whether an `Origin` is one of `allowed` (exactly, or `scheme://host:*` for any port).
pub fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let parsed = url::Url::parse(origin).ok();
    allowed.iter().any(|a| {
        if a == origin {
            return true;
        }
        match (a.strip_suffix(":*"), &parsed) {
            (Some(prefix), Some(u)) => {
                let bare = format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""));
                prefix.eq_ignore_ascii_case(&bare)
            }
            _ => false,
        }
    })
}

fn forbidden(what: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"error": "forbidden", "message": what})),
    )
        .into_response()
}

/// Refuses a foreign `Host` or `Origin` (403, DNS rebinding and cross-site calls), then lets
/// the request through with its `Access`, or answers 401 (503 when the database cannot say
/// whether a token is valid), before the MCP server reads the body.
pub async fn authorize(State(st): State<Arc<AuthState>>, mut req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if !host.as_deref().is_some_and(|h| host_allowed(h, &st.hosts)) {
        metrics::counter!(REFUSED, "reason" => "host").increment(1);
        return forbidden("this Host is not one the MCP server answers ([mcp] allowed_hosts)");
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let ok = origin
            .to_str()
            .is_ok_and(|o| origin_allowed(o, &st.origins));
        if !ok {
            metrics::counter!(REFUSED, "reason" => "origin").increment(1);
            return forbidden("this Origin may not call the MCP server ([mcp] allowed_origins)");
        }
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let Some(bearer) = bearer else {
        metrics::counter!(REFUSED, "reason" => "missing").increment(1);
        return st.unauthorized(false, host.as_deref());
    };
    match st.access(&bearer).await {
        Ok(Some(access)) => {
            req.extensions_mut().insert(access);
            next.run(req).await
        }
        Ok(None) => {
            let reason = if bearer.starts_with(tokens::PREFIX) {
                "unknown"
            } else {
                "jwt"
            };
            metrics::counter!(REFUSED, "reason" => reason).increment(1);
            tracing::info!(reason, "MCP credentials refused");
            st.unauthorized(true, host.as_deref())
        }
        Err(e) => {
            tracing::warn!(error = %e, "MCP token lookup failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": "unavailable", "message": "the database did not answer; try again"})),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins_match_as_configured() {
        let hosts: Vec<String> = vec![
            "localhost".into(),
            "::1".into(),
            "mcp.example.com:8443".into(),
        ];
        assert!(host_allowed("localhost:9464", &hosts));
        assert!(host_allowed("[::1]:9464", &hosts));
        assert!(host_allowed("mcp.example.com:8443", &hosts));
        assert!(!host_allowed("mcp.example.com:9999", &hosts));
        assert!(!host_allowed("evil.example", &hosts));
        let origins: Vec<String> = vec![
            "https://app.example.com".into(),
            "http://localhost:*".into(),
        ];
        assert!(origin_allowed("https://app.example.com", &origins));
        assert!(origin_allowed("http://localhost:6274", &origins));
        assert!(!origin_allowed("https://evil.example", &origins));
        assert!(!origin_allowed(
            "http://localhost.evil.example:80",
            &origins
        ));
        assert!(!origin_allowed("null", &origins));
    }

    #[test]
    fn the_metadata_lives_beside_the_resource_path() {
        assert_eq!(
            metadata_url("https://mcp.example.com/mcp"),
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url("http://127.0.0.1:9464/base/mcp/"),
            "http://127.0.0.1:9464/.well-known/oauth-protected-resource/base/mcp"
        );
    }
}

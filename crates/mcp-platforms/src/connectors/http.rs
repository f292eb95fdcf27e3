//! The one shared HTTP client of all connectors, and the helpers every platform uses: send a
//! request and turn transport failures into `ConnectorError`, read a bounded response, and
//! classify a non-success response generically before a platform refines it.
//! It must never put a credential, a header value or a whole response body into an error.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::{ratelimit, ConnectorError, Credentials, ErrorType, HttpClientConfig, Platform};

/// At most this much of a response body is read; identity and list answers are far smaller.
const MAX_BODY: usize = 1 << 20;

/// At most this much of a content answer is read (a message, a transcript, a page of blocks):
/// a long transcript or a message with large inline parts runs to a few megabytes.
pub const MAX_CONTENT_BODY: usize = 32 << 20;

/// Why the connectors could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorBuildError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("platforms.{platform}.{field}: {reason}")]
    Invalid {
        platform: String,
        field: &'static str,
        reason: String,
    },
}

/// Builds the one client all connectors share (connection pool, timeouts, user agent).
pub fn build_client(cfg: &HttpClientConfig) -> Result<reqwest::Client, ConnectorBuildError> {
    builder(cfg, reqwest::redirect::Policy::custom(redirect))
}

/// The client of downloads that follow their redirects themselves (Zoom's recording files,
/// `zoom_transcript`): the shared client's settings, no redirect followed.
pub fn build_download_client(
    cfg: &HttpClientConfig,
) -> Result<reqwest::Client, ConnectorBuildError> {
    builder(cfg, reqwest::redirect::Policy::none())
}

fn builder(
    cfg: &HttpClientConfig,
    policy: reqwest::redirect::Policy,
) -> Result<reqwest::Client, ConnectorBuildError> {
    let mut builder = reqwest::Client::builder();
    for path in &cfg.extra_root_certs {
        let bad = |reason: String| {
            ConnectorBuildError::Client(format!(
                "http_client.extra_root_certs: {}: {reason}",
                path.display()
            ))
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| bad(e.to_string()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .redirect(policy)
        .timeout(cfg.timeout)
        .connect_timeout(cfg.connect_timeout)
        .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(cfg.user_agent.clone())
        // rustls with TLS 1.2 as the floor for every platform call.
        .min_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .map_err(|e| ConnectorError::transport_reason(&e))
        .map_err(ConnectorBuildError::Client)
}

/// Redirects of platform calls: a 307 or 308 sends the request again with its body, so a
/// token request's code, refresh token or client secret would go to wherever the answer
/// points: never followed (the answer is then classified as it is). Others (their method
/// becomes GET without a body; credentials are dropped across hosts) are followed up to 5.
fn redirect(a: reqwest::redirect::Attempt) -> reqwest::redirect::Action {
    if matches!(a.status().as_u16(), 307 | 308) || a.previous().len() >= 5 {
        a.stop()
    } else {
        a.follow()
    }
}

/// A response read to its end: status, headers and (bounded) body.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// `Retry-After` and its header variants, relative to now.
    pub fn header_retry_after(&self) -> Option<Duration> {
        ratelimit::from_headers(&self.headers, SystemTime::now())
    }
}

impl ConnectorError {
    /// A classified error with a safe message.
    pub fn new(
        platform: Platform,
        error_type: ErrorType,
        status: Option<u16>,
        code: Option<String>,
        message: impl Into<String>,
    ) -> ConnectorError {
        ConnectorError {
            platform,
            error_type,
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, d: Option<Duration>) -> ConnectorError {
        if d.is_some() {
            self.retry_after = d;
        }
        self
    }

    /// A short reason for a reqwest failure without its URL (which could carry a query secret).
    fn transport_reason(e: &reqwest::Error) -> String {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else if e.is_body() || e.is_decode() {
            "could not read the response body"
        } else if e.is_request() {
            "request failed"
        } else if e.is_builder() {
            "invalid request"
        } else {
            "transport error"
        };
        kind.to_string()
    }

    /// Transport failure → `Timeout` or `Network`.
    pub fn transport(platform: Platform, e: &reqwest::Error) -> ConnectorError {
        let t = if e.is_timeout() {
            ErrorType::Timeout
        } else {
            ErrorType::Network
        };
        ConnectorError::new(platform, t, None, None, Self::transport_reason(e))
    }
}

/// A platform error code made safe to store: at most 64 characters of `[A-Za-z0-9_.:-]`.
pub fn safe_code(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
        .take(64)
        .collect()
}

/// Attaches credentials the usual way: Bearer for tokens and API keys, Basic for Basic.
pub fn authorize(req: reqwest::RequestBuilder, creds: &Credentials) -> reqwest::RequestBuilder {
    match creds {
        Credentials::Bearer(t) | Credentials::ApiKey(t) => req.bearer_auth(t.expose()),
        Credentials::Basic { user, secret } => req.basic_auth(user, Some(secret.expose())),
    }
}

/// Sends and reads the whole (bounded) response; transport failures become `Timeout`/`Network`.
pub async fn send(
    platform: Platform,
    req: reqwest::RequestBuilder,
) -> Result<RawResponse, ConnectorError> {
    send_bounded(platform, req, MAX_BODY).await
}

/// `send`, reading at most `max` bytes of the body (a longer one is `InvalidResponse`).
pub async fn send_bounded(
    platform: Platform,
    req: reqwest::RequestBuilder,
    max: usize,
) -> Result<RawResponse, ConnectorError> {
    let mut resp = req
        .send()
        .await
        .map_err(|e| ConnectorError::transport(platform, &e))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ConnectorError::transport(platform, &e))?
    {
        if body.len() + chunk.len() > max {
            return Err(ConnectorError::new(
                platform,
                ErrorType::InvalidResponse,
                Some(status),
                None,
                "response body too large",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// The generic classification of a non-success status; platforms refine it with their codes.
pub fn error_type_for_status(status: u16) -> ErrorType {
    match status {
        401 => ErrorType::AuthInvalid,
        403 => ErrorType::InsufficientScope,
        404 | 410 => ErrorType::NotFound,
        400 | 422 => ErrorType::BadRequest,
        429 => ErrorType::RateLimited,
        503 => ErrorType::ServiceUnavailable,
        500..=599 => ErrorType::ServerError,
        _ => ErrorType::InvalidResponse,
    }
}

/// A generic error for a non-success response: type from the status, wait from the headers.
pub fn classify_status(
    platform: Platform,
    resp: &RawResponse,
    code: Option<&str>,
) -> ConnectorError {
    let error_type = error_type_for_status(resp.status);
    let code = code.map(safe_code).filter(|c| !c.is_empty());
    let message = match &code {
        Some(c) => format!("HTTP {}: {c}", resp.status),
        None => format!("HTTP {}", resp.status),
    };
    let retry_after = match error_type {
        ErrorType::RateLimited | ErrorType::QuotaExceeded | ErrorType::ServiceUnavailable => {
            resp.header_retry_after()
        }
        _ => None,
    };
    ConnectorError::new(platform, error_type, Some(resp.status), code, message)
        .with_retry_after(retry_after)
}

/// The platform's own code named an error type: that type (with any `Retry-After`); else the
/// status decides, with the code kept.
pub fn coded_or_status(
    platform: Platform,
    resp: &RawResponse,
    error_type: Option<ErrorType>,
    code: Option<&str>,
) -> ConnectorError {
    match (error_type, code) {
        (Some(t), Some(c)) => {
            coded(platform, t, resp, c).with_retry_after(resp.header_retry_after())
        }
        _ => classify_status(platform, resp, code),
    }
}

/// An error of a given type with the platform's code as its message.
pub fn coded(
    platform: Platform,
    error_type: ErrorType,
    resp: &RawResponse,
    code: &str,
) -> ConnectorError {
    let code = safe_code(code);
    ConnectorError::new(
        platform,
        error_type,
        Some(resp.status),
        Some(code.clone()),
        format!("HTTP {}: {code}", resp.status),
    )
}

/// A success status whose body is not what the platform documents.
pub fn invalid_response(platform: Platform, resp: &RawResponse, what: &str) -> ConnectorError {
    ConnectorError::new(
        platform,
        ErrorType::InvalidResponse,
        Some(resp.status),
        None,
        format!("HTTP {}: {what}", resp.status),
    )
}

/// A string or number at a JSON pointer, as text (ids are strings on some platforms, numbers
/// on others).
pub fn json_id(v: &Value, pointer: &str) -> Option<String> {
    match v.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Joins a base URL and a path with exactly one slash between them.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// One platform API's calls with an integration's bearer token: the shared client, the
/// platform's API base and the token (the subscription calls take it).
pub struct Api<'a> {
    pub platform: Platform,
    pub client: &'a reqwest::Client,
    pub api_base: String,
    pub token: &'a crate::secret::Secret,
}

impl Api<'_> {
    /// A request to `path` under the API base, with the bearer token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, join(&self.api_base, path))
            .bearer_auth(self.token.expose())
    }
}

/// A successful answer's JSON; a failure classified by status, a body that is not JSON invalid.
pub fn ok_json(p: Platform, resp: &RawResponse) -> Result<Value, ConnectorError> {
    json_or(p, resp, |r| classify_status(p, r, None))
}

/// A successful answer's JSON; a failure as the platform's `classify` reads it, a body that is
/// not JSON invalid.
pub fn json_or(
    p: Platform,
    resp: &RawResponse,
    classify: impl FnOnce(&RawResponse) -> ConnectorError,
) -> Result<Value, ConnectorError> {
    if !resp.is_success() {
        return Err(classify(resp));
    }
    resp.json()
        .ok_or_else(|| invalid_response(p, resp, "not JSON"))
}

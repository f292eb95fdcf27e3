//! The connectors against the platforms' own documented examples, not the sandbox: a loopback
//! server answers each call with the example response of the platform's API reference (its
//! address beside each fixture) and records what the connector sent, so the request
//! parameters, response fields, account fields and error forms the code relies on are checked
//! against the documentation.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mcp_daemon::config::Config;
use mcp_platforms::connectors::{Connectors, Platform, PlatformOverride};
use mcp_platforms::secret::Secret;

mod content;
mod discord;
mod gmail;
mod notion;
mod oauth_answers;
mod outlook;
mod slack;
mod twilio;
mod zoom;

/// One canned answer: the documented example for `method path`.
pub struct Answer {
    pub method: &'static str,
    pub path: &'static str,
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// `200` with a JSON body.
pub fn json(method: &'static str, path: &'static str, body: &str) -> Answer {
    Answer {
        method,
        path,
        status: 200,
        headers: vec![("content-type", "application/json".into())],
        body: body.to_string(),
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers.get(k).and_then(|v| v.to_str().ok())
    }
}

type Answers = HashMap<(String, String), VecDeque<Answer>>;

/// A loopback server of documented answers. Answers for one `method path` are served in
/// order, the last one again for later calls; anything else is a 404 naming the request.
pub struct DocServer {
    base: String,
    by: Arc<Mutex<Answers>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DocServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DocServer {
    pub async fn start(answers: Vec<Answer>) -> DocServer {
        let by: Arc<Mutex<Answers>> = Arc::new(Mutex::new(HashMap::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (b, s) = (by.clone(), seen.clone());
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (by, seen) = (b.clone(), s.clone());
                async move { answer(&by, &seen, method, uri, headers, body) }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let server = DocServer {
            base: format!("http://{addr}"),
            by,
            seen,
            task,
        };
        server.add(answers);
        server
    }

    /// More answers (for fixtures that name the server's own address).
    pub fn add(&self, answers: Vec<Answer>) {
        let mut by = self.by.lock().expect("answers");
        for a in answers {
            by.entry((a.method.to_string(), a.path.to_string()))
                .or_default()
                .push_back(a);
        }
    }

    pub fn base(&self) -> String {
        self.base.clone()
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }

    /// Connectors with `p` (API and OAuth token URL) pointed at this server.
    pub fn connectors(&self, p: Platform, edit: impl FnOnce(&mut PlatformOverride)) -> Connectors {
        let mut o = PlatformOverride {
            api_base: Some(self.base.clone()),
            token_url: Some(format!("{}/oauth/token", self.base)),
            client_id: Some("doc-client".into()),
            client_secret: Some(Secret::new("doc-secret")),
            ..Default::default()
        };
        edit(&mut o);
        let mut cfg = Config::default();
        cfg.platforms.insert(p.as_str().into(), o);
        cfg.connectors().expect("connectors")
    }
}

fn answer(
    by: &Mutex<Answers>,
    seen: &Mutex<Vec<Seen>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw_query = uri.query().unwrap_or("").to_string();
    let query = url::form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let key = (method.to_string(), uri.path().to_string());
    seen.lock().expect("seen").push(Seen {
        method: key.0.clone(),
        path: key.1.clone(),
        query,
        raw_query,
        headers,
        body,
    });
    let mut by = by.lock().expect("answers");
    let Some(queue) = by.get_mut(&key) else {
        return (
            StatusCode::NOT_FOUND,
            format!("no documented answer for {} {}", key.0, key.1),
        )
            .into_response();
    };
    let a = if queue.len() > 1 {
        queue.pop_front()
    } else {
        queue.front().map(|a| Answer {
            method: a.method,
            path: a.path,
            status: a.status,
            headers: a.headers.clone(),
            body: a.body.clone(),
        })
    };
    let Some(a) = a else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut h = HeaderMap::new();
    for (k, v) in &a.headers {
        if let (Ok(name), Ok(val)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(v),
        ) {
            h.insert(name, val);
        }
    }
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, h, a.body).into_response()
}

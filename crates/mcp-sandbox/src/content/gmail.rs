//! Gmail's `users.messages.get` (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/get)
//! for the listings' messages (`m<history id in hex>`): `format=full` (the default) answers the
//! `Message` resource with its parsed `payload`, `metadata` the headers without bodies,
//! `minimal` neither. Each message is a `multipart/mixed` of a `multipart/alternative`
//! (a text/plain part in ISO-8859-1 marked quoted-printable, a text/html part in UTF-8 marked
//! base64) and a PDF attachment named by `attachmentId`; RFC 2047 encoded `From` and
//! `Subject`. As Gmail does for `format=full`, a part's `body.data` is base64url of the part
//! with its transfer encoding already undone, in its own charset. One message in three holds
//! its text only in HTML, beside a text/plain stub. A message not listed is Google's 404.

use base64::Engine;
use serde_json::{json, Value};

use super::listed;
use crate::forms::json_response;
use crate::req::Req;
use crate::state::State;
use crate::timeline::{GMAIL_LATEST, GMAIL_OLDEST, TS0};
use axum::response::Response;
use mcp_platforms::connectors::Platform;

/// The word only the HTML part of an HTML-only message holds.
pub const HTML_ONLY_WORD: &str = "marmalade";

/// The message id of a `messages.get` path.
pub fn message_id(path: &str) -> Option<&str> {
    path.strip_prefix("/gmail/v1/users/me/messages/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

fn history_id(id: &str) -> Option<u64> {
    u64::from_str_radix(id.strip_prefix('m')?, 16).ok()
}

/// Whether message `id` holds its text only in its HTML part (`HTML_ONLY_WORD` among it), a
/// text/plain stub beside it.
pub fn html_only(id: &str) -> bool {
    history_id(id).is_some_and(|h| h.is_multiple_of(3))
}

/// The listing index of the message added at history id `h`, if it is one of the login's.
fn index(st: &State, h: u64) -> Option<u64> {
    let n = st
        .items_per_account
        .load(std::sync::atomic::Ordering::Relaxed);
    let first = GMAIL_LATEST - n.min(GMAIL_LATEST - GMAIL_OLDEST);
    (h > first && h <= GMAIL_LATEST).then(|| h - first - 1)
}

fn not_found() -> Response {
    json_response(
        404,
        json!({"error": {"code": 404, "message": "Requested entity was not found.",
            "errors": [{"message": "Requested entity was not found.", "domain": "global",
                "reason": "notFound"}], "status": "NOT_FOUND"}}),
        &[],
    )
}

pub fn get(st: &State, r: &Req, login: &str) -> Response {
    let Some(id) = message_id(&r.path) else {
        return not_found();
    };
    let found = history_id(id).and_then(|h| Some((h, index(st, h)?)));
    let Some((h, i)) = found.filter(|&(_, i)| listed(st, Platform::Gmail, login, i)) else {
        return not_found();
    };
    let large = st.content.large(Platform::Gmail, login, i);
    let mut m = message(h, login, large);
    match r.q("format").unwrap_or("full") {
        "full" => {}
        "metadata" => {
            if let Some(p) = m.get_mut("payload").and_then(Value::as_object_mut) {
                p.remove("parts");
            }
        }
        "minimal" => {
            if let Some(o) = m.as_object_mut() {
                o.remove("payload");
            }
        }
        _ => {
            return json_response(
                400,
                json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
                "message": "The sandbox serves format full, metadata and minimal.",
                "errors": [{"domain": "global", "reason": "invalidArgument"}]}}),
                &[],
            )
        }
    }
    json_response(200, m, &[])
}

fn header(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

/// ISO-8859-1 bytes of a text of Latin-1 characters (others become `?`).
fn latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

/// The (plain, HTML) texts of message `h`, and its subject.
fn texts(h: u64, login: &str, large: Option<usize>) -> (String, String, String) {
    if let Some(bytes) = large {
        let mut plain = format!("Bonjour {login},\r\n\r\nVoici la longue lettre {h}.\r\n");
        let mut j = 0;
        while plain.len() < bytes {
            j += 1;
            plain.push_str(&format!(
                "Ligne {j} de la longue lettre, écrite pour remplir la page.\r\n"
            ));
        }
        plain.push_str(&format!("Fin de la lettre {h}.\r\n"));
        let html = "<html><body><p>Voir le texte.</p></body></html>".to_string();
        return (plain, html, format!("La longue lettre {h}"));
    }
    if h.is_multiple_of(3) {
        let plain = "Ce message se lit en HTML.\r\n".to_string();
        let html = format!(
            "<html><head><style>p {{ margin: 0 }}</style></head><body><h1>La lettre {h}</h1>\
             <p>Cette semaine, la confiture de {HTML_ONLY_WORD} maison arrive au marché avec \
             du pain frais, des pommes et du miel.</p><p>Renée</p></body></html>"
        );
        return (plain, html, format!("La lettre {h}"));
    }
    let line = format!("Le café du jour {h} : soupe à l'oignon, pain de campagne et fromage.");
    let plain = format!("Bonjour {login},\r\n\r\n{line}\r\n\r\nRenée\r\n");
    let html = format!(
        "<html><body><p>Bonjour {login},</p><p>{}</p><p>Renée</p></body></html>",
        line.replace('\'', "&#39;")
    );
    (plain, html, format!("=?ISO-8859-1?Q?Caf=E9_du_jour?= {h}"))
}

/// The `Message` of history id `h` as `format=full` answers it.
pub fn message(h: u64, login: &str, large: Option<usize>) -> Value {
    let id = format!("m{h:x}");
    let (plain, html, subject) = texts(h, login, large);
    let plain_bytes = latin1(&plain);
    let secs = TS0 + 60 * h;
    let date = chrono::DateTime::from_timestamp(secs as i64, 0)
        .map(|t| t.to_rfc2822())
        .unwrap_or_default();
    let snippet: String = if h.is_multiple_of(3) && large.is_none() {
        format!("La lettre {h} Cette semaine, la confiture de {HTML_ONLY_WORD} maison")
    } else {
        plain.split_whitespace().collect::<Vec<_>>().join(" ")
    }
    .replace('\'', "&#39;")
    .chars()
    .take(100)
    .collect();
    let pdf = format!("menu-{h}.pdf");
    let payload = json!({
        "partId": "", "mimeType": "multipart/mixed", "filename": "",
        "headers": [
            header("MIME-Version", "1.0"),
            header("Date", &date),
            header("Message-ID", &format!("<{id}@sandbox.test>")),
            header("Subject", &subject),
            header("From", "=?UTF-8?Q?Ren=C3=A9e_Dupont?= <renee@sandbox.test>"),
            header("To", &format!("{login}@sandbox.test")),
            header("Cc", "\"Team\" <team@sandbox.test>"),
            header("Content-Type", &format!("multipart/mixed; boundary=\"mix-{h}\"")),
        ],
        "body": {"size": 0},
        "parts": [
            {"partId": "0", "mimeType": "multipart/alternative", "filename": "",
             "headers": [header("Content-Type", &format!("multipart/alternative; boundary=\"alt-{h}\""))],
             "body": {"size": 0},
             "parts": [
                {"partId": "0.0", "mimeType": "text/plain", "filename": "",
                 "headers": [header("Content-Type", "text/plain; charset=\"ISO-8859-1\""),
                             header("Content-Transfer-Encoding", "quoted-printable")],
                 "body": {"size": plain_bytes.len(), "data": b64url(&plain_bytes)}},
                {"partId": "0.1", "mimeType": "text/html", "filename": "",
                 "headers": [header("Content-Type", "text/html; charset=\"UTF-8\""),
                             header("Content-Transfer-Encoding", "base64")],
                 "body": {"size": html.len(), "data": b64url(html.as_bytes())}},
             ]},
            {"partId": "1", "mimeType": "application/pdf", "filename": pdf,
             "headers": [header("Content-Type", &format!("application/pdf; name=\"{pdf}\"")),
                         header("Content-Disposition", &format!("attachment; filename=\"{pdf}\"")),
                         header("Content-Transfer-Encoding", "base64")],
             "body": {"attachmentId": format!("ANGjdJ{h:x}"), "size": 2048}},
        ],
    });
    json!({
        "id": id, "threadId": format!("t{h:x}"), "labelIds": ["INBOX", "UNREAD"],
        "snippet": snippet, "historyId": h.to_string(),
        "internalDate": (secs * 1000).to_string(),
        "sizeEstimate": plain_bytes.len() + html.len() + 2048 + 1024,
        "payload": payload,
    })
}

//! A Gmail message's MIME tree (`users.messages.get?format=full`: `payload`, a `MessagePart`
//! with `mimeType`, `filename`, `headers[]`, `body` {`data`, `attachmentId`, `size`} and
//! nested `parts[]`) as text, and its headers read by `mail-parser`.
//!
//! Bodies: `body.data` is base64url (Google's docs; padding accepted either way). Google
//! documents no more than that; `format=full` hands a part's content with its transfer
//! encoding already undone (what clients observe; decoding again corrupts `=ed` in
//! `content="IE=edge"`), so quoted-printable is decoded only when the data still is
//! quoted-printable: 7-bit, with `=XX` (upper-case hex) escapes or soft line breaks, and no
//! other `=`. The charset named by `Content-Type` is applied (by `mail-parser`'s decoders),
//! unless the bytes already are non-ASCII UTF-8. Parts are walked in order: a
//! `multipart/alternative` shows one of its parts, text/plain unless that holds under half
//! the words of the richer alternative (a "view this in HTML" stub), HTML then turned into
//! text; other multiparts show every part; attachments are named (`[attachment: a.pdf]`),
//! never fetched.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, Engine};
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Message, MessageParser, MimeHeaders};
use serde_json::Value;

use super::super::fields;
use super::html;

/// What a part contributes to the text.
enum Piece {
    Text(String),
    Attachment(String),
}

/// The text of a `format=full` payload; `None` when it holds none.
pub fn payload_text(payload: &Value) -> Option<String> {
    let mut pieces = Vec::new();
    walk(payload, 0, &mut pieces);
    render(&pieces)
}

/// The headers of a part (`headers[]` of `{name, value}`) as `mail-parser` reads them:
/// RFC 2047 words decoded, addresses parsed. `None` when there are none.
pub fn parse_headers(headers: &[Value]) -> Option<Message<'static>> {
    let mut block = String::new();
    for h in headers {
        let (Some(name), Some(value)) = (
            fields::text(h, "/name"),
            h.get("value").and_then(Value::as_str),
        ) else {
            continue;
        };
        if !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            continue;
        }
        block.push_str(&name);
        block.push_str(": ");
        block.push_str(&value.replace(['\r', '\n'], " "));
        block.push_str("\r\n");
    }
    if block.is_empty() {
        return None;
    }
    block.push_str("\r\n");
    MessageParser::default()
        .parse_headers(block.as_bytes())
        .map(Message::into_owned)
}

/// Deep enough for any real message; a deeper tree is cut there, not followed.
const MAX_DEPTH: usize = 32;

fn walk(part: &Value, depth: usize, out: &mut Vec<Piece>) {
    if depth > MAX_DEPTH {
        return;
    }
    let mime = fields::text(part, "/mimeType")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let headers = parse_headers(fields::array(part, "/headers"));
    let children = fields::array(part, "/parts");
    if let Some(name) = attachment_name(part, &mime, headers.as_ref()) {
        out.push(Piece::Attachment(name));
        return;
    }
    if mime == "multipart/alternative" {
        if let Some(best) = choose(children, depth) {
            out.extend(best);
        }
    } else if !children.is_empty() {
        for child in children {
            walk(child, depth + 1, out);
        }
    } else if mime == "text/plain" || mime == "text/html" {
        let decoded = decode_body(part, headers.as_ref());
        let text = match mime.as_str() {
            "text/html" => decoded.as_deref().and_then(html::to_text),
            _ => decoded.as_deref().and_then(fields::tidy),
        };
        out.extend(text.map(Piece::Text));
    }
}

/// The alternative to show: text/plain unless it holds under half the words of the last
/// (richest) other alternative.
fn choose(children: &[Value], depth: usize) -> Option<Vec<Piece>> {
    let mut plain: Option<Vec<Piece>> = None;
    let mut other: Option<Vec<Piece>> = None;
    for child in children {
        let mut pieces = Vec::new();
        walk(child, depth + 1, &mut pieces);
        if pieces.is_empty() {
            continue;
        }
        let is_plain =
            fields::text(child, "/mimeType").is_some_and(|m| m.eq_ignore_ascii_case("text/plain"));
        if is_plain && plain.is_none() {
            plain = Some(pieces);
        } else if !is_plain {
            other = Some(pieces);
        }
    }
    match (plain, other) {
        (Some(p), Some(o)) if words(&p) * 2 < words(&o) => Some(o),
        (Some(p), _) => Some(p),
        (None, o) => o,
    }
}

fn words(pieces: &[Piece]) -> usize {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) => t.split_whitespace().count(),
            Piece::Attachment(_) => 0,
        })
        .sum()
}

/// A part's attachment name: its `filename`, or, for a part marked `attachment` or one that
/// is neither text nor a container, its `Content-Disposition`/`Content-Type` name or type.
fn attachment_name(part: &Value, mime: &str, headers: Option<&Message<'_>>) -> Option<String> {
    if let Some(name) = fields::text(part, "/filename") {
        return Some(name);
    }
    let disposition = headers.and_then(|h| h.content_disposition());
    let marked = disposition.is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
    let opaque = !mime.is_empty()
        && !mime.starts_with("multipart/")
        && !mime.starts_with("text/")
        && !mime.starts_with("message/");
    if !(marked || opaque) {
        return None;
    }
    let named = disposition
        .and_then(|d| d.attribute("filename"))
        .or_else(|| {
            headers
                .and_then(|h| h.content_type())
                .and_then(|c| c.attribute("name"))
        })
        .map(str::trim)
        .filter(|n| !n.is_empty());
    Some(match named {
        Some(n) => n.to_string(),
        None if mime.is_empty() => "unnamed".to_string(),
        None => mime.to_string(),
    })
}

/// A leaf part's body as text: base64url, quoted-printable if still encoded, charset.
fn decode_body(part: &Value, headers: Option<&Message<'_>>) -> Option<String> {
    let data = part.pointer("/body/data").and_then(Value::as_str)?;
    let mut bytes = base64url(data)?;
    let qp = headers
        .and_then(|h| h.content_transfer_encoding())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("quoted-printable"));
    if qp && still_quoted_printable(&bytes) {
        if let Some(decoded) = quoted_printable_decode(&bytes) {
            bytes = decoded;
        }
    }
    let charset = headers
        .and_then(|h| h.content_type())
        .and_then(|c| c.attribute("charset"));
    Some(to_string(&bytes, charset))
}

/// Base64url with or without padding (standard base64 accepted too); whitespace ignored.
pub fn base64url(data: &str) -> Option<Vec<u8>> {
    let clean: String = data.chars().filter(|c| !c.is_whitespace()).collect();
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&alphabet::URL_SAFE, config)
        .decode(&clean)
        .or_else(|_| GeneralPurpose::new(&alphabet::STANDARD, config).decode(&clean))
        .ok()
}

/// Still quoted-printable: 7-bit, at least one `=`, and every `=` starts an upper-case hex
/// escape or a soft line break (RFC 2045 §6.7): text already decoded has a bare `=` or
/// 8-bit bytes as soon as it has anything the encoding would have escaped.
fn still_quoted_printable(bytes: &[u8]) -> bool {
    let hex = |b: &u8| b.is_ascii_digit() || (b'A'..=b'F').contains(b);
    let mut escapes = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b >= 0x80 {
            return false;
        }
        if *b != b'=' {
            continue;
        }
        let next = &bytes[i + 1..];
        let soft = next.starts_with(b"\r\n") || next.starts_with(b"\n") || next.is_empty();
        let escape = next.len() >= 2 && hex(&next[0]) && hex(&next[1]);
        if !(soft || escape) {
            return false;
        }
        escapes += 1;
    }
    escapes > 0
}

/// Bytes in a named charset as text. UTF-8 is read as UTF-8, invalid sequences replaced;
/// no charset means US-ASCII (RFC 2045). A charset `mail-parser` knows is applied, unless the
/// bytes already are non-ASCII UTF-8 (a part converted, or mislabelled); US-ASCII with 8-bit
/// bytes is read as windows-1252 then. An unknown charset is read as UTF-8.
pub fn to_string(bytes: &[u8], charset: Option<&str>) -> String {
    let label = charset
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("us-ascii");
    let is_utf8 = label.eq_ignore_ascii_case("utf-8") || label.eq_ignore_ascii_case("utf8");
    // 7-bit bytes go through the decoder too: ISO-2022-JP and UTF-7 are 7-bit.
    let decode_it = bytes.is_ascii() || std::str::from_utf8(bytes).is_err();
    if !is_utf8 && decode_it {
        if let Some(decode) = charset_decoder(label.as_bytes()) {
            return decode(bytes);
        }
    }
    String::from_utf8_lossy(bytes).into_owned()
}

fn render(pieces: &[Piece]) -> Option<String> {
    let parts = pieces.iter().map(|p| {
        Some(match p {
            Piece::Text(t) => t.clone(),
            Piece::Attachment(name) => format!("[attachment: {name}]"),
        })
    });
    fields::sections(parts)
}

#[cfg(test)]
#[path = "mime_tests.rs"]
mod tests;

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn part(mime: &str, headers: &[(&str, &str)], data: &[u8]) -> Value {
    let headers: Vec<Value> = headers
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect();
    json!({"partId": "0", "mimeType": mime, "filename": "", "headers": headers,
           "body": {"size": data.len(), "data": b64(data)}})
}

#[test]
fn base64url_is_read_with_or_without_padding() {
    assert_eq!(base64url("aGk_").as_deref(), Some(&b"hi?"[..]));
    assert_eq!(base64url("aGk").as_deref(), Some(&b"hi"[..]));
    assert_eq!(base64url("aGk=").as_deref(), Some(&b"hi"[..]));
    assert_eq!(base64url("aG\r\nk=").as_deref(), Some(&b"hi"[..]));
    assert_eq!(base64url("aGk/").as_deref(), Some(&b"hi?"[..]));
    assert_eq!(base64url("!!"), None);
}

#[test]
fn quoted_printable_is_recognised_only_while_still_encoded() {
    assert!(still_quoted_printable(b"Caf=E9 br=FBl=E9e=\r\nnext"));
    assert!(still_quoted_printable(b"soft break only=\n"));
    // Already decoded: a bare `=`, lower-case "hex", 8-bit bytes, nothing escaped.
    assert!(!still_quoted_printable(b"<meta content=\"IE=edge\">"));
    assert!(!still_quoted_printable(b"IE=ed"));
    assert!(!still_quoted_printable("Café".as_bytes()));
    assert!(!still_quoted_printable(b"plain words"));
}

#[test]
fn charsets_are_applied_unless_the_bytes_already_are_utf8() {
    assert_eq!(to_string(b"caf\xe9", Some("ISO-8859-1")), "café");
    assert_eq!(
        to_string(b"5 \x80 \x96 each", Some("windows-1252")),
        "5 € – each"
    );
    assert_eq!(
        to_string(b"\xd0\xd2\xc9\xd7\xc5\xd4", Some("koi8-r")),
        "привет"
    );
    assert_eq!(to_string("café".as_bytes(), Some("iso-8859-1")), "café");
    assert_eq!(to_string(b"caf\xe9", Some("x-unknown")), "caf\u{fffd}");
    assert_eq!(
        to_string(b"caf\xe9", None),
        "café",
        "US-ASCII with 8-bit bytes"
    );
    assert_eq!(to_string("café".as_bytes(), None), "café");
    assert_eq!(to_string(b"caf\xe9", Some("utf-8")), "caf\u{fffd}");
    assert_eq!(
        to_string(b"\x1b$B$3$s$K$A$O\x1b(B", Some("ISO-2022-JP")),
        "こんにちは"
    );
}

#[test]
fn a_decoded_html_part_is_not_decoded_twice() {
    let html = b"<html><head><meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\"></head>\
        <body><p>Track it at https://t.example/?campaign_id=247164&amp;sig=v2</p></body></html>";
    let p = part(
        "text/html",
        &[
            ("Content-Type", "text/html; charset=\"UTF-8\""),
            ("Content-Transfer-Encoding", "quoted-printable"),
        ],
        html,
    );
    assert_eq!(
        payload_text(&p).as_deref(),
        Some("Track it at https://t.example/?campaign_id=247164&sig=v2")
    );
}

#[test]
fn parts_without_text_are_named_and_opaque_parts_by_their_type() {
    let tree = json!({"mimeType": "multipart/mixed", "filename": "", "headers": [], "body": {"size": 0},
    "parts": [
        part("text/plain", &[("Content-Type", "text/plain")], b"See attached."),
        {"mimeType": "image/png", "filename": "", "headers": [], "body": {"attachmentId": "A1", "size": 10}},
        {"mimeType": "application/octet-stream", "filename": "",
         "headers": [{"name": "Content-Disposition", "value": "attachment; filename=\"notes.txt\""}],
         "body": {"attachmentId": "A2", "size": 10}},
        part("text/plain", &[("Content-Disposition", "attachment")], b"not shown"),
    ]});
    assert_eq!(
        payload_text(&tree).as_deref(),
        Some("See attached.\n\n[attachment: image/png]\n\n[attachment: notes.txt]\n\n[attachment: text/plain]")
    );
}

#[test]
fn headers_are_decoded_and_addresses_parsed() {
    let h = parse_headers(&[
        json!({"name": "Subject", "value": "=?UTF-8?Q?Caf=C3=A9_au_lait?="}),
        json!({"name": "From", "value": "\"Doe, Jane\" <jane@example.com>"}),
        json!({"name": "To", "value": "a@example.com, =?ISO-8859-1?Q?Andr=E9?= <andre@example.com>"}),
        json!({"name": "bad name", "value": "x"}),
        json!({"value": "no name"}),
    ])
    .expect("headers");
    assert_eq!(h.subject(), Some("Café au lait"));
    let from = h.from().and_then(|a| a.first()).expect("from");
    assert_eq!(
        (from.name(), from.address()),
        (Some("Doe, Jane"), Some("jane@example.com"))
    );
    let to: Vec<(Option<&str>, Option<&str>)> = h
        .to()
        .map(|a| a.iter().map(|x| (x.name(), x.address())).collect())
        .unwrap_or_default();
    assert_eq!(
        to,
        [
            (None, Some("a@example.com")),
            (Some("André"), Some("andre@example.com"))
        ]
    );
    assert!(parse_headers(&[]).is_none());
}

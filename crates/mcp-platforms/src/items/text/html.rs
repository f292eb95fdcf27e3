//! HTML to readable text, by `html2text`: block elements become lines, lists keep their
//! bullets and numbers, links keep their address as a numbered footnote, `<head>`, `<style>`
//! and `<script>` are dropped, entities decoded, tables read cell by cell. Lines are not
//! re-wrapped.
//!
//! A message is anyone's to write. HTML parsing takes time quadratic in the nesting depth
//! (10,000 nested `<div>`s: seconds; 100,000: minutes) and html2text panics on some tables:
//! markup nested deeper than `MAX_DEPTH`, or that html2text fails or panics on, has its tags
//! dropped instead (a block tag a line break). Such a panic still reaches the process's panic
//! hook (a line on stderr); it never unwinds past this module.

use super::super::fields::tidy;
use super::vtt::decode_references;

/// Wide enough that no paragraph is wrapped: line breaks stay where the HTML put them.
const WIDTH: usize = 10_000;

/// Deeper than any real message's markup (a thousand levels render in milliseconds).
const MAX_DEPTH: usize = 1_000;

/// Elements that never hold others, so never deepen the nesting.
const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// The text of an HTML document or fragment; `None` when it holds no text.
pub fn to_text(html: &str) -> Option<String> {
    if nesting_exceeds(html, MAX_DEPTH) {
        return tidy(&strip_tags(html));
    }
    // html2text panics on some tables (a row span past a column span); such markup is read
    // without parsing, like markup nested too deep.
    let rendered = std::panic::catch_unwind(|| {
        html2text::config::plain_no_decorate()
            .link_footnotes(true)
            .raw_mode(true)
            .allow_width_overflow()
            .string_from_read(html.as_bytes(), WIDTH)
    });
    let rendered = match rendered {
        Ok(Ok(text)) => text,
        Ok(Err(_)) | Err(_) => strip_tags(html),
    };
    tidy(&rendered)
}

/// The tags of `html`: each one's name (lower-case), whether it closes, whether it closes
/// itself (`/>`), and the text before it.
fn tags(html: &str) -> impl Iterator<Item = (&str, String, bool, bool)> {
    let mut rest = html;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(at) = rest.find('<') else {
            let text = std::mem::take(&mut rest);
            return Some((text, String::new(), false, false));
        };
        let text = &rest[..at];
        let tail = &rest[at + 1..];
        let end = tail.find('>').unwrap_or(tail.len());
        let inner = &tail[..end];
        rest = tail.get(end + 1..).unwrap_or("");
        let closing = inner.starts_with('/');
        let name: String = inner
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        Some((text, name, closing, inner.ends_with('/')))
    })
}

/// Whether elements nest deeper than `limit` (counted roughly: every start tag of a
/// non-void element opens one, every end tag closes one).
fn nesting_exceeds(html: &str, limit: usize) -> bool {
    let mut depth: usize = 0;
    for (_, name, closing, self_closing) in tags(html) {
        if name.is_empty() || self_closing || VOID.contains(&name.as_str()) {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else {
            depth += 1;
            if depth > limit {
                return true;
            }
        }
    }
    false
}

/// Text without its tags: block-level tags become line breaks, character references decoded.
fn strip_tags(html: &str) -> String {
    const BLOCK: [&str; 18] = [
        "br",
        "p",
        "div",
        "li",
        "tr",
        "td",
        "th",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "ul",
        "ol",
        "blockquote",
        "pre",
    ];
    let mut out = String::with_capacity(html.len() / 2);
    for (text, name, _, _) in tags(html) {
        out.push_str(&decode_references(text));
        if BLOCK.contains(&name.as_str()) {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_nested_too_deep_is_read_without_parsing() {
        let n = 20_000;
        let html = format!(
            "{}<p>Deep &amp; wide</p>{}",
            "<div>".repeat(n),
            "</div>".repeat(n)
        );
        let started = std::time::Instant::now();
        assert_eq!(to_text(&html).as_deref(), Some("Deep & wide"));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(!nesting_exceeds("<p>a<br>b<img src=x><hr/></p>", 1));
        assert!(nesting_exceeds("<div><div>", 1));
    }

    #[test]
    fn blocks_become_lines_and_head_is_dropped() {
        let html = "<html><head><title>T</title><style>p {color: red}</style></head>\
            <body><p>One &amp; two</p><ul><li>a</li><li>b</li></ul>\
            <p>See <a href=\"https://example.com/x\">the page</a>.</p></body></html>";
        let text = to_text(html).expect("text");
        assert!(text.starts_with("One & two\n"), "{text}");
        assert!(text.contains("* a\n* b"), "{text}");
        assert!(text.contains("See [the page][1]."), "{text}");
        assert!(text.contains("[1]: https://example.com/x"), "{text}");
        assert!(!text.contains("color"), "{text}");
        assert!(
            !text.contains('T') || !text.lines().any(|l| l == "T"),
            "{text}"
        );
    }

    #[test]
    fn tables_are_read_cell_by_cell() {
        let html =
            "<table><tr><td>Name</td><td>Qty</td></tr><tr><td>Kale</td><td>2</td></tr></table>\
            <p>after</p>";
        assert_eq!(
            to_text(html).as_deref(),
            Some("Name\nQty\nKale\n2\n\nafter")
        );
    }

    #[test]
    fn a_table_html2text_panics_on_is_read_without_it() {
        // A row span past a column span: html2text 0.17 unwraps a missing column there.
        let html = "<table><tr><td colspan=65535>x</td><td rowspan=65535>y</td></tr></table>";
        assert_eq!(to_text(html).as_deref(), Some("x\n\ny"));
    }

    #[test]
    fn markup_without_text_is_none() {
        assert_eq!(to_text("<div> <br> </div>"), None);
        assert_eq!(to_text(""), None);
    }
}

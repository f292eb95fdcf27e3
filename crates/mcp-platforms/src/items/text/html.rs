//! HTML to readable text, by `html2text`: block elements become lines, lists keep their
//! bullets and numbers, links keep their address as a numbered footnote, `<head>`, `<style>`
//! and `<script>` are dropped, entities decoded. Lines are not re-wrapped.

use super::super::fields::tidy;

/// Wide enough that no paragraph is wrapped: line breaks stay where the HTML put them.
const WIDTH: usize = 10_000;

/// The text of an HTML document or fragment; `None` when it holds no text.
pub fn to_text(html: &str) -> Option<String> {
    let rendered = html2text::config::plain_no_decorate()
        .link_footnotes(true)
        .no_table_borders()
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), WIDTH)
        .ok()?;
    tidy(&rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn markup_without_text_is_none() {
        assert_eq!(to_text("<div> <br> </div>"), None);
        assert_eq!(to_text(""), None);
    }
}

//! Slack's message text (https://docs.slack.dev/messaging/formatting-message-text) made
//! readable. `<…>` are Slack's control sequences: `<@U123>` → `@U123` (`<@U123|ann>` →
//! `@ann`), `<#C1|general>` → `#general` (`<#C1>` → `#C1`), `<!here>`/`<!channel>`/
//! `<!everyone>` → `@here`…, `<!subteam^S1|@team>` → `@team`, `<!date^…|fallback>` → the
//! fallback, `<https://x|label>` → `label (https://x)` (`<https://x>` → `https://x`,
//! `<mailto:a@b|a@b>` → `a@b`). Then `&amp;`, `&lt;`, `&gt;` are unescaped: Slack escapes
//! only those three. Bold, italics and code markers are left as written.

/// Slack mrkdwn as plain text.
pub fn to_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('<') {
        out.push_str(&unescape(&rest[..at]));
        let tail = &rest[at + 1..];
        let Some(end) = tail.find('>') else {
            // No `>` left: the rest is text.
            out.push('<');
            out.push_str(&unescape(tail));
            return out;
        };
        if is_control(&tail[..end]) {
            out.push_str(&control(&tail[..end]));
            rest = &tail[end + 1..];
        } else {
            // A `<` of its own (Slack would have escaped it): kept as written, up to the
            // last `<` before that `>` (each scan moves past what it read).
            let upto = tail[..end].rfind('<').unwrap_or(end);
            out.push('<');
            out.push_str(&unescape(&tail[..upto]));
            rest = &tail[upto..];
        }
    }
    out.push_str(&unescape(rest));
    out
}

/// A control sequence starts with `@`, `#`, `!` or a URL scheme (`https:`, `mailto:`).
fn is_control(inner: &str) -> bool {
    if inner.contains('<') {
        return false;
    }
    if inner.starts_with(['@', '#', '!']) {
        return true;
    }
    let scheme = inner.split(':').next().unwrap_or("");
    inner.contains(':')
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
}

/// One control sequence's readable form.
fn control(inner: &str) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((t, l)) => (t, Some(unescape(l)).filter(|l| !l.trim().is_empty())),
        None => (inner, None),
    };
    if let Some(user) = target.strip_prefix('@') {
        return match label {
            Some(l) => format!("@{}", l.trim_start_matches('@')),
            None => format!("@{user}"),
        };
    }
    if let Some(channel) = target.strip_prefix('#') {
        return format!("#{}", label.as_deref().unwrap_or(channel));
    }
    if let Some(special) = target.strip_prefix('!') {
        if let Some(l) = label {
            return l;
        }
        let word = special.split('^').next().unwrap_or(special);
        let id = special.split('^').nth(1);
        return match (word, id) {
            ("subteam", Some(id)) => format!("@{id}"),
            _ => format!("@{word}"),
        };
    }
    let url = unescape(target);
    match label {
        Some(l) if l == url || Some(l.as_str()) == url.strip_prefix("mailto:") => l,
        Some(l) => format!("{l} ({url})"),
        None => url,
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_channels_and_links_read_as_text() {
        assert_eq!(
            to_text(
                "Hey <@U123>, see <#C1|general> and <https://x.example/a?b=1&amp;c=2|the doc>."
            ),
            "Hey @U123, see #general and the doc (https://x.example/a?b=1&c=2)."
        );
        assert_eq!(to_text("<@U9|ann> <#C2> <#C3|>"), "@ann #C2 #C3");
        assert_eq!(to_text("<https://x.example>"), "https://x.example");
        assert_eq!(
            to_text("<https://x.example|https://x.example>"),
            "https://x.example"
        );
        assert_eq!(
            to_text("<mailto:bob@example.com|bob@example.com>"),
            "bob@example.com"
        );
    }

    #[test]
    fn special_mentions_and_dates_read_as_text() {
        assert_eq!(
            to_text("<!here> <!channel> <!subteam^SAZ94GDB8> <!subteam^S1|@design>"),
            "@here @channel @SAZ94GDB8 @design"
        );
        assert_eq!(
            to_text("<!date^1392734382^Posted {date_num}|Posted 2014-02-18>"),
            "Posted 2014-02-18"
        );
    }

    #[test]
    fn escapes_are_unescaped_once() {
        assert_eq!(to_text("a &lt;b&gt; &amp;lt; c"), "a <b> &lt; c");
        assert_eq!(to_text("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2");
        assert_eq!(to_text("x <y <@U1>"), "x <y @U1");
        assert_eq!(to_text("a <b &amp; c"), "a <b & c");
        let many = "<".repeat(100_000) + ">";
        assert_eq!(to_text(&many), many);
    }
}

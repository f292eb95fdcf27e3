//! Reading fields out of a platform's JSON the same way in every mapping: a missing, empty or
//! wrongly typed field is `None`, never an error.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The non-blank string at `ptr` (a JSON pointer), trimmed.
pub fn text(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// The first of `ptrs` that holds a non-blank string.
pub fn first_text(v: &Value, ptrs: &[&str]) -> Option<String> {
    ptrs.iter().find_map(|p| text(v, p))
}

/// An id at `ptr`: a non-empty string, or a number written out.
pub fn id(v: &Value, ptr: &str) -> Option<String> {
    match v.pointer(ptr)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A time at `ptr`: RFC 3339 or RFC 2822 text, Unix seconds or milliseconds (number or
/// text), or a Slack `ts`.
pub fn time(v: &Value, ptr: &str) -> Option<DateTime<Utc>> {
    v.pointer(ptr).and_then(parse_time)
}

/// The first of `ptrs` that holds a readable time.
pub fn first_time(v: &Value, ptrs: &[&str]) -> Option<DateTime<Utc>> {
    ptrs.iter().find_map(|p| time(v, p))
}

/// The array at `ptr`, or an empty slice.
pub fn array<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Sections joined by a blank line, blank ones left out; `None` when nothing is left.
pub fn sections<I, S>(parts: I) -> Option<String>
where
    I: IntoIterator<Item = Option<S>>,
    S: AsRef<str>,
{
    let kept: Vec<String> = parts
        .into_iter()
        .flatten()
        .map(|s| s.as_ref().trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    (!kept.is_empty()).then(|| kept.join("\n\n"))
}

/// Text with its blank lines collapsed (at most one in a row), trailing spaces removed, and
/// the whole trimmed; `None` when nothing is left.
pub fn tidy(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    for line in s.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    (!out.is_empty()).then_some(out)
}

/// A record's time: RFC 3339, RFC 2822 (Twilio's form) or Unix seconds (a number or a
/// numeric string, as Slack's `ts`).
pub(crate) fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    let secs = match v {
        Value::String(s) => {
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                return Some(t.with_timezone(&Utc));
            }
            // Twilio's form: "Tue, 14 Nov 2023 22:13:20 +0000".
            if let Ok(t) = DateTime::parse_from_rfc2822(s) {
                return Some(t.with_timezone(&Utc));
            }
            s.parse::<f64>().ok()?
        }
        Value::Number(n) => n.as_f64()?,
        _ => return None,
    };
    // Milliseconds when it is too large to be seconds.
    let secs = if secs > 1e11 { secs / 1000.0 } else { secs };
    DateTime::from_timestamp(secs.trunc() as i64, (secs.fract() * 1e9) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blank_and_mistyped_fields_are_absent() {
        let v = json!({"a": " x ", "b": "  ", "c": 7, "d": {"e": "y"}});
        assert_eq!(text(&v, "/a").as_deref(), Some("x"));
        assert_eq!(text(&v, "/b"), None);
        assert_eq!(text(&v, "/c"), None);
        assert_eq!(id(&v, "/c").as_deref(), Some("7"));
        assert_eq!(first_text(&v, &["/b", "/d/e"]).as_deref(), Some("y"));
        assert!(array(&v, "/a").is_empty());
    }

    #[test]
    fn tidy_collapses_blank_lines_and_trailing_space() {
        assert_eq!(tidy("  \n a  \n\n\n\nb\t\n\n").as_deref(), Some(" a\n\nb"));
        assert_eq!(tidy(" \n\n"), None);
        assert_eq!(
            sections([Some("a"), None, Some(" "), Some("b")]).as_deref(),
            Some("a\n\nb")
        );
    }
}

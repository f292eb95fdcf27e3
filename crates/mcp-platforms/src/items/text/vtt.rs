//! WebVTT (https://www.w3.org/TR/webvtt1/) to "Speaker: words" lines, read by hand: the
//! `WEBVTT` signature and header, blocks separated by blank lines, `NOTE`, `STYLE` and
//! `REGION` blocks skipped, an optional cue identifier, the timing line with its cue settings
//! (only the timings are checked, the settings ignored), multi-line payloads, `<v Speaker>`
//! voice spans (closed or not), other tags (`<i>`, `<b>`, `<c.x>`, `<lang>`, `<ruby>`,
//! timestamps) dropped and character references decoded. Zoom's transcripts carry no voice
//! spans and write "Speaker Name: words" in each cue: a file without voice spans whose cues
//! mostly read that way has its speakers taken from there.

use super::turns::{self, Turn};

/// The text of a WebVTT file; `None` when it is not one or holds no words.
pub fn to_text(vtt: &str) -> Option<String> {
    turns::render(cue_turns(vtt)?)
}

/// The turns of every cue in order; `None` when the text lacks the `WEBVTT` signature.
pub fn cue_turns(vtt: &str) -> Option<Vec<Turn>> {
    let vtt = vtt.strip_prefix('\u{feff}').unwrap_or(vtt);
    let rest = vtt.strip_prefix("WEBVTT")?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t', '\n', '\r'])) {
        return None;
    }
    let normalized = vtt.replace("\r\n", "\n").replace('\r', "\n");
    let mut cues: Vec<Vec<Turn>> = Vec::new();
    let mut voiced = false;
    for (i, block) in blocks(&normalized).into_iter().enumerate() {
        // The header block ends at its first blank line; a timing line inside it (a file
        // that forgot the blank line) starts the first cue.
        let block = if i == 0 {
            match block.iter().position(|l| l.contains("-->")) {
                Some(at) => &block[at.saturating_sub(1).max(1)..],
                None => continue,
            }
        } else {
            &block[..]
        };
        let Some(payload) = cue_payload(block) else {
            continue;
        };
        voiced |= payload.iter().any(|l| l.contains("<v"));
        cues.push(segments(&payload.join("\n")));
    }
    if !voiced {
        zoom_speakers(&mut cues);
    }
    Some(cues.into_iter().flatten().collect())
}

/// Lines grouped into blocks separated by blank lines.
fn blocks(text: &str) -> Vec<Vec<&str>> {
    let mut out = vec![Vec::new()];
    for line in text.split('\n') {
        if line.trim().is_empty() {
            if out.last().is_some_and(|b| !b.is_empty()) {
                out.push(Vec::new());
            }
        } else if let Some(b) = out.last_mut() {
            b.push(line);
        }
    }
    out.retain(|b| !b.is_empty());
    out
}

/// A cue block's payload lines; `None` for comments, style and region blocks and for
/// blocks with no valid timing line.
fn cue_payload<'a>(block: &[&'a str]) -> Option<Vec<&'a str>> {
    let first = block.first()?;
    for word in ["NOTE", "STYLE", "REGION"] {
        if let Some(after) = first.strip_prefix(word) {
            if after.is_empty() || after.starts_with([' ', '\t']) {
                return None;
            }
        }
    }
    let at = block.iter().take(2).position(|l| l.contains("-->"))?;
    let (start, end) = block[at].split_once("-->")?;
    let end = end.split_whitespace().next().unwrap_or("");
    if !is_timestamp(start.trim()) || !is_timestamp(end) {
        return None;
    }
    Some(block[at + 1..].to_vec())
}

/// `mm:ss.ttt` or `hh:mm:ss.ttt` (hours of any width).
fn is_timestamp(s: &str) -> bool {
    let Some((clock, frac)) = s.split_once('.') else {
        return false;
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    frac.len() == 3
        && digits(frac)
        && (parts.len() == 2 || parts.len() == 3)
        && parts.iter().all(|p| digits(p))
        && parts.iter().skip(parts.len() - 2).all(|p| p.len() == 2)
}

/// A cue's text split at its voice spans. Text outside any span belongs to the span before
/// it (or stands alone at the start).
fn segments(payload: &str) -> Vec<Turn> {
    let mut out: Vec<Turn> = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let (chunk, tag, after) = match rest.find('<') {
            Some(at) => match rest[at..].find('>') {
                Some(close) => (
                    &rest[..at],
                    Some(&rest[at + 1..at + close]),
                    &rest[at + close + 1..],
                ),
                // An unterminated tag runs to the end of the cue.
                None => (&rest[..at], None, ""),
            },
            None => (rest, None, ""),
        };
        if !chunk.is_empty() {
            let words = decode_references(chunk);
            match out.last_mut() {
                Some(last) => last.words.push_str(&words),
                None => out.push(Turn {
                    speaker: None,
                    words,
                }),
            }
        }
        if let Some(tag) = tag {
            // A span's end changes nothing: what follows it stays with it.
            if let Some(speaker) = voice(tag) {
                out.push(Turn {
                    speaker,
                    words: String::new(),
                });
            }
        }
        rest = after;
    }
    out
}

/// A voice start tag's speaker: `Some(annotation)` for `v`, `v.class…` tags.
fn voice(tag: &str) -> Option<Option<String>> {
    let name_end = tag.find([' ', '\t', '\n']).unwrap_or(tag.len());
    let name = &tag[..name_end];
    let is_voice = name == "v" || name.starts_with("v.");
    is_voice.then(|| Some(decode_references(tag[name_end..].trim())).filter(|s| !s.is_empty()))
}

/// Zoom's "Speaker Name: words" cues: applied when at least half the cues read that way.
fn zoom_speakers(cues: &mut [Vec<Turn>]) {
    let named = cues
        .iter()
        .filter(|c| c.first().and_then(|t| name_prefix(&t.words)).is_some())
        .count();
    if named == 0 || named * 2 < cues.len() {
        return;
    }
    for turn in cues.iter_mut().filter_map(|c| c.first_mut()) {
        if let Some((name, words)) = name_prefix(&turn.words) {
            let (name, words) = (name.to_string(), words.to_string());
            turn.speaker = Some(name);
            turn.words = words;
        }
    }
}

/// "Name: words" on the first line: a name of at most 80 characters, with a letter and no
/// colon (so "10:30" is not a name).
fn name_prefix(text: &str) -> Option<(&str, &str)> {
    let first_line = text.split('\n').next().unwrap_or("");
    let at = first_line.find(": ")?;
    let name = first_line[..at].trim();
    let ok = !name.is_empty()
        && name.chars().count() <= 80
        && name.chars().any(char::is_alphabetic)
        && !name.contains(':');
    ok.then(|| (name, text[at + 2..].trim_start()))
}

/// Character references: the named ones WebVTT lists (`&amp;`, `&lt;`, `&gt;`, `&lrm;`,
/// `&rlm;`, `&nbsp;`) and `&quot;`, `&apos;` and numeric ones; unknown ones stay as written.
/// Direction marks are dropped and a no-break space is a space.
pub fn decode_references(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|e| e + 1);
        let decoded = end.filter(|&e| tail[e..].starts_with(';')).and_then(|e| {
            let name = &tail[1..e];
            let ch = match name {
                "amp" => Some("&".to_string()),
                "lt" => Some("<".to_string()),
                "gt" => Some(">".to_string()),
                "quot" => Some("\"".to_string()),
                "apos" => Some("'".to_string()),
                "nbsp" => Some(" ".to_string()),
                "lrm" | "rlm" => Some(String::new()),
                _ => numeric(name).map(String::from),
            }?;
            Some((ch, e + 1))
        });
        match decoded {
            Some((ch, len)) => {
                out.push_str(&ch);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn numeric(name: &str) -> Option<char> {
    let n = name.strip_prefix('#')?;
    let code = match n.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => n.parse().ok()?,
    };
    char::from_u32(code)
}

#[cfg(test)]
#[path = "vtt_tests.rs"]
mod tests;

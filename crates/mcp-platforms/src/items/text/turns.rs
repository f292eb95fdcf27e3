//! Who said what, as "Speaker: words" lines: the shared form of WebVTT transcripts (Zoom) and
//! Fireflies' sentences. Consecutive turns of the same speaker become one line; words without
//! a speaker stay a line of their own, unmerged (captions with no voice are not one speech).

/// A stretch of speech: its speaker when known, and what was said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub speaker: Option<String>,
    pub words: String,
}

/// The turns as lines, consecutive turns of one speaker merged; `None` when no words.
pub fn render(turns: impl IntoIterator<Item = Turn>) -> Option<String> {
    let mut merged: Vec<Turn> = Vec::new();
    for t in turns {
        let words = t.words.split_whitespace().collect::<Vec<_>>().join(" ");
        if words.is_empty() {
            continue;
        }
        let speaker = t
            .speaker
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        match merged.last_mut() {
            Some(last) if speaker.is_some() && last.speaker == speaker => {
                last.words.push(' ');
                last.words.push_str(&words);
            }
            _ => merged.push(Turn { speaker, words }),
        }
    }
    let lines: Vec<String> = merged
        .into_iter()
        .map(|t| match t.speaker {
            Some(s) => format!("{s}: {}", t.words),
            None => t.words,
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// The distinct speakers of `turns`, in the order they first speak.
pub fn speakers(turns: &[Turn]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for s in turns.iter().filter_map(|t| t.speaker.as_deref()) {
        let s = s.trim();
        if !s.is_empty() && !seen.iter().any(|x| x == s) {
            seen.push(s.to_string());
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(speaker: Option<&str>, words: &str) -> Turn {
        Turn {
            speaker: speaker.map(String::from),
            words: words.into(),
        }
    }

    #[test]
    fn consecutive_turns_of_one_speaker_are_one_line() {
        let text = render([
            t(Some("Ann"), "Hello."),
            t(Some("Ann"), " Shall we\nstart?"),
            t(Some("Bo"), "Yes."),
            t(None, "[music]"),
            t(None, "[applause]"),
            t(Some("Ann"), ""),
            t(Some("Ann"), "Good."),
        ]);
        assert_eq!(
            text.as_deref(),
            Some("Ann: Hello. Shall we start?\nBo: Yes.\n[music]\n[applause]\nAnn: Good.")
        );
        assert_eq!(render([t(Some("A"), " ")]), None);
    }

    #[test]
    fn speakers_are_listed_once_in_order() {
        let turns = [
            t(Some("B"), "x"),
            t(None, "y"),
            t(Some("A"), "z"),
            t(Some("B"), "w"),
        ];
        assert_eq!(speakers(&turns), ["B", "A"]);
    }
}

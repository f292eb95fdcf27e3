use super::*;

// https://www.w3.org/TR/webvtt1/#introduction-other-features: "each cue says who is talking
// using voice spans" (classes on the voice tag, a closed span followed by italics).
const W3C_VOICES: &str = include_str!("../fixtures/w3c_voices.vtt");
// https://www.w3.org/TR/webvtt1/#introduction-other-features: two regions of rollup captions,
// voice spans and cue settings (`region:fred align:left`) on every timing line.
const W3C_REGIONS: &str = include_str!("../fixtures/w3c_regions.vtt");
// https://www.w3.org/TR/webvtt1/#introduction-comments: a multi-line NOTE, one-line NOTEs and
// a two-line cue.
const W3C_COMMENTS: &str = include_str!("../fixtures/w3c_comments.vtt");
// https://www.w3.org/TR/webvtt1/#styling: STYLE blocks, a NOTE between them, a cue
// identifier ("hello") and a `<b>` span.
const W3C_STYLE: &str = include_str!("../fixtures/w3c_style.vtt");
// Zoom's cloud-recording transcript (`file_type` TRANSCRIPT, `file_extension` VTT): Zoom
// publishes no sample file, so this one is written in the form its transcripts take (numbered
// cues, CRLF lines, "Speaker Name: words", no voice spans).
const ZOOM: &str = include_str!("../fixtures/zoom_transcript.vtt");

#[test]
fn voice_spans_name_the_speakers_and_classes_are_not_words() {
    assert_eq!(
        to_text(W3C_VOICES).as_deref(),
        Some("Esme: It's a blue apple tree!\nMary: No way!\nEsme: Hee! laughter\nMary: That's awesome!")
    );
}

#[test]
fn cue_settings_and_regions_are_not_text_and_one_speakers_cues_merge() {
    assert_eq!(
        to_text(W3C_REGIONS).as_deref(),
        Some(
            "Fred: Hi, my name is Fred\nBill: Hi, I'm Bill\nFred: Would you like to get a coffee?\n\
             Bill: Sure! I've only had one today.\nFred: This is my fourth! OK, let's go."
        )
    );
}

#[test]
fn notes_are_skipped_and_a_multi_line_cue_is_one_line() {
    assert_eq!(
        to_text(W3C_COMMENTS).as_deref(),
        Some("Never drink liquid nitrogen.\n— It will perforate your stomach. — You could die.")
    );
}

#[test]
fn style_blocks_and_cue_identifiers_are_not_text() {
    assert_eq!(to_text(W3C_STYLE).as_deref(), Some("Hello world."));
}

#[test]
fn zoom_cues_name_their_speaker_before_a_colon() {
    let turns = cue_turns(ZOOM).expect("webvtt");
    assert_eq!(turns::speakers(&turns), ["Priya Raman", "Tom O'Neil"]);
    assert_eq!(
        to_text(ZOOM).as_deref(),
        Some(
            "Priya Raman: Morning, everyone. Can you all hear me? Great.\n\
             Tom O'Neil: Yes, loud and clear. The invoice total was 10:30 a.m. sharp, no wait, the meeting.\n\
             Priya Raman: Let's review the Q3 numbers & the hiring plan."
        )
    );
}

#[test]
fn captions_that_merely_contain_a_colon_keep_their_words() {
    let vtt = "WEBVTT\n\n00:01.000 --> 00:02.000\nNote: the lift is out.\n\n\
               00:02.000 --> 00:03.000\nTake the stairs.\n\n00:03.000 --> 00:04.000\nThanks.\n";
    assert_eq!(
        to_text(vtt).as_deref(),
        Some("Note: the lift is out.\nTake the stairs.\nThanks.")
    );
}

#[test]
fn not_webvtt_is_none_and_broken_blocks_are_skipped() {
    assert_eq!(to_text("WEBVTTX\n\n00:01.000 --> 00:02.000\nhi"), None);
    assert_eq!(
        to_text("1\n00:00:01,000 --> 00:00:02,000\nan SRT file"),
        None
    );
    let vtt = "\u{feff}WEBVTT - with a header\nKind: captions\n\n\
               no timing here\njust words\n\n\
               00:01 --> 00:02.000\nbad start time\n\n\
               00:01.000 --> 00:02.000 align:start\n<c.yellow>Kept</c> <00:01.500>&lt;here&gt; &amp &unknown; &#233;\n\n\
               00:03.000 --> 00:04.000\n<v Ann>unterminated <i";
    assert_eq!(
        to_text(vtt).as_deref(),
        Some("Kept <here> &amp &unknown; é\nAnn: unterminated")
    );
}

#[test]
fn a_timing_line_right_after_the_signature_starts_a_cue() {
    let vtt = "WEBVTT\n00:01.000 --> 00:02.000\n<v Ann>Hi\n\n00:02.000 --> 00:03.000\n<v Ann>there";
    assert_eq!(to_text(vtt).as_deref(), Some("Ann: Hi there"));
}

#[test]
fn timestamps_need_two_digit_minutes_and_three_digit_fractions() {
    for ok in ["00:01.000", "01:02:03.004", "123:00:00.000"] {
        assert!(is_timestamp(ok), "{ok}");
    }
    for bad in [
        "1:02.000",
        "00:01",
        "00:01.00",
        "00:01,000",
        "aa:bb.ccc",
        "",
    ] {
        assert!(!is_timestamp(bad), "{bad}");
    }
}

//! Bounding the text the controller sends (docs/concepts.md#liveness): a condition message
//! or an Event note the API server would refuse must never block a decision.

/// The most bytes a condition message carries. The CRD allows 32,768 characters in a
/// condition's `message`; 4,096 bytes stays well under that whatever the encoding, and an
/// apply body stays small even when a message quotes a huge field of an odd object.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// Ends a text that was cut, so a reader sees that something is missing.
pub const TRUNCATION_MARKER: &str = "… (truncated)";

/// Caps a condition message at [`MAX_MESSAGE_BYTES`]; the controller and `evaluate` apply
/// the same cut, so both write the same bytes and deciding again changes nothing.
pub fn cap_message(message: &str) -> String {
    cap_bytes(message, MAX_MESSAGE_BYTES)
}

/// Cuts `s` at a character boundary so that the result, [`TRUNCATION_MARKER`] included, has
/// at most `max` bytes (for Event notes, which the API server bounds in bytes). Text that
/// fits is returned unchanged, so capping twice gives the same bytes as capping once; when
/// `max` cannot even hold the marker, the text is cut without it.
pub fn cap_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let (room, marker) = match max.checked_sub(TRUNCATION_MARKER.len()) {
        Some(room) => (room, TRUNCATION_MARKER),
        None => (max, ""),
    };
    let mut cut = room;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::with_capacity(cut + marker.len());
    out.push_str(&s[..cut]);
    out.push_str(marker);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_fits_is_unchanged() {
        assert_eq!(cap_bytes("", 0), "");
        assert_eq!(cap_bytes("äöü", 6), "äöü");
        assert_eq!(cap_message("short"), "short");
    }

    #[test]
    fn cuts_at_a_character_boundary_with_the_marker_inside_the_limit() {
        // "é" is 2 bytes, "€" 3, "🦀" 4: every cut position lands inside one of them.
        let text = "é€🦀".repeat(50);
        for max in 0..=text.len() + 2 {
            let capped = cap_bytes(&text, max);
            assert!(capped.len() <= max, "{max}: {} bytes", capped.len());
            if text.len() <= max {
                assert_eq!(capped, text);
                continue;
            }
            if max >= TRUNCATION_MARKER.len() {
                let kept = capped.strip_suffix(TRUNCATION_MARKER);
                let Some(kept) = kept else {
                    panic!("{max}: no marker in {capped:?}");
                };
                assert!(text.starts_with(kept));
                // the longest prefix that fits: one more character would not
                let next = text[kept.len()..].chars().next().map_or(0, char::len_utf8);
                assert!(kept.len() + next + TRUNCATION_MARKER.len() > max, "{max}");
            } else {
                assert!(text.starts_with(&capped), "{max}");
            }
            assert_eq!(cap_bytes(&capped, max), capped, "{max}: capping twice");
        }
    }

    #[test]
    fn a_long_message_is_capped_once_and_stays_capped() {
        let long = "Ünïcödé ".repeat(2000);
        let capped = cap_message(&long);
        assert!(capped.len() <= MAX_MESSAGE_BYTES);
        assert!(capped.ends_with(TRUNCATION_MARKER));
        assert!(capped.len() > MAX_MESSAGE_BYTES - TRUNCATION_MARKER.len() - 4);
        assert_eq!(cap_message(&capped), capped);
    }

    #[test]
    fn an_event_note_fits_one_kibibyte_in_bytes() {
        // 1,024 characters of three bytes each: taking characters would send 3 KiB.
        let note = "€".repeat(1024);
        let capped = cap_bytes(&note, 1024);
        assert!(capped.len() <= 1024);
        assert!(capped.ends_with(TRUNCATION_MARKER));
        assert!(capped.starts_with("€€€"));
    }
}

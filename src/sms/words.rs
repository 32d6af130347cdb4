//! What a text may say and how long it is. Telnyx treats STOP, STOPALL, UNSUBSCRIBE,
//! CANCEL, END and QUIT as opt-out keywords for the whole messaging profile, so no text we
//! send contains one as a word (a customer told to "reply CANCEL" would be cut off from
//! every tenant on the profile). Lengths are counted the way carriers bill them: GSM-7
//! (160 characters in one segment, 153 per segment when split) unless a character needs
//! UCS-2 (70, or 67 per segment).

/// The opt-out keywords no text may contain as a whole word (case-insensitive).
pub const FORBIDDEN: [&str; 6] = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];

/// GSM 03.38 basic character set (one septet each).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// GSM 03.38 extension table (an escape plus one septet: two each).
const GSM_EXTENDED: &str = "^{}\\[~]|€\u{c}";

/// The words of `text`: maximal runs of letters and digits.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The first opt-out keyword `text` contains as a word, if any.
pub fn forbidden_word(text: &str) -> Option<&'static str> {
    words(text).find_map(|w| {
        FORBIDDEN
            .iter()
            .find(|f| w.eq_ignore_ascii_case(f))
            .copied()
    })
}

/// Makes an operator- or caller-supplied value safe to place in a text: every opt-out
/// keyword in it is split after its first letter with a dot (`Full Stop Salon` becomes
/// `Full S.top Salon`), which keeps it readable and leaves no forbidden word behind.
pub fn defuse(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if FORBIDDEN.iter().any(|f| word.eq_ignore_ascii_case(f)) {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                out.push(first);
                out.push('.');
                out.extend(chars);
            }
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in value.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// How a text is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GSM 03.38, 7 bits per character.
    Gsm7,
    /// UTF-16, needed as soon as one character is outside GSM-7.
    Ucs2,
}

/// Encoding, length in that encoding's units, and number of segments of `text`.
pub fn measure(text: &str) -> (Encoding, usize, usize) {
    let mut septets = 0usize;
    let mut gsm = true;
    for c in text.chars() {
        if GSM_BASIC.contains(c) {
            septets += 1;
        } else if GSM_EXTENDED.contains(c) {
            septets += 2;
        } else {
            gsm = false;
            break;
        }
    }
    let (encoding, units, single, multi) = if gsm {
        (Encoding::Gsm7, septets, 160, 153)
    } else {
        (Encoding::Ucs2, text.encode_utf16().count(), 70, 67)
    };
    let parts = if units <= single {
        1
    } else {
        units.div_ceil(multi)
    };
    (encoding, units, parts)
}

/// Number of segments `text` is sent as.
pub fn segments(text: &str) -> usize {
    measure(text).2
}

/// `value` cut to at most `max` characters, at a word boundary when one is near, with no
/// trailing punctuation or space.
pub fn shorten(value: &str, max: usize) -> String {
    if value.chars().count() <= max {
        return value.to_string();
    }
    let cut: String = value.chars().take(max).collect();
    let at_space = cut
        .rfind(' ')
        .filter(|i| cut[..*i].chars().count() >= max / 2);
    let cut = match at_space {
        Some(i) => &cut[..i],
        None => cut.as_str(),
    };
    cut.trim_end_matches(|c: char| !c.is_alphanumeric())
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keywords_are_found_as_whole_words_in_any_case() {
        assert_eq!(forbidden_word("Reply STOP to opt out"), Some("STOP"));
        assert_eq!(forbidden_word("reply cancel"), Some("CANCEL"));
        assert_eq!(forbidden_word("The end."), Some("END"));
        assert_eq!(forbidden_word("quit!"), Some("QUIT"));
        assert_eq!(
            forbidden_word("Stopwatch repairs, cancelled, weekend"),
            None
        );
        assert_eq!(forbidden_word("Can't make it? Reply C."), None);
    }

    #[test]
    fn defusing_splits_keywords_and_keeps_the_rest() {
        assert_eq!(defuse("Full Stop Salon"), "Full S.top Salon");
        assert_eq!(defuse("West END Barbers"), "West E.ND Barbers");
        assert_eq!(defuse("Stopwatch"), "Stopwatch");
        assert_eq!(defuse("quit-smoking clinic"), "q.uit-smoking clinic");
    }

    #[test]
    fn gsm_texts_count_160_then_153() {
        assert_eq!(measure(&"a".repeat(160)), (Encoding::Gsm7, 160, 1));
        assert_eq!(measure(&"a".repeat(161)), (Encoding::Gsm7, 161, 2));
        assert_eq!(measure(&"a".repeat(306)), (Encoding::Gsm7, 306, 2));
        assert_eq!(measure(&"a".repeat(307)), (Encoding::Gsm7, 307, 3));
        assert_eq!(
            measure("€"),
            (Encoding::Gsm7, 2, 1),
            "extension characters take two"
        );
    }

    #[test]
    fn one_non_gsm_character_makes_it_ucs2_70_then_67() {
        assert_eq!(measure(&"é".repeat(10)).0, Encoding::Gsm7);
        assert_eq!(measure(&"東".repeat(70)), (Encoding::Ucs2, 70, 1));
        assert_eq!(measure(&"東".repeat(71)), (Encoding::Ucs2, 71, 2));
        assert_eq!(
            measure(&format!("{}ł", "a".repeat(133))),
            (Encoding::Ucs2, 134, 2)
        );
        assert_eq!(
            measure(&"😀".repeat(35)),
            (Encoding::Ucs2, 70, 1),
            "emoji take two units"
        );
    }

    #[test]
    fn shortening_prefers_a_word_boundary() {
        assert_eq!(shorten("Bella Salon", 20), "Bella Salon");
        assert_eq!(shorten("The Very Long Name Of A Salon", 12), "The Very");
        assert_eq!(shorten("Supercalifragilistic", 5), "Super");
    }

    proptest! {
        #[test]
        fn defused_values_never_contain_a_keyword(s in "(?i)((stop|end|quit|cancel|unsubscribe|stopall|x)[ .,!-]?){0,8}") {
            prop_assert_eq!(forbidden_word(&defuse(&s)), None);
        }
    }
}

//! Escaping for TeXML. Askama calls [`Xml`] for every `{{ value }}` in a `.xml` template;
//! it escapes markup characters and drops characters XML 1.0 does not allow, so no tenant
//! or caller text can make a document invalid. [`CdataJson`] is the one value placed
//! unescaped: JSON for `<Parameters>`, encoded so it can never end the CDATA section.

use std::fmt::{self, Write};

/// True for characters XML 1.0 allows in a document.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Askama escaper for `.xml` templates.
#[derive(Debug, Clone, Copy, Default)]
pub struct Xml;

impl askama::filters::Escaper for Xml {
    /// Scans bytes, not characters: the only characters it changes are ASCII (markup, and
    /// the control characters XML forbids) and U+FFFE/U+FFFF, whose UTF-8 (`EF BF BE`,
    /// `EF BF BF`) starts with a byte no ASCII character has. Runs between them are
    /// written whole. (Surrogates cannot occur in a `str`; every other character is
    /// allowed.)
    fn write_escaped_str<W: Write>(&self, mut dest: W, string: &str) -> fmt::Result {
        let bytes = string.as_bytes();
        let mut last = 0;
        let mut i = 0;
        while i < bytes.len() {
            let (replacement, len) = match bytes[i] {
                b'&' => ("&amp;", 1),
                b'<' => ("&lt;", 1),
                b'>' => ("&gt;", 1),
                b'"' => ("&quot;", 1),
                b'\'' => ("&apos;", 1),
                b'\t' | b'\n' | b'\r' => {
                    i += 1;
                    continue;
                }
                0..0x20 => ("", 1),
                0xEF if matches!(bytes.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])) => ("", 3),
                _ => {
                    i += 1;
                    continue;
                }
            };
            dest.write_str(&string[last..i])?;
            dest.write_str(replacement)?;
            i += len;
            last = i;
        }
        dest.write_str(&string[last..])
    }
}

/// JSON text that is safe inside `<![CDATA[ … ]]>`: every `>` is written as `\u003e` (so
/// `]]>` cannot occur) and characters XML forbids as `\uXXXX` escapes. Both are valid JSON
/// spellings of the same string, so the schema means exactly what was serialised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdataJson(String);

impl CdataJson {
    /// Serialises `value` for a CDATA section.
    pub fn new(value: &serde_json::Value) -> Self {
        let json = value.to_string();
        let mut out = String::with_capacity(json.len() + 16);
        for c in json.chars() {
            if c == '>' || !is_xml_char(c) {
                // Outside strings JSON is plain ASCII without '>', so this only touches string contents.
                let _ = write!(out, "\\u{:04x}", c as u32);
            } else {
                out.push(c);
            }
        }
        Self(out)
    }

    /// The encoded JSON.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CdataJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use askama::filters::Escaper;
    use proptest::prelude::*;

    fn escape(s: &str) -> String {
        let mut out = String::new();
        Xml.write_escaped_str(&mut out, s).unwrap();
        out
    }

    #[test]
    fn markup_is_escaped_and_illegal_characters_dropped() {
        assert_eq!(
            escape("Tom & \"Jerry's\" <b>"),
            "Tom &amp; &quot;Jerry&apos;s&quot; &lt;b&gt;"
        );
        assert_eq!(escape("a\u{0}b\u{1b}c\u{fffe}d\te"), "abcd\te");
        assert_eq!(escape("שלום 💇"), "שלום 💇");
    }

    #[test]
    fn cdata_json_never_closes_the_section() {
        let v = serde_json::json!({"enum": ["a]]>b", "x\u{1}y", "\u{ffff}"]});
        let j = CdataJson::new(&v);
        assert!(!j.as_str().contains("]]>"));
        assert!(j.as_str().chars().all(is_xml_char));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(j.as_str()).unwrap(),
            v
        );
    }

    /// The escaper as first written, character by character: the byte scan must agree.
    fn escape_by_char(string: &str) -> String {
        let mut out = String::new();
        for c in string.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                c if !is_xml_char(c) => {}
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn the_two_non_characters_are_dropped_and_their_neighbours_kept() {
        let s = "a\u{fffe}b\u{ffff}c\u{fffd}d\u{feff}e\u{10ffff}";
        assert_eq!(escape(s), "abc\u{fffd}d\u{feff}e\u{10ffff}");
        assert_eq!(escape(s), escape_by_char(s));
    }

    proptest! {
        #[test]
        fn the_byte_scan_escapes_as_the_character_scan_did(
            s in any::<String>(),
            t in "[\u{0}-\u{7f}\u{fffc}-\u{ffff}\u{efbf}\u{ef}]{0,24}",
        ) {
            prop_assert_eq!(escape(&s), escape_by_char(&s));
            prop_assert_eq!(escape(&t), escape_by_char(&t));
        }

        #[test]
        fn cdata_json_round_trips_any_string(s in "\\PC*|[\\x00-\\x1f\\]>]{0,20}") {
            let v = serde_json::json!({"s": s});
            let j = CdataJson::new(&v);
            prop_assert!(!j.as_str().contains("]]>"));
            prop_assert!(j.as_str().chars().all(is_xml_char));
            prop_assert_eq!(serde_json::from_str::<serde_json::Value>(j.as_str()).unwrap(), v);
        }

        #[test]
        fn escaped_text_has_only_xml_characters_and_no_markup(s in any::<String>()) {
            let e = escape(&s);
            prop_assert!(e.chars().all(is_xml_char));
            prop_assert!(!e.contains('<') && !e.contains('"'));
        }
    }
}

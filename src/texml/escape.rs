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
    fn write_escaped_str<W: Write>(&self, mut dest: W, string: &str) -> fmt::Result {
        let mut last = 0;
        for (i, c) in string.char_indices() {
            let replacement = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&apos;",
                c if !is_xml_char(c) => "",
                _ => continue,
            };
            dest.write_str(&string[last..i])?;
            dest.write_str(replacement)?;
            last = i + c.len_utf8();
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

    proptest! {
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

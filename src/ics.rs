//! The one iCalendar (RFC 5545) writer: every ICS byte slotline serves goes through
//! [`Writer`], so escaping and line folding happen in exactly one place. Lines end in CRLF
//! and are folded at 75 octets (CRLF + one space) without ever splitting a UTF-8 sequence;
//! TEXT values escape backslash, semicolon, comma and newline (§3.3.11); instants are
//! written in UTC (`…Z`), so no VTIMEZONE is needed and no reader can take them for floating
//! time. Property names and parameters are the caller's constants, never user text.

/// Longest content line in octets, CRLF excluded (RFC 5545 §3.1).
pub const MAX_LINE_OCTETS: usize = 75;

/// Builds an iCalendar object line by line.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// `BEGIN:<component>`.
    pub fn begin(&mut self, component: &str) {
        self.line(&format!("BEGIN:{component}"));
    }

    /// `END:<component>`.
    pub fn end(&mut self, component: &str) {
        self.line(&format!("END:{component}"));
    }

    /// A property whose value is written as given: `name` may carry parameters
    /// (`REFRESH-INTERVAL;VALUE=DURATION`); the value must already be valid for its type
    /// (a number, a duration, a status keyword). CR and LF are dropped so no value can
    /// start a line of its own.
    pub fn raw(&mut self, name: &str, value: &str) {
        let value: String = value
            .chars()
            .filter(|c| !matches!(c, '\r' | '\n'))
            .collect();
        self.line(&format!("{name}:{value}"));
    }

    /// A TEXT property, escaped.
    pub fn text(&mut self, name: &str, value: &str) {
        self.line(&format!("{name}:{}", escape_text(value)));
    }

    /// A DATE-TIME property in UTC (`19970714T173000Z`) from Unix seconds.
    pub fn utc(&mut self, name: &str, unix_seconds: i64) {
        self.raw(name, &utc_stamp(unix_seconds));
    }

    /// The finished object.
    pub fn finish(self) -> String {
        self.out
    }

    fn line(&mut self, unfolded: &str) {
        fold_into(&mut self.out, unfolded);
    }
}

/// `value` escaped as an RFC 5545 TEXT value: `\` `;` `,` get a backslash, a newline (LF,
/// CRLF or a lone CR) becomes `\n`, other control characters (which TEXT forbids) are
/// dropped.
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` to `out` folded: at most [`MAX_LINE_OCTETS`] octets per physical line
/// (the leading space of a continuation counts), each ended by CRLF, cut only between
/// characters.
fn fold_into(out: &mut String, line: &str) {
    let mut used = 0;
    for c in line.chars() {
        let width = c.len_utf8();
        if used + width > MAX_LINE_OCTETS {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += width;
    }
    out.push_str("\r\n");
}

/// Unix seconds as a UTC DATE-TIME (`20261120T150000Z`); out-of-range instants (never stored)
/// clamp to the epoch.
pub fn utc_stamp(unix_seconds: i64) -> String {
    let t = jiff::Timestamp::from_second(unix_seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Undoes folding and TEXT escaping the way a reader does (RFC 5545 §3.1, §3.3.11).
    fn unfold(doc: &str) -> Vec<String> {
        doc.replace("\r\n ", "")
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    fn unescape(v: &str) -> String {
        let mut out = String::new();
        let mut chars = v.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n' | 'N') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn text_escapes_the_four_specials_and_newlines() {
        assert_eq!(escape_text(r"a\b;c,d"), r"a\\b\;c\,d");
        assert_eq!(escape_text("x\ny\r\nz\rw"), r"x\ny\nz\nw");
        assert_eq!(escape_text("bell\u{7}tab\t"), "belltab\t");
        assert_eq!(
            escape_text(r"\n"),
            r"\\n",
            "a literal backslash-n stays two characters"
        );
    }

    #[test]
    fn long_lines_fold_at_75_octets_with_a_leading_space() {
        let mut w = Writer::new();
        w.text("SUMMARY", &"a".repeat(200));
        let doc = w.finish();
        let lines: Vec<&str> = doc.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines[0].len(), 75);
        assert!(
            lines[1..]
                .iter()
                .all(|l| l.starts_with(' ') && l.len() <= 75)
        );
        assert_eq!(unfold(&doc), vec![format!("SUMMARY:{}", "a".repeat(200))]);
    }

    #[test]
    fn a_fold_never_splits_a_multibyte_character() {
        let mut w = Writer::new();
        // "SUMMARY:" is 8 octets; 22 emoji of 4 octets put one across octet 75.
        w.text("SUMMARY", &"😀".repeat(22));
        let doc = w.finish();
        for line in doc.split("\r\n") {
            assert!(line.len() <= 75, "{line:?}");
        }
        assert_eq!(unfold(&doc), vec![format!("SUMMARY:{}", "😀".repeat(22))]);
    }

    #[test]
    fn raw_values_cannot_inject_a_line() {
        let mut w = Writer::new();
        w.raw("X-TEST", "1\r\nEND:VCALENDAR");
        assert_eq!(w.finish(), "X-TEST:1END:VCALENDAR\r\n");
    }

    #[test]
    fn instants_are_written_in_utc() {
        assert_eq!(utc_stamp(1_795_186_800), "20261120T150000Z");
        assert_eq!(utc_stamp(0), "19700101T000000Z");
    }

    proptest! {
        #[test]
        fn any_text_survives_escaping_and_folding(name in "[A-Z]{1,12}", value in any::<String>()) {
            let mut w = Writer::new();
            w.text(&name, &value);
            let doc = w.finish();
            prop_assert!(doc.ends_with("\r\n"));
            for line in doc.split("\r\n") {
                prop_assert!(line.len() <= MAX_LINE_OCTETS, "{:?}", line);
                prop_assert!(!line.contains('\r') && !line.contains('\n'));
            }
            let lines = unfold(&doc);
            prop_assert_eq!(lines.len(), 1);
            let (got_name, got_value) = lines[0].split_once(':').unwrap();
            prop_assert_eq!(got_name, name.as_str());
            // What a reader gets back: the value with newlines normalised to LF and other
            // control characters dropped.
            let expected: String = value
                .replace("\r\n", "\n")
                .replace('\r', "\n")
                .chars()
                .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
                .collect();
            prop_assert_eq!(unescape(got_value), expected);
        }

        #[test]
        fn escaped_text_has_no_bare_specials(value in any::<String>()) {
            let escaped = escape_text(&value);
            let mut chars = escaped.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    let next = chars.next();
                    prop_assert!(matches!(next, Some('\\' | ';' | ',' | 'n')), "{:?}", next);
                } else {
                    prop_assert!(!matches!(c, ';' | ',' | '\n' | '\r'));
                }
            }
        }
    }
}

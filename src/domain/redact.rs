//! Redacting `Debug` for rows that carry callers' names and numbers: a `{:?}` of them in a
//! log line shows which fields are there, never who the caller is. Numbers are masked
//! ([`super::mask`]), names and free text hidden.

use std::fmt;

/// Debug of a name or free text: its length only.
pub struct Hidden<'a>(pub &'a str);

impl fmt::Debug for Hidden<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} chars]", self.0.chars().count())
    }
}

/// Debug of a phone number (or what a caller claimed as one): masked.
pub struct Masked<'a>(pub Option<&'a str>);

impl fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => f.write_str(&super::mask(n)),
            None => f.write_str("None"),
        }
    }
}

/// An error message made safe to log: parsers (serde among them) quote the value they
/// refused, which may be a caller's name or number. Every quoted part becomes its length,
/// every other run of 4+ digits is masked, and the result is at most 300 characters.
pub fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(300));
    let mut chars = message.chars().peekable();
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 4 {
            out.push_str(&"*".repeat(digits.len() - 2));
            out.push_str(&digits[digits.len() - 2..]);
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        flush(&mut digits, &mut out);
        if c == '"' || c == '`' {
            let mut len = 0usize;
            for q in chars.by_ref() {
                if q == c {
                    break;
                }
                len += 1;
            }
            out.push_str(&format!("{c}[{len} chars]{c}"));
        } else {
            out.push(c);
        }
        if out.chars().count() >= 300 {
            break;
        }
    }
    flush(&mut digits, &mut out);
    out.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn serde_messages_keep_their_shape_but_not_the_values() {
        let e = serde_json::from_str::<std::collections::HashMap<String, u32>>(
            r#"{"from": "+13125550199 Jane Roe"}"#,
        )
        .unwrap_err();
        let shown = scrub(&e.to_string());
        assert!(
            !shown.contains("Jane") && !shown.contains("5550199"),
            "{shown}"
        );
        assert!(
            shown.starts_with("invalid type: string \"[21 chars]\""),
            "{shown}"
        );
        assert!(shown.contains("line 1 column"), "{shown}");
        assert_eq!(scrub("call 3125550199 now"), "call ********99 now");
    }

    #[test]
    fn debug_of_hidden_and_masked_values_shows_no_value() {
        assert_eq!(format!("{:?}", Hidden("Jane Roe")), "[8 chars]");
        assert_eq!(
            format!("{:?}", Masked(Some("+13125550199"))),
            "+1********99"
        );
        assert_eq!(format!("{:?}", Masked(None)), "None");
    }

    proptest! {
        #[test]
        fn no_quoted_text_or_long_number_survives(secret in "[A-Za-z]{6,12}", n in 10_000u64..u64::MAX) {
            let shown = scrub(&format!("invalid value: \"{secret}\" and {n}, expected x"));
            prop_assert!(!shown.contains(&secret));
            let n = n.to_string();
            prop_assert!(!shown.contains(&n[..n.len() - 2]));
        }
    }
}

//! E.164 phone numbers: normalised on parse (spaces, dashes, dots and brackets dropped),
//! and masked whenever they are logged.

use std::fmt;

/// A phone number in E.164 form: `+` and 8 to 15 digits, the first not 0.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

/// Why a string is not an E.164 number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an E.164 phone number; write it as + then country code and number, e.g. +13125550100"
)]
pub struct PhoneError(pub String);

impl PhoneNumber {
    /// Parses and normalises `input`; separators people type (` -.()`) are ignored.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        let rest = trimmed
            .strip_prefix('+')
            .ok_or_else(|| PhoneError(input.to_string()))?;
        let mut digits = String::with_capacity(16);
        digits.push('+');
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneError(input.to_string())),
            }
        }
        let count = digits.len() - 1;
        if !(8..=15).contains(&count) || digits.as_bytes()[1] == b'0' {
            return Err(PhoneError(input.to_string()));
        }
        Ok(Self(digits))
    }

    /// The normalised number, e.g. `+13125550100`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The masked form for logs.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }

    /// The country calling code, without `+` (`1` for the NANP, `44`, `353`...). ITU
    /// assigns these prefix-free: `1` and `7` are the one-digit codes, [`TWO_DIGIT_CODES`]
    /// the two-digit ones, and every other code has three digits.
    pub fn country_calling_code(&self) -> &str {
        let digits = &self.0[1..];
        let len = match digits.as_bytes()[0] {
            b'1' | b'7' => 1,
            _ if TWO_DIGIT_CODES.contains(&&digits[..2]) => 2,
            _ => 3,
        };
        &digits[..len]
    }
}

/// The two-digit country calling codes (ITU-T E.164 assignments).
pub const TWO_DIGIT_CODES: &[&str] = &[
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
    "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65",
    "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
];

/// Masks a phone number (or anything that may be one) for logs: the country code and the
/// last two digits stay, every other character becomes `*`, e.g. `+1********99`. Anything
/// that is not `+` and digits, or too short to keep four digits hidden, is masked whole.
pub fn mask(raw: &str) -> String {
    let digits = raw.strip_prefix('+').unwrap_or_default();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return "***".into();
    }
    let cc = country_code_len(digits);
    if digits.len() < cc + 6 {
        return format!("+{}***", &digits[..cc.min(digits.len())]);
    }
    let hidden = digits.len() - cc - 2;
    format!(
        "+{}{}{}",
        &digits[..cc],
        "*".repeat(hidden),
        &digits[digits.len() - 2..]
    )
}

/// Length of the E.164 country code that `digits` starts with (ITU-T E.164 assignments:
/// 1 and 7 are one digit; the two-digit codes are listed; every other code has three).
fn country_code_len(digits: &str) -> usize {
    const TWO_DIGIT: &[&str] = &[
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    match digits.as_bytes().first() {
        Some(b'1' | b'7') => 1,
        _ if digits.get(..2).is_some_and(|p| TWO_DIGIT.contains(&p)) => 2,
        _ => 3.min(digits.len()),
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Debug is masked too, so a number inside a logged struct does not leak.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_are_normalised() {
        for (input, want) in [
            ("+13125550100", "+13125550100"),
            (" +1 (312) 555-0100 ", "+13125550100"),
            ("+49.30.1234567", "+49301234567"),
        ] {
            assert_eq!(PhoneNumber::parse(input).unwrap().as_str(), want);
        }
    }

    #[test]
    fn non_e164_numbers_are_refused() {
        for input in [
            "",
            "13125550100",
            "+0123456789",
            "+1234567",
            "+1234567890123456",
            "+1312abc0100",
            "++13125550100",
        ] {
            assert!(PhoneNumber::parse(input).is_err(), "{input}");
        }
    }

    #[test]
    fn masking_keeps_the_country_code_and_the_last_two_digits() {
        for (number, masked) in [
            ("+13125550199", "+1********99"),
            ("+447911123456", "+44********56"),
            ("+35312345678", "+353******78"),
            ("+4912345", "+49***"),
            ("short", "***"),
            ("+1312abc0199", "***"),
            ("", "***"),
        ] {
            assert_eq!(mask(number), masked, "{number}");
        }
        assert_eq!(
            format!("{:?}", PhoneNumber::parse("+13125550199").unwrap()),
            "PhoneNumber(+1********99)"
        );
    }

    #[test]
    fn country_calling_codes_are_read_by_their_prefix_free_lengths() {
        for (number, code) in [
            ("+13125550100", "1"),
            ("+18765550100", "1"),
            ("+74951234567", "7"),
            ("+442079460000", "44"),
            ("+4915112345678", "49"),
            ("+353861234567", "353"),
            ("+2348031234567", "234"),
            ("+971501234567", "971"),
            ("+8801712345678", "880"),
        ] {
            assert_eq!(
                PhoneNumber::parse(number).unwrap().country_calling_code(),
                code,
                "{number}"
            );
        }
    }

    proptest! {
        #[test]
        fn a_country_code_is_a_one_to_three_digit_prefix_of_the_number(s in "\\+[1-9][0-9]{7,14}") {
            let n = PhoneNumber::parse(&s).unwrap();
            let code = n.country_calling_code();
            prop_assert!((1..=3).contains(&code.len()));
            prop_assert!(n.as_str()[1..].starts_with(code));
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_valid_output_reparses(s in "\\PC{0,24}") {
            if let Ok(p) = PhoneNumber::parse(&s) {
                prop_assert_eq!(PhoneNumber::parse(p.as_str()).unwrap(), p.clone());
                let (n, m) = (p.as_str(), p.masked());
                let shown = m.bytes().filter(u8::is_ascii_digit).count();
                prop_assert!(shown <= 5, "{} shows {} digits", m, shown);
                prop_assert!(n.len() - 1 - shown >= 4, "{} hides fewer than 4 digits", m);
            }
        }
    }
}

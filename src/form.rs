//! Form bodies (`application/x-www-form-urlencoded`) decoded into a struct reading only the
//! fields it names. A Telnyx voice request carries a dozen fields of which the voice URL
//! reads three; serde_urlencoded percent-decodes every key and value before the struct
//! ignores most of them, which was a sixth of the unsigned voice URL's instructions
//! (bench/instructions). Here the pairs whose key the struct does not name are dropped
//! first, byte for byte, and serde_urlencoded decodes the rest: the same values, the same
//! errors, for less.
//!
//! The names come from serde itself: a derived `Deserialize` for a struct hands the
//! deserializer its field names and aliases (`deserialize_struct`'s `fields`). A target
//! that asks for a map instead (a `HashMap`, a struct with `#[serde(flatten)]`) gets every
//! pair, as before. Not for structs with `#[serde(deny_unknown_fields)]`: the fields they
//! would refuse are no longer there to refuse (no form here uses it).

use std::cell::Cell;

use serde::de::{self, DeserializeOwned, Visitor};

use crate::scan::find;

/// Decodes `body` as a form into `T`, as `serde_urlencoded::from_bytes` does.
pub fn from_bytes<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_urlencoded::de::Error> {
    match fields_of::<T>() {
        Some(fields) => serde_urlencoded::from_bytes(&only(body, fields)),
        None => serde_urlencoded::from_bytes(body),
    }
}

/// The pairs of `body` whose key may be one of `fields`, in their order, joined by `&`.
/// A key is kept when its bytes are a field's name, or when it has a `%` or `+` (its
/// decoded form may be one; serde_urlencoded decides). Any other key decodes to itself
/// (or, not being UTF-8, to text with U+FFFD, which no field name has), so no pair the
/// struct reads is dropped.
fn only(body: &[u8], fields: &[&str]) -> Vec<u8> {
    let mut kept = Vec::with_capacity(body.len().min(512));
    let mut rest = Some(body);
    while let Some(left) = rest {
        let (pair, after) = match find(left, b'&') {
            Some(amp) => (&left[..amp], Some(&left[amp + 1..])),
            None => (left, None),
        };
        rest = after;
        let key = find(pair, b'=').map_or(pair, |eq| &pair[..eq]);
        let wanted = fields.iter().any(|f| f.as_bytes() == key)
            || key.iter().any(|&b| b == b'%' || b == b'+');
        if wanted && !pair.is_empty() {
            if !kept.is_empty() {
                kept.push(b'&');
            }
            kept.extend_from_slice(pair);
        }
    }
    kept
}

/// The field names (and aliases) `T` asks a deserializer for, when it asks for a struct.
fn fields_of<T: DeserializeOwned>() -> Option<&'static [&'static str]> {
    let seen = Cell::new(None);
    // The probe answers every request with an error, so nothing is built.
    let _ = T::deserialize(Probe(&seen));
    seen.get()
}

/// A deserializer that only notes the field names of a struct and then gives up.
struct Probe<'a>(&'a Cell<Option<&'static [&'static str]>>);

/// The probe's way of giving up.
#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names noted")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Stop
    }
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        self.0.set(Some(fields));
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Voice {
        call_sid: String,
        #[serde(default)]
        from: Option<String>,
        #[serde(default, alias = "Called")]
        to: Option<String>,
        #[serde(default)]
        duration: Option<u32>,
    }

    const TELNYX: &str = "AccountSid=6a9a7976&CallSid=v3%3Aabc&CallSidLegacy=v3%3Aabc&CallStatus=in-progress\
        &From=%2B17735550000&FromSipUri=%2B17735550000%40192.76.120.10&To=%2B13125550100";

    fn both<T: DeserializeOwned + PartialEq + std::fmt::Debug>(body: &str) {
        let full = serde_urlencoded::from_bytes::<T>(body.as_bytes()).map_err(|e| e.to_string());
        let fast = from_bytes::<T>(body.as_bytes()).map_err(|e| e.to_string());
        assert_eq!(fast, full, "{body:?}");
    }

    #[test]
    fn a_struct_gets_the_values_it_names_and_nothing_else_is_decoded() {
        let v: Voice = from_bytes(TELNYX.as_bytes()).unwrap();
        assert_eq!(v.call_sid, "v3:abc");
        assert_eq!(v.from.as_deref(), Some("+17735550000"));
        assert_eq!(v.to.as_deref(), Some("+13125550100"));
        assert_eq!(
            only(TELNYX.as_bytes(), fields_of::<Voice>().unwrap()),
            b"CallSid=v3%3Aabc&From=%2B17735550000&To=%2B13125550100"
        );
    }

    #[test]
    fn aliases_encoded_keys_and_errors_are_as_serde_urlencoded_has_them() {
        both::<Voice>("CallSid=a&Called=%2B1312");
        both::<Voice>("Call%53id=a&To=x");
        both::<Voice>("Call+Sid=a&CallSid=b");
        both::<Voice>("CallSid=a&Duration=12");
        both::<Voice>("CallSid=a&Duration=twelve");
        both::<Voice>("CallSid=a&CallSid=b");
        both::<Voice>("From=x");
        both::<Voice>("CallSid&From=&&To=%zz=");
        both::<Voice>("CallSid=\u{e9}t\u{e9}&To=%FF");
        both::<Voice>("");
    }

    #[test]
    fn a_map_gets_every_pair() {
        assert_eq!(fields_of::<HashMap<String, String>>(), None);
        both::<HashMap<String, String>>(TELNYX);
    }

    proptest! {
        #[test]
        fn any_body_decodes_as_serde_urlencoded_decodes_it(
            pairs in proptest::collection::vec(
                ("(CallSid|From|To|Called|Duration|Other|Call%53id|[A-Za-z%+]{0,6})", "[a-z0-9%+=:]{0,8}"),
                0..8,
            ),
            sep in "[&]{1,2}",
        ) {
            let body = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(&sep);
            let full = serde_urlencoded::from_bytes::<Voice>(body.as_bytes()).map_err(|e| e.to_string());
            let fast = from_bytes::<Voice>(body.as_bytes()).map_err(|e| e.to_string());
            prop_assert_eq!(fast, full);
        }
    }
}

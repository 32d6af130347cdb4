//! A tenant's reminder-call settings: `reminder_calls: {"hours_before": [24], "window":
//! ["09:00", "20:00"], "voicemail": true, "profile": "standard" | "healthcare"}`, off when
//! absent or null. Parsed field by field like the rest of the tenant, every mistake named
//! by its path (`reminder_calls.window[1]`); stored as one JSON column.

use jiff::civil::Time;
use serde_json::{Map, Value, json};

use super::tenant::{FieldError, hhmm, parse_hhmm};
use crate::wording::{self, Field};

/// The tenant JSON field this module owns.
pub const FIELD: &str = "reminder_calls";

/// The keys of the object.
const KEYS: [&str; 7] = [
    "hours_before",
    "window",
    "voicemail",
    "profile",
    "confirmed",
    "cancelled",
    "stopped",
];

/// Placeholders the reminder call's wording may use.
const ALLOWED: &[&str] = &["business", "date", "time"];

/// Said after the person confirms (1 / "confirm").
pub const CONFIRMED: Field = Field {
    name: "reminder_calls.confirmed",
    default: "Thank you, your appointment is confirmed. See you then. Goodbye.",
    allowed: ALLOWED,
    when: "a reminder call is confirmed",
};
/// Said after the person cancels (3, then yes).
pub const CANCELLED: Field = Field {
    name: "reminder_calls.cancelled",
    default: "Your appointment is cancelled. We'll text you to confirm. Goodbye.",
    allowed: ALLOWED,
    when: "a reminder call cancels the appointment",
};
/// Said after the person stops the calls (9).
pub const STOPPED: Field = Field {
    name: "reminder_calls.stopped",
    default: "You won't get these calls from {business} again. Goodbye.",
    allowed: ALLOWED,
    when: "the person stops the reminder calls",
};

/// The reminder call's own wording: what is said after each choice (`None`: the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Words {
    /// See [`CONFIRMED`].
    pub confirmed: Option<String>,
    /// See [`CANCELLED`].
    pub cancelled: Option<String>,
    /// See [`STOPPED`].
    pub stopped: Option<String>,
}

impl Words {
    /// The tenant's text for `field`, or the default.
    pub fn get(&self, field: &Field) -> &str {
        let own = match field.name {
            "reminder_calls.confirmed" => self.confirmed.as_ref(),
            "reminder_calls.cancelled" => self.cancelled.as_ref(),
            "reminder_calls.stopped" => self.stopped.as_ref(),
            _ => None,
        };
        own.map_or(field.default, String::as_str)
    }
}

/// One wording key of the object, checked like the tenant's other wording.
fn words(obj: &Map<String, Value>, field: &Field) -> Result<Option<String>, FieldError> {
    let key = field.name.trim_start_matches("reminder_calls.");
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() || s.chars().count() > 300 => err(
            &format!(".{key}"),
            "must be 1 to 300 characters; leave it out for the default",
        ),
        Some(Value::String(s)) => {
            wording::check(field, s.trim())?;
            Ok(Some(s.trim().to_string()))
        }
        Some(_) => err(&format!(".{key}"), "must be a string"),
    }
}

/// The window when none is given (09:00–20:00, inside the 8 am–9 pm rule of 47 CFR
/// 64.1200(c)(1) with an hour to spare on each side).
pub const DEFAULT_WINDOW: (Time, Time) = (Time::constant(9, 0, 0, 0), Time::constant(20, 0, 0, 0));

/// Which rules the calls follow beyond the common ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// One reminder call per appointment per day, two attempts at most.
    Standard,
    /// Also at most 1 call a day and 3 a week per number, and under 60 s of speech (the
    /// FCC's conditions for healthcare calls to cell phones).
    Healthcare,
}

impl Profile {
    /// The name operators write.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Standard => "standard",
            Profile::Healthcare => "healthcare",
        }
    }
}

/// Reminder calls as a tenant set them; valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderCallsSpec {
    /// Hours before the start at which a call is due (1–168, at most 3, distinct).
    pub hours_before: Vec<u32>,
    /// Local calling window `[from, until)` in the tenant's zone.
    pub window: (Time, Time),
    /// Leave a short voicemail when a machine answers.
    pub voicemail: bool,
    /// Which rules apply.
    pub profile: Profile,
    /// What is said after each choice.
    pub words: Words,
}

fn err<T>(field: &str, message: impl Into<String>) -> Result<T, FieldError> {
    Err(FieldError {
        field: format!("{FIELD}{field}"),
        message: message.into(),
    })
}

impl ReminderCallsSpec {
    /// Parses the `reminder_calls` field of a posted tenant: `None` when it is absent or
    /// null (no reminder calls).
    pub fn from_map(map: &Map<String, Value>) -> Result<Option<Self>, FieldError> {
        match map.get(FIELD) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(obj)) => Self::from_object(obj).map(Some),
            Some(_) => err(
                "",
                "must be an object such as {\"hours_before\": [24], \"window\": [\"09:00\", \"20:00\"], \"voicemail\": true, \"profile\": \"standard\"}, or null for no reminder calls",
            ),
        }
    }

    fn from_object(obj: &Map<String, Value>) -> Result<Self, FieldError> {
        if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return err(
                &format!(".{k}"),
                format!("unknown field; known fields are {}", KEYS.join(", ")),
            );
        }
        let hours_before = match obj.get("hours_before") {
            None | Some(Value::Null) => vec![24],
            Some(Value::Array(list)) => {
                let mut out = Vec::new();
                for (i, v) in list.iter().enumerate() {
                    let h = v
                        .as_u64()
                        .filter(|h| (1..=168).contains(h))
                        .map(|h| h as u32);
                    let Some(h) = h else {
                        return err(
                            &format!(".hours_before[{i}]"),
                            "must be a whole number of hours from 1 to 168",
                        );
                    };
                    if out.contains(&h) {
                        return err(&format!(".hours_before[{i}]"), "is listed twice");
                    }
                    out.push(h);
                }
                if out.is_empty() || out.len() > 3 {
                    return err(
                        ".hours_before",
                        "must list 1 to 3 times, e.g. [24]; leave reminder_calls out for no calls",
                    );
                }
                out
            }
            Some(_) => return err(".hours_before", "must be a list of hours such as [24]"),
        };
        let window = match obj.get("window") {
            None | Some(Value::Null) => DEFAULT_WINDOW,
            Some(Value::Array(pair)) if pair.len() == 2 => {
                let at = |i: usize| {
                    pair[i]
                        .as_str()
                        .and_then(parse_hhmm)
                        .ok_or_else(|| FieldError {
                            field: format!("{FIELD}.window[{i}]"),
                            message: "must be a time \"HH:MM\" (24 h, the tenant's zone)".into(),
                        })
                };
                let (from, until) = (at(0)?, at(1)?);
                if from >= until {
                    return err(
                        ".window",
                        "must start before it ends on the same day, e.g. [\"09:00\", \"20:00\"]",
                    );
                }
                if from < Time::constant(8, 0, 0, 0) || until > Time::constant(21, 0, 0, 0) {
                    return err(
                        ".window",
                        "must lie within 08:00-21:00 (reminder calls outside it reach people at night)",
                    );
                }
                (from, until)
            }
            Some(_) => {
                return err(
                    ".window",
                    "must be two times [\"HH:MM\", \"HH:MM\"], e.g. [\"09:00\", \"20:00\"]",
                );
            }
        };
        let voicemail = match obj.get("voicemail") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return err(".voicemail", "must be true or false"),
        };
        let profile = match obj.get("profile") {
            None | Some(Value::Null) => Profile::Standard,
            Some(Value::String(s)) if s == "standard" => Profile::Standard,
            Some(Value::String(s)) if s == "healthcare" => Profile::Healthcare,
            Some(_) => return err(".profile", "must be \"standard\" or \"healthcare\""),
        };
        let words = Words {
            confirmed: words(obj, &CONFIRMED)?,
            cancelled: words(obj, &CANCELLED)?,
            stopped: words(obj, &STOPPED)?,
        };
        Ok(Self {
            hours_before,
            window,
            voicemail,
            profile,
            words,
        })
    }

    /// The JSON operators see (and the stored form).
    pub fn to_json(&self) -> Value {
        json!({
            "hours_before": self.hours_before,
            "window": [hhmm(self.window.0), hhmm(self.window.1)],
            "voicemail": self.voicemail,
            "profile": self.profile.name(),
            "confirmed": self.words.confirmed,
            "cancelled": self.words.cancelled,
            "stopped": self.words.stopped,
        })
    }

    /// Reads the stored column back (`None`: no reminder calls).
    pub fn from_stored(s: Option<&str>) -> Result<Option<Self>, FieldError> {
        let Some(s) = s else { return Ok(None) };
        let value: Value = serde_json::from_str(s).map_err(|e| FieldError {
            field: FIELD.into(),
            message: format!("the stored settings are not JSON: {e}"),
        })?;
        let mut map = Map::new();
        map.insert(FIELD.into(), value);
        Self::from_map(&map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Option<ReminderCallsSpec>, FieldError> {
        let mut map = Map::new();
        map.insert(FIELD.into(), v);
        ReminderCallsSpec::from_map(&map)
    }

    #[test]
    fn reminder_calls_are_off_unless_asked_for() {
        assert_eq!(ReminderCallsSpec::from_map(&Map::new()).unwrap(), None);
        assert_eq!(parse(Value::Null).unwrap(), None);
    }

    #[test]
    fn an_empty_object_takes_the_defaults_and_round_trips() {
        let spec = parse(json!({})).unwrap().unwrap();
        assert_eq!(spec.hours_before, [24]);
        assert_eq!(spec.window, DEFAULT_WINDOW);
        assert!(spec.voicemail);
        assert_eq!(spec.profile, Profile::Standard);
        let stored = spec.to_json().to_string();
        assert_eq!(
            ReminderCallsSpec::from_stored(Some(&stored)).unwrap(),
            Some(spec)
        );
    }

    #[test]
    fn the_words_after_each_choice_are_the_tenants_or_the_defaults() {
        let spec = parse(json!({"confirmed": "Lovely, see you {date} at {time}!"}))
            .unwrap()
            .unwrap();
        assert_eq!(
            spec.words.get(&CONFIRMED),
            "Lovely, see you {date} at {time}!"
        );
        assert_eq!(spec.words.get(&STOPPED), STOPPED.default);
        for f in [CONFIRMED, CANCELLED, STOPPED] {
            wording::check(&f, f.default).unwrap();
        }
    }

    #[test]
    fn every_mistake_names_its_field_and_the_fix() {
        let cases = [
            (json!(5), "reminder_calls"),
            (json!({"hours": [24]}), "reminder_calls.hours"),
            (
                json!({"hours_before": [0]}),
                "reminder_calls.hours_before[0]",
            ),
            (
                json!({"hours_before": [24, 24]}),
                "reminder_calls.hours_before[1]",
            ),
            (json!({"hours_before": []}), "reminder_calls.hours_before"),
            (
                json!({"window": ["9", "20:00"]}),
                "reminder_calls.window[0]",
            ),
            (
                json!({"window": ["20:00", "09:00"]}),
                "reminder_calls.window",
            ),
            (
                json!({"window": ["07:00", "20:00"]}),
                "reminder_calls.window",
            ),
            (json!({"voicemail": "yes"}), "reminder_calls.voicemail"),
            (json!({"profile": "medical"}), "reminder_calls.profile"),
            (
                json!({"confirmed": "Thanks {name}"}),
                "reminder_calls.confirmed",
            ),
            (json!({"stopped": ""}), "reminder_calls.stopped"),
        ];
        for (value, field) in cases {
            let e = parse(value.clone()).unwrap_err();
            assert_eq!(e.field, field, "{value}: {e}");
            assert!(e.message.len() > 10, "{e}");
        }
    }
}

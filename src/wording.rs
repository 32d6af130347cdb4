//! What each line says: the built-in default sentences, the placeholders operators may put
//! in their own wording (`{name}`, `{service}`, `{provider}`, `{date}`, `{time}`,
//! `{business}`), the check that runs when wording is saved, and [`fill`].
//!
//! Invariants: every default passes [`check`] for its field; [`fill`] is plain text
//! substitution and never escapes — the text it returns is escaped later, by Askama or by
//! quick-xml's writer, exactly once.

use crate::domain::FieldError;

/// Every placeholder wording may use, in the order the README lists them.
pub const PLACEHOLDERS: [&str; 6] = ["name", "service", "provider", "date", "time", "business"];

/// One tenant wording field: its JSON name, its default, and the placeholders known when
/// it is spoken or sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// JSON field name on the tenant.
    pub name: &'static str,
    /// Used when the tenant leaves the field out (or sets it to null).
    pub default: &'static str,
    /// Placeholders that have a value when this text is used.
    pub allowed: &'static [&'static str],
    /// When the text is used, for error messages ("when the greeting is spoken").
    pub when: &'static str,
}

const ONLY_BUSINESS: &[&str] = &["business"];

/// What the line says first.
pub const GREETING: Field = Field {
    name: "greeting",
    default: "Thanks for calling {business}. What can I book for you?",
    allowed: ONLY_BUSINESS,
    when: "the call is answered, before the caller has said anything",
};
/// Asked again after a refusal when no alternative time can be offered.
pub const REPROMPT: Field = Field {
    name: "reprompt",
    default: "What other day or time would suit you?",
    allowed: ONLY_BUSINESS,
    when: "the caller is asked again, before the booking details are known",
};
/// The booking read back to the caller.
pub const CONFIRMATION: Field = Field {
    name: "confirmation",
    default: "Thanks {name}. Your {service} with {provider} is booked for {date} at {time}. We'll text you a confirmation.",
    allowed: &PLACEHOLDERS,
    when: "the booking is confirmed",
};
/// Said before the call is handed to the tenant's human.
pub const TRANSFER_LINE: Field = Field {
    name: "transfer_line",
    default: "Let me connect you with someone from the team.",
    allowed: ONLY_BUSINESS,
    when: "the call is handed over, when the booking details may be incomplete",
};
/// Said last, before slotline hangs up after a confirmation or when it gives up.
pub const GOODBYE: Field = Field {
    name: "goodbye",
    default: "Goodbye.",
    allowed: ONLY_BUSINESS,
    when: "the call ends, when the booking details may be incomplete",
};
/// The confirmation text message.
pub const SMS_CONFIRMATION: Field = Field {
    name: "sms_confirmation",
    default: "{business}: your {service} with {provider} is booked for {date} at {time}.",
    allowed: &PLACEHOLDERS,
    when: "the confirmation text is sent",
};
/// The reminder text message.
pub const SMS_REMINDER: Field = Field {
    name: "sms_reminder",
    default: "Reminder from {business}: your {service} with {provider} is on {date} at {time}.",
    allowed: &PLACEHOLDERS,
    when: "the reminder text is sent",
};

/// The text sent when a caller moves their appointment by phone.
pub const SMS_MOVED: Field = Field {
    name: "sms_moved",
    default: "{business}: your {service} with {provider} has moved to {date} at {time}.",
    allowed: &PLACEHOLDERS,
    when: "the text about a move is sent",
};

/// Every wording field, greeting first.
pub const FIELDS: [Field; 8] = [
    GREETING,
    REPROMPT,
    CONFIRMATION,
    TRANSFER_LINE,
    GOODBYE,
    SMS_CONFIRMATION,
    SMS_REMINDER,
    SMS_MOVED,
];

/// The tenant's wording fields as one JSON object, each field its own text or `null` for
/// the default: what `wording_versions` records and a restore patches back.
pub fn snapshot(spec: &crate::domain::TenantSpec) -> serde_json::Map<String, serde_json::Value> {
    let json = spec.to_json();
    FIELDS
        .iter()
        .map(|f| {
            let value = json.get(f.name).cloned().unwrap_or(serde_json::Value::Null);
            (f.name.to_string(), value)
        })
        .collect()
}

/// Said when slotline gives up without anyone to hand over to; the goodbye follows.
pub const GIVE_UP: &str =
    "Sorry, I couldn't find a time that works. Please call again or visit us.";

/// Values for the placeholders; a placeholder whose value is `None` becomes empty text
/// (the save-time check keeps placeholders out of fields where they have no value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values<'a> {
    /// The caller's name.
    pub name: Option<&'a str>,
    /// The booked service.
    pub service: Option<&'a str>,
    /// The provider.
    pub provider: Option<&'a str>,
    /// Local date, spoken ("Tuesday, November 24").
    pub date: Option<&'a str>,
    /// Local time, spoken ("3:00 PM").
    pub time: Option<&'a str>,
    /// The tenant's business name.
    pub business: Option<&'a str>,
}

impl<'a> Values<'a> {
    /// Only the business name (what every step knows).
    pub fn business(name: &'a str) -> Self {
        Self {
            business: Some(name),
            ..Self::default()
        }
    }

    /// The value of placeholder `key`; `None` if it is not one of [`PLACEHOLDERS`].
    pub fn get(&self, key: &str) -> Option<&'a str> {
        let v = match key {
            "name" => self.name,
            "service" => self.service,
            "provider" => self.provider,
            "date" => self.date,
            "time" => self.time,
            "business" => self.business,
            _ => return None,
        };
        Some(v.unwrap_or_default())
    }
}

/// A piece of a wording template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Literal text.
    Text(&'a str),
    /// `{key}`, with the byte offset of its `{`.
    Placeholder(&'a str, usize),
}

/// Splits `template` into text and `{placeholder}` pieces. A `{` without a matching `}`, a
/// `}` without a `{`, or a placeholder that is not a lowercase word is an error (byte
/// offset, message). Placeholder names are not checked here.
pub fn parse(template: &str) -> Result<Vec<Piece<'_>>, (usize, String)> {
    let mut out = Vec::new();
    let mut rest = 0;
    let bytes = template.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                let Some(len) = template[i + 1..].find(['}', '{']) else {
                    return Err((
                        i,
                        "has a '{' that is never closed; write placeholders as {business}, and do not use braces otherwise".into(),
                    ));
                };
                let end = i + 1 + len;
                let key = &template[i + 1..end];
                if bytes[end] == b'{' || !is_key(key) {
                    return Err((
                        i,
                        format!(
                            "has {:?}, which is not a placeholder; write placeholders as a word in braces, like {{business}}, and do not use braces otherwise",
                            &template[i..=end.min(template.len() - 1)]
                        ),
                    ));
                }
                if rest < i {
                    out.push(Piece::Text(&template[rest..i]));
                }
                out.push(Piece::Placeholder(key, i));
                i = end + 1;
                rest = i;
            }
            b'}' => {
                return Err((
                    i,
                    "has a '}' without a matching '{'; braces are only for placeholders like {business}".into(),
                ));
            }
            _ => i += 1,
        }
    }
    if rest < template.len() {
        out.push(Piece::Text(&template[rest..]));
    }
    Ok(out)
}

fn is_key(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// Checks `text` for wording `field`: balanced braces, and only placeholders known when
/// the text is used. The error names the field and says what to use instead.
pub fn check(field: &Field, text: &str) -> Result<(), FieldError> {
    let fail = |message: String| FieldError {
        field: field.name.into(),
        message,
    };
    let allowed = || {
        field
            .allowed
            .iter()
            .map(|p| format!("{{{p}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for piece in parse(text).map_err(|(_, m)| fail(m))? {
        let Piece::Placeholder(key, _) = piece else {
            continue;
        };
        if field.allowed.contains(&key) {
            continue;
        }
        return Err(fail(if PLACEHOLDERS.contains(&key) {
            format!(
                "{{{key}}} has no value when {}; {} may use {}",
                field.when,
                field.name,
                allowed()
            )
        } else {
            format!(
                "{{{key}}} is not a placeholder; {} may use {}",
                field.name,
                allowed()
            )
        }));
    }
    Ok(())
}

/// Replaces every placeholder in `template` with its value. Plain text in, plain text out:
/// no escaping happens here. A template that does not parse (it cannot: wording is checked
/// on save) is returned as it is.
pub fn fill(template: &str, values: &Values) -> String {
    let Ok(pieces) = parse(template) else {
        return template.to_string();
    };
    let mut out = String::with_capacity(template.len() + 32);
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Placeholder(key, at) => match values.get(key) {
                Some(v) => out.push_str(v),
                None => out.push_str(&template[at..at + key.len() + 2]),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_passes_its_own_check() {
        for f in FIELDS {
            check(&f, f.default).unwrap();
        }
    }

    #[test]
    fn placeholders_are_filled_as_plain_text() {
        let v = Values {
            name: Some("Tom & <Jerry>"),
            business: Some("Bella"),
            ..Values::default()
        };
        assert_eq!(
            fill("Hi {name}, this is {business}{date}.", &v),
            "Hi Tom & <Jerry>, this is Bella."
        );
        assert_eq!(fill("no placeholders", &v), "no placeholders");
        assert_eq!(fill("{business}", &Values::default()), "");
    }

    #[test]
    fn unknown_misplaced_and_unbalanced_placeholders_are_named() {
        let msg = |f: &Field, t: &str| check(f, t).unwrap_err().message;
        assert!(msg(&GREETING, "Hi {nme}").contains("{nme} is not a placeholder"));
        assert!(msg(&GREETING, "Hi {name}").contains("{name} has no value"));
        assert!(msg(&GREETING, "Hi {business").contains("never closed"));
        assert!(msg(&GREETING, "Hi business}").contains("without a matching"));
        assert!(msg(&GREETING, "Hi {}").contains("not a placeholder"));
        assert!(msg(&GREETING, "Hi {a {business}}").contains("not a placeholder"));
        assert_eq!(check(&GREETING, "x").map_err(|e| e.field), Ok(()));
        assert_eq!(check(&CONFIRMATION, "{name} {time}"), Ok(()));
        assert_eq!(
            check(&SMS_REMINDER, "{bogus}").unwrap_err().field,
            "sms_reminder"
        );
    }
}

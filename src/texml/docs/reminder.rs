//! The checker's rules for the reminder documents (`reminder_call.xml`,
//! `reminder_voicemail.xml`), beyond the TeXML validator: an automated call must name the
//! business at its start (47 CFR 64.1200(b)), the call must offer a way to stop these calls
//! (and send the choice to `{action}`), and the voicemail must leave the callback number
//! and nothing private (anyone may hear a voicemail). Also the speech-length estimate the
//! healthcare profile keeps under a minute.

use quick_xml::{Reader, events::Event};

/// Characters of the first `<Say>` within which `{business}` must appear.
const NAMED_WITHIN: usize = 80;
/// Spoken words per second assumed by [`spoken_seconds`] (150 words a minute).
const WORDS_PER_SECOND: f64 = 2.5;
/// Placeholders a voicemail must not use: whoever hears it may not be the customer.
const PRIVATE: [&str; 4] = ["{name}", "{service}", "{provider}", "{when}"];

/// A `<Say>`: its offset, its text, and whether it is inside a `<Gather>`.
struct Say {
    at: usize,
    text: String,
    in_gather: bool,
}

/// What the rules look at in a document.
#[derive(Default)]
struct Parts {
    says: Vec<Say>,
    /// (offset, `action`) of each `<Gather>`.
    gathers: Vec<(usize, Option<String>)>,
    /// (offset, name) of the first element inside `<Response>`.
    first_verb: Option<(usize, String)>,
}

fn parts(doc: &str) -> Parts {
    let mut out = Parts::default();
    let mut reader = Reader::from_str(doc);
    let mut stack: Vec<String> = Vec::new();
    loop {
        let at = reader.buffer_position() as usize;
        let (e, empty) = match reader.read_event() {
            Err(_) | Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => (e, false),
            Ok(Event::Empty(e)) => (e, true),
            Ok(Event::End(_)) => {
                stack.pop();
                continue;
            }
            Ok(Event::Text(t)) => {
                if stack.last().is_some_and(|s| s == "Say")
                    && let Some(say) = out.says.last_mut()
                {
                    say.text.push_str(&t);
                }
                continue;
            }
            Ok(_) => continue,
        };
        let name = e.name().into_inner().to_string();
        if stack.len() == 1 && out.first_verb.is_none() {
            out.first_verb = Some((at, name.clone()));
        }
        match name.as_str() {
            "Say" => out.says.push(Say {
                at,
                text: String::new(),
                in_gather: stack.iter().any(|s| s == "Gather"),
            }),
            "Gather" => {
                let action = e
                    .attributes()
                    .with_checks(false)
                    .flatten()
                    .find(|a| a.key.as_ref() == "action")
                    .map(|a| a.value.to_string());
                out.gathers.push((at, action));
            }
            _ => {}
        }
        if !empty {
            stack.push(name);
        }
    }
    out
}

/// Problems (byte offset, message) of reminder document `name`; none for other documents.
pub fn problems(name: &str, doc: &str) -> Vec<(usize, String)> {
    if name != "reminder_call" && name != "reminder_voicemail" {
        return Vec::new();
    }
    let parts = parts(doc);
    let mut found = Vec::new();
    let named = match (&parts.first_verb, parts.says.first()) {
        (Some((_, verb)), Some(say)) if verb == "Say" => say
            .text
            .find("{business}")
            .is_some_and(|i| i <= NAMED_WITHIN),
        _ => false,
    };
    if !named {
        let at = parts.first_verb.as_ref().map_or(0, |(at, _)| *at);
        found.push((
            at,
            "a reminder document must name the business at its start: begin with a <Say> whose first sentence holds {business}, e.g. <Say voice=\"{voice}\">Hello, this is {business} ...</Say> (automated calls must identify the caller first)".to_string(),
        ));
    }
    if name == "reminder_call" {
        let stop_offered = parts.says.iter().any(|s| {
            let t = s.text.to_lowercase();
            s.in_gather && t.contains('9') && t.contains("stop")
        });
        if !stop_offered {
            found.push((
                parts.gathers.first().map_or(0, |g| g.0),
                "a reminder call must offer the stop-calls option: say inside a <Gather> how to stop these calls, e.g. \"To stop these calls, press 9.\"".to_string(),
            ));
        }
        for (at, action) in &parts.gathers {
            if action.as_deref() != Some("{action}") {
                found.push((
                    *at,
                    "each <Gather> of a reminder call needs action=\"{action}\", where the choice is handled (it carries the call's signed token)".to_string(),
                ));
            }
        }
    } else {
        if !doc.contains("{phone_number}") {
            found.push((
                parts.says.first().map_or(0, |s| s.at),
                "a reminder voicemail must leave the number to call back: put {phone_number} in it"
                    .to_string(),
            ));
        }
        for p in PRIVATE {
            if let Some(i) = doc.find(p) {
                found.push((
                    i,
                    format!("a voicemail may be heard by anyone: remove {p}; say only the business, the day ({{day}}) and the number to call back"),
                ));
            }
        }
    }
    found
}

/// About how long the `<Say>`s of `doc` take to speak, in seconds (150 words a minute).
pub fn spoken_seconds(doc: &str) -> f64 {
    let words: usize = parts(doc)
        .says
        .iter()
        .map(|s| s.text.split_whitespace().count())
        .sum();
    words as f64 / WORDS_PER_SECOND
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = include_str!("../../../texml/_default/reminder_call.xml");
    const VOICEMAIL: &str = include_str!("../../../texml/_default/reminder_voicemail.xml");

    #[test]
    fn the_defaults_pass_and_are_well_under_a_minute() {
        assert!(problems("reminder_call", CALL).is_empty());
        assert!(problems("reminder_voicemail", VOICEMAIL).is_empty());
        assert!(spoken_seconds(CALL) < 50.0, "{}", spoken_seconds(CALL));
        assert!(spoken_seconds(VOICEMAIL) > 5.0);
    }

    #[test]
    fn a_reminder_that_does_not_name_the_business_first_is_refused() {
        let late = CALL.replace(
            "Hello, this is {business} with a reminder about your {service} with {provider} {when}.",
            "You have a {service} with {provider} {when}. This is a friendly reminder from the team at {business}.",
        );
        let p = problems("reminder_call", &late);
        assert!(
            p.iter().any(|(_, m)| m.contains("name the business")),
            "{p:?}"
        );
        let played_first = CALL.replace("<Response>\n", "<Response>\n  <Pause length=\"1\"/>\n");
        assert!(!problems("reminder_call", &played_first).is_empty());
    }

    #[test]
    fn a_reminder_without_the_stop_calls_option_is_refused() {
        let doc = CALL
            .replace(" To stop these calls, press 9.", "")
            .replace(", or 9 to stop these calls", "");
        let p = problems("reminder_call", &doc);
        assert!(
            p.iter().any(|(_, m)| m.contains("stop-calls option")),
            "{p:?}"
        );
    }

    #[test]
    fn a_voicemail_without_the_callback_number_or_with_private_details_is_refused() {
        let p = problems(
            "reminder_voicemail",
            &VOICEMAIL.replace("{phone_number}", "us"),
        );
        assert!(p.iter().any(|(_, m)| m.contains("{phone_number}")), "{p:?}");
        let p = problems(
            "reminder_voicemail",
            &VOICEMAIL.replace("{day}", "{when} for your {service}"),
        );
        assert_eq!(p.len(), 2, "{p:?}");
    }

    #[test]
    fn other_documents_are_not_held_to_these_rules() {
        assert!(problems("closed", "<Response><Hangup/></Response>").is_empty());
    }
}

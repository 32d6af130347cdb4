//! A tenant's settings, one form per section (booking rules, hours, closures, services,
//! providers, persona and questions). Each form becomes the same JSON fields
//! `PATCH /tenants/{id}` takes and goes through the same check, so a refusal names the
//! same field with the same message; it is shown on that input, nothing is written, and
//! what the operator typed stays in the form.

use askama::Template;
use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Path, Query},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::apply_patch;
use crate::{
    console::{
        ConsoleError,
        auth::{Operator, Posted},
        render, see_other, tenant,
        view::Frame,
    },
    db::tenants::Tenant,
    domain::{
        FieldError,
        line::Persona,
        tenant::{DAY_KEYS, TenantSpec},
    },
    startup::AppState,
};

/// How an input is drawn.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `<input inputmode=numeric>`.
    Number,
    /// `<input>`.
    Text,
    /// `<textarea>`.
    Lines,
    /// `<input type=checkbox>`.
    Check,
    /// `<select>` of the personas.
    Persona,
}

/// One input of a section.
pub struct Input {
    name: String,
    label: &'static str,
    hint: &'static str,
    kind: Kind,
    value: String,
    error: Option<String>,
}

impl Input {
    fn is(&self, kind: &str) -> bool {
        matches!(
            (kind, self.kind),
            ("number", Kind::Number)
                | ("text", Kind::Text)
                | ("lines", Kind::Lines)
                | ("check", Kind::Check)
                | ("persona", Kind::Persona)
        )
    }

    fn id(&self) -> String {
        format!("s-{}", self.name.replace('.', "-"))
    }
}

/// One form.
pub struct Section {
    key: &'static str,
    title: &'static str,
    inputs: Vec<Input>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/settings.html")]
struct Page {
    frame: Frame,
    slug: String,
    sections: Vec<Section>,
    personas: Vec<&'static str>,
    notice: Option<&'static str>,
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct SettingsQuery {
    done: Option<String>,
}

const SECTIONS: [(&str, &str); 7] = [
    ("rules", "Booking rules"),
    ("hours", "Opening hours"),
    ("closures", "Closed days"),
    ("services", "Services"),
    ("providers", "Providers"),
    ("line", "Persona and questions"),
    ("reminder_calls", "Reminder calls"),
];

const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The inputs of section `key` with the stored values of `spec`.
fn inputs(key: &str, spec: &TenantSpec) -> Vec<Input> {
    let j = spec.to_json();
    let input = |name: &str, label, hint, kind, value: String| Input {
        name: name.to_string(),
        label,
        hint,
        kind,
        value,
        error: None,
    };
    let field =
        |name: &'static str, label, hint, kind| input(name, label, hint, kind, text(&j[name]));
    match key {
        "rules" => vec![
            field(
                "slot_minutes",
                "Start times every (minutes)",
                "Offered start times fall on this grid.",
                Kind::Number,
            ),
            field(
                "min_notice_minutes",
                "Minimum notice (minutes)",
                "Callers cannot book sooner than this.",
                Kind::Number,
            ),
            field("horizon_days", "Bookable days ahead", "", Kind::Number),
            field(
                "buffer_minutes",
                "Buffer after each appointment (minutes)",
                "",
                Kind::Number,
            ),
            input(
                "reminder_hours",
                "Reminder texts (hours before)",
                "Whole hours, separated by commas, e.g. 24, 2. Empty: no reminders.",
                Kind::Text,
                spec.reminder_hours
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            field(
                "max_attempts",
                "Failed attempts before a hand-off",
                "",
                Kind::Number,
            ),
            field(
                "hold_seconds",
                "Hold a slot while the caller confirms (seconds)",
                "",
                Kind::Number,
            ),
            field(
                "max_future_bookings_per_caller",
                "Upcoming bookings one caller may hold",
                "",
                Kind::Number,
            ),
            field(
                "confirm_before_booking",
                "Ask the caller to confirm before booking",
                "",
                Kind::Check,
            ),
            field(
                "closed",
                "Closed: callers hear closed.xml instead of booking",
                "",
                Kind::Check,
            ),
        ],
        "hours" => DAY_KEYS
            .iter()
            .zip(DAY_NAMES)
            .map(|(day, label)| {
                let ranges = j["hours"][*day]
                    .as_array()
                    .map(|list| {
                        list.iter()
                            .map(|r| format!("{}-{}", text(&r[0]), text(&r[1])))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                input(
                    &format!("hours.{day}"),
                    label,
                    "e.g. 09:00-12:00, 13:00-17:00; empty: closed",
                    Kind::Text,
                    ranges,
                )
            })
            .collect(),
        "closures" => vec![input(
            "closures",
            "Closed days",
            "One date per line, YYYY-MM-DD.",
            Kind::Lines,
            spec.closures
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )],
        "services" => vec![input(
            "services",
            "Services",
            "One per line: Name | minutes | price (price optional), e.g. Haircut | 30 | $45",
            Kind::Lines,
            spec.services
                .iter()
                .map(|s| match &s.price {
                    Some(p) => format!("{} | {} | {p}", s.name, s.duration_minutes),
                    None => format!("{} | {}", s.name, s.duration_minutes),
                })
                .collect::<Vec<_>>()
                .join("\n"),
        )],
        "providers" => vec![input(
            "providers",
            "Providers",
            "One per line: Name: service, service, e.g. Anna: Haircut, Colour",
            Kind::Lines,
            spec.providers
                .iter()
                .map(|p| format!("{}: {}", p.name, p.services.join(", ")))
                .collect::<Vec<_>>()
                .join("\n"),
        )],
        "reminder_calls" => {
            let r = &j["reminder_calls"];
            let joined = |key: &str, sep: &str| {
                r[key]
                    .as_array()
                    .map(|list| list.iter().map(text).collect::<Vec<_>>().join(sep))
                    .unwrap_or_default()
            };
            vec![
                input(
                    "reminder_calls.on",
                    "Call customers before their appointment",
                    "",
                    Kind::Check,
                    (!r.is_null()).to_string(),
                ),
                input(
                    "reminder_calls.hours_before",
                    "Call this many hours before",
                    "Up to three whole numbers from 1 to 168, e.g. 24, 2.",
                    Kind::Text,
                    joined("hours_before", ", "),
                ),
                input(
                    "reminder_calls.window",
                    "Calling hours",
                    "From-until in the tenant's zone, e.g. 09:00-20:00.",
                    Kind::Text,
                    joined("window", "-"),
                ),
                input(
                    "reminder_calls.voicemail",
                    "Leave a voicemail when a machine answers",
                    "",
                    Kind::Check,
                    text(&r["voicemail"]),
                ),
                input(
                    "reminder_calls.profile",
                    "Rules",
                    "standard, or healthcare (at most one call a day and three a week per number).",
                    Kind::Text,
                    text(&r["profile"]),
                ),
                input(
                    "reminder_calls.confirmed",
                    "Said after the person confirms",
                    "Empty: the default. Placeholders: {business} {date} {time}",
                    Kind::Lines,
                    text(&r["confirmed"]),
                ),
                input(
                    "reminder_calls.cancelled",
                    "Said after the person cancels",
                    "Empty: the default.",
                    Kind::Lines,
                    text(&r["cancelled"]),
                ),
                input(
                    "reminder_calls.stopped",
                    "Said after the person stops the calls",
                    "Empty: the default.",
                    Kind::Lines,
                    text(&r["stopped"]),
                ),
            ]
        }
        _ => vec![
            field(
                "persona",
                "Persona",
                "A built-in way of talking for this kind of business.",
                Kind::Persona,
            ),
            field(
                "instructions",
                "Your own instructions for the AI",
                "",
                Kind::Lines,
            ),
            field("model", "AI model", "Empty: Telnyx's default.", Kind::Text),
            field(
                "address",
                "Address",
                "Said when a caller asks where you are.",
                Kind::Text,
            ),
            field(
                "recognize_callers",
                "Recognise returning callers by their number (to move or cancel)",
                "",
                Kind::Check,
            ),
            field(
                "change_notice_minutes",
                "No changes by phone this close to the start (minutes)",
                "Empty: the minimum notice.",
                Kind::Number,
            ),
            input(
                "faq",
                "Questions and answers",
                "One per line: question | answer",
                Kind::Lines,
                spec.line
                    .faq
                    .iter()
                    .map(|f| format!("{} | {}", f.question, f.answer))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ],
    }
}

fn number(s: &str) -> Value {
    if s.is_empty() {
        return Value::Null;
    }
    // Anything but a whole number is passed on as text for the tenant check to refuse.
    s.parse::<u64>()
        .map_or_else(|_| Value::String(s.into()), Value::from)
}

fn refuse<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, FieldError> {
    Err(FieldError {
        field: field.into(),
        message: message.into(),
    })
}

fn lines(s: &str) -> impl Iterator<Item = (usize, &str)> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
}

/// The JSON fields section `key` stands for, from the form.
fn patch(
    key: &str,
    form: &Posted,
    spec_inputs: &[Input],
) -> Result<Map<String, Value>, FieldError> {
    let mut out = Map::new();
    match key {
        "hours" => {
            let mut hours = Map::new();
            for day in DAY_KEYS {
                let name = format!("hours.{day}");
                let mut ranges = Vec::new();
                for part in form
                    .text(&name)
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                {
                    let Some((a, b)) = part.split_once('-') else {
                        return refuse(
                            name,
                            format!("{part:?} is not a range; write it like 09:00-17:00"),
                        );
                    };
                    ranges.push(json!([a.trim(), b.trim()]));
                }
                if !ranges.is_empty() {
                    hours.insert(day.to_string(), Value::Array(ranges));
                }
            }
            out.insert("hours".into(), Value::Object(hours));
        }
        "closures" => {
            let days: Vec<Value> = lines(form.text("closures"))
                .map(|(_, l)| json!(l))
                .collect();
            out.insert("closures".into(), Value::Array(days));
        }
        "services" => {
            let mut list = Vec::new();
            for (i, l) in lines(form.text("services")) {
                let parts: Vec<&str> = l.split('|').map(str::trim).collect();
                let (name, minutes, price) = match parts.as_slice() {
                    [n, m] => (*n, *m, None),
                    [n, m, p] => (*n, *m, Some(*p).filter(|p| !p.is_empty())),
                    _ => {
                        return refuse(
                            format!("services[{i}]"),
                            format!("line {} ({l:?}) should be Name | minutes | price", i + 1),
                        );
                    }
                };
                let mut v = json!({"name": name, "duration_minutes": number(minutes)});
                if let Some(p) = price {
                    v["price"] = p.into();
                }
                list.push(v);
            }
            out.insert("services".into(), Value::Array(list));
        }
        "providers" => {
            let mut list = Vec::new();
            for (i, l) in lines(form.text("providers")) {
                let Some((name, services)) = l.split_once(':') else {
                    return refuse(
                        format!("providers[{i}]"),
                        format!("line {} ({l:?}) should be Name: service, service", i + 1),
                    );
                };
                let services: Vec<&str> = services
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                list.push(json!({"name": name.trim(), "services": services}));
            }
            out.insert("providers".into(), Value::Array(list));
        }
        "reminder_calls" => {
            let value = if form.text("reminder_calls.on").is_empty() {
                Value::Null
            } else {
                let mut obj = Map::new();
                let hours: Vec<Value> = form
                    .text("reminder_calls.hours_before")
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(number)
                    .collect();
                obj.insert("hours_before".into(), Value::Array(hours));
                let window = form.text("reminder_calls.window");
                if !window.is_empty() {
                    let Some((from, until)) = window.split_once('-') else {
                        return refuse(
                            "reminder_calls.window",
                            format!("{window:?} is not a range; write it like 09:00-20:00"),
                        );
                    };
                    obj.insert("window".into(), json!([from.trim(), until.trim()]));
                }
                obj.insert(
                    "voicemail".into(),
                    Value::Bool(!form.text("reminder_calls.voicemail").is_empty()),
                );
                let profile = form.text("reminder_calls.profile");
                if !profile.is_empty() {
                    obj.insert("profile".into(), json!(profile));
                }
                for key in ["confirmed", "cancelled", "stopped"] {
                    let said = form.text(&format!("reminder_calls.{key}"));
                    if !said.is_empty() {
                        obj.insert(key.into(), json!(said));
                    }
                }
                Value::Object(obj)
            };
            out.insert("reminder_calls".into(), value);
        }
        _ => {
            for input in spec_inputs {
                let raw = form.text(&input.name);
                let value = match input.kind {
                    Kind::Number => number(raw),
                    Kind::Check => Value::Bool(!raw.is_empty()),
                    _ if input.name == "reminder_hours" => Value::Array(
                        raw.split(',')
                            .map(str::trim)
                            .filter(|h| !h.is_empty())
                            .map(number)
                            .collect(),
                    ),
                    _ if input.name == "faq" => {
                        let mut faq = Vec::new();
                        for (i, l) in lines(raw) {
                            let Some((q, a)) = l.split_once('|') else {
                                return refuse(
                                    format!("faq[{i}]"),
                                    format!("line {} ({l:?}) should be question | answer", i + 1),
                                );
                            };
                            faq.push(json!({"question": q.trim(), "answer": a.trim()}));
                        }
                        Value::Array(faq)
                    }
                    _ if raw.is_empty() => Value::Null,
                    _ => Value::String(raw.to_string()),
                };
                out.insert(input.name.clone(), value);
            }
        }
    }
    Ok(out)
}

/// Whether refused field `field` is input `name` or inside it (`services[1].name`).
fn is_within(field: &str, name: &str) -> bool {
    field == name
        || field
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('[') || rest.starts_with('.'))
}

fn sections(tenant: &Tenant, refused: Option<(&str, &Posted, &FieldError)>) -> Vec<Section> {
    SECTIONS
        .iter()
        .map(|(key, title)| {
            let mut inputs = inputs(key, &tenant.spec);
            let mut error = None;
            if let Some((section, form, e)) = refused
                && section == *key
            {
                for input in &mut inputs {
                    input.value = form.raw(&input.name).unwrap_or_default().to_string();
                    if is_within(&e.field, &input.name) {
                        input.error = Some(e.message.clone());
                    }
                }
                error = Some(format!("Not saved: {e}"));
            }
            Section {
                key,
                title,
                inputs,
                error,
            }
        })
        .collect()
}

fn page_for(
    tenant: &Tenant,
    form_token: &str,
    sections: Vec<Section>,
    notice: Option<&'static str>,
) -> Page {
    Page {
        frame: Frame::of(tenant, "Settings", form_token, "settings"),
        slug: tenant.spec.slug.clone(),
        sections,
        personas: Persona::ALL.iter().map(|p| p.name()).collect(),
        notice,
    }
}

/// `GET /console/tenants/{id}/settings`.
#[handler]
pub async fn page(
    Operator(session): Operator,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(q): Query<SettingsQuery>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let notice = (q.done.as_deref() == Some("saved"))
        .then_some("Saved; calls use the new settings from now on.");
    let html = page_for(
        &tenant,
        &session.form_token,
        sections(&tenant, None),
        notice,
    );
    Ok(render(&html, StatusCode::OK)?)
}

/// `POST /console/tenants/{id}/settings/{section}`.
#[handler]
pub async fn save(
    form: Posted,
    state: Data<&AppState>,
    Path((id, section)): Path<(String, String)>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let Some((key, _)) = SECTIONS.iter().find(|(k, _)| *k == section) else {
        return Err(ConsoleError::NotFound(format!("no settings section {section:?}")).into());
    };
    let outcome = match patch(key, &form, &inputs(key, &tenant.spec)) {
        Ok(fields) => apply_patch(&state, tenant.id, fields).await?,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(saved) => Ok(see_other(&format!(
            "/console/tenants/{}/settings?done=saved#{key}",
            saved.spec.slug
        ))),
        Err(e) => {
            let html = page_for(
                &tenant,
                &form.session.form_token,
                sections(&tenant, Some((key, &form, &e))),
                None,
            );
            Ok(render(&html, StatusCode::UNPROCESSABLE_ENTITY)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_field_belongs_to_the_input_it_is_inside() {
        assert!(is_within("services[1].duration_minutes", "services"));
        assert!(is_within("hours.mon[0]", "hours.mon"));
        assert!(is_within("slot_minutes", "slot_minutes"));
        assert!(!is_within("slot_minutes_x", "slot_minutes"));
        assert!(!is_within("hours.tue", "hours.mon"));
    }

    #[test]
    fn numbers_are_passed_on_as_text_when_they_are_not_whole() {
        assert_eq!(number("15"), json!(15));
        assert_eq!(number(""), Value::Null);
        assert_eq!(number("ten"), json!("ten"));
    }
}

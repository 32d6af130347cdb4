//! The JSON Schema placed in `<AIGather><Parameters>`: what the AI must gather from the
//! caller. Field names match the documented callback example (PROTOCOL.md §2.3).

use jiff::civil::Date;
use serde_json::{Value, json};

use super::escape::CdataJson;
use crate::domain::TenantSpec;

/// Name of the caller.
pub const CUSTOMER_NAME: &str = "customer_name";
/// One of the tenant's services.
pub const SERVICE: &str = "service";
/// `YYYY-MM-DD`.
pub const DATE: &str = "preferred_date";
/// `HH:MM`, 24 h.
pub const TIME: &str = "preferred_time";
/// One of the tenant's providers (optional).
pub const PROVIDER: &str = "provider";
/// E.164 number for the confirmation text (optional).
pub const CALLBACK_NUMBER: &str = "callback_number";
/// One of the alternatives offered after a refusal (optional).
pub const OFFERED_TIME: &str = "offered_time";
/// What the caller wants: one of [`INTENTS`].
pub const INTENT: &str = "intent";
/// With the `question` intent: which of the tenant's topics the caller asks about.
pub const QUESTION_TOPIC: &str = "question_topic";
/// Which of the caller's appointments they mean.
pub const APPOINTMENT: &str = "appointment";
/// A yes/no answer.
pub const CONFIRM: &str = "confirm";

/// Every field the booking question may ask (offers included).
pub const BOOKING_FIELDS: [&str; 9] = [
    INTENT,
    CUSTOMER_NAME,
    SERVICE,
    DATE,
    TIME,
    PROVIDER,
    CALLBACK_NUMBER,
    OFFERED_TIME,
    QUESTION_TOPIC,
];
/// Every field the reschedule question may ask.
pub const MOVE_FIELDS: [&str; 3] = [DATE, TIME, OFFERED_TIME];

/// The intents, booking first (what a caller who says nothing else wants).
pub const INTENTS: [&str; 4] = ["book", "reschedule", "cancel", "question"];
/// Said in a booking field when the caller wants something else than a booking.
pub const NOT_BOOKING: &str = "none";
/// Question topics every tenant answers (FAQ questions follow, then [`TOPIC_OTHER`]).
pub const TOPICS: [&str; 3] = ["opening hours", "address", "services and prices"];
/// A question none of the topics covers.
pub const TOPIC_OTHER: &str = "something else";

/// The question topics of `tenant`: the fixed ones, its FAQ questions, then "something else".
pub fn topics(tenant: &TenantSpec) -> Vec<&str> {
    TOPICS
        .iter()
        .copied()
        .chain(tenant.line.faq.iter().map(|f| f.question.as_str()))
        .chain([TOPIC_OTHER])
        .collect()
}

/// Builds the booking schema for `tenant` on local date `today`. `offers`, when given, are
/// the alternative start times (`YYYY-MM-DD HH:MM`) the caller may pick from.
pub fn booking_parameters(tenant: &TenantSpec, today: Date, offers: &[String]) -> CdataJson {
    CdataJson::new(&booking_schema(tenant, today, offers))
}

/// The booking schema as JSON (also what AI Inference is asked to fill).
pub fn booking_schema(tenant: &TenantSpec, today: Date, offers: &[String]) -> Value {
    let mut services: Vec<&str> = tenant.services.iter().map(|s| s.name.as_str()).collect();
    services.push(NOT_BOOKING);
    let providers: Vec<&str> = tenant.providers.iter().map(|p| p.name.as_str()).collect();
    let only_booking =
        format!("; if the caller does not want a booking, answer \"{NOT_BOOKING}\" without asking");
    // A caller who moves an appointment may say the new day and time at once.
    let new_time = |what: &str| {
        format!(
            "; to reschedule, the new {what} the caller asks for if they said one; otherwise, if the caller does not want a booking, answer \"{NOT_BOOKING}\" without asking"
        )
    };
    let mut properties = json!({
        INTENT: {"type": "string", "enum": INTENTS, "description": "What the caller wants: book a new appointment (the usual case), reschedule or cancel one they have, or ask a question"},
        CUSTOMER_NAME: {"type": "string", "description": format!("The caller's full name{only_booking}")},
        SERVICE: {"type": "string", "enum": services, "description": format!("The service the caller wants to book{only_booking}")},
        DATE: date_field(tenant, today, &new_time("date")),
        TIME: {"type": "string", "description": format!("The start time as 24-hour HH:MM in the business's local time{}", new_time("time"))},
        QUESTION_TOPIC: {"type": "string", "enum": topics(tenant), "description": "Only when the intent is question: which of these the caller asks about"},
        PROVIDER: {"type": "string", "enum": providers, "description": "Only if the caller asks for a particular person"},
        CALLBACK_NUMBER: {"type": "string", "description": "Mobile number for the text confirmation in E.164 (+ and digits), only if different from the number they are calling from"},
    });
    if !offers.is_empty() {
        properties[DATE]["description"] = Value::String(format!(
            "{} Free times we can offer (YYYY-MM-DD HH:MM): {}",
            properties[DATE]["description"].as_str().unwrap_or_default(),
            offers.join(", ")
        ));
        properties[OFFERED_TIME] = json!({
            "type": "string",
            "enum": offers,
            "description": "If the caller accepts one of the offered times, that choice"
        });
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": [INTENT, CUSTOMER_NAME, SERVICE, DATE, TIME],
    })
}

/// The appointment date field, resolving relative days from the tenant's today.
fn date_field(tenant: &TenantSpec, today: Date, suffix: &str) -> Value {
    let weekday = today.strftime("%A");
    json!({"type": "string", "description": format!(
        "The date of the appointment as YYYY-MM-DD. Today is {weekday}, {today} in the business's time zone ({}); resolve words like \"tomorrow\" or \"next Tuesday\" from it{suffix}",
        tenant.timezone)})
}

/// The schema of the reschedule turn: the new day and time, or one of `offers`.
pub fn move_schema(tenant: &TenantSpec, today: Date, offers: &[String]) -> Value {
    let mut properties = json!({
        DATE: date_field(tenant, today, ""),
        TIME: {"type": "string", "description": "The new start time as 24-hour HH:MM in the business's local time"},
    });
    if !offers.is_empty() {
        properties[OFFERED_TIME] = json!({
            "type": "string",
            "enum": offers,
            "description": "If the caller accepts one of the offered times, that choice (then fill the date and time from it too)"
        });
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": [DATE, TIME],
    })
}

/// The schema asking which of the caller's appointments they mean.
pub fn pick_schema(choices: &[String]) -> Value {
    json!({
        "type": "object",
        "properties": {APPOINTMENT: {"type": "string", "enum": choices, "description": "The appointment the caller means"}},
        "required": [APPOINTMENT],
    })
}

/// A yes/no question; `about` says what yes means.
pub fn yes_no_schema(about: &str) -> Value {
    json!({
        "type": "object",
        "properties": {CONFIRM: {"type": "string", "enum": ["yes", "no"], "description": about}},
        "required": [CONFIRM],
    })
}

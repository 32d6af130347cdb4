//! Turning the gathered fields into what the caller wants (the intent) and a booking
//! request, with one short spoken sentence for each way they can be wrong.

use jiff::civil::{Date, Time};
use serde_json::{Map, Value};

use crate::{
    db::tenants::Tenant,
    domain::{
        PhoneNumber,
        tenant::{parse_date, parse_hhmm},
    },
    texml::schema,
};

/// A booking request as the caller made it, checked against the tenant's menu. `Debug`
/// hides the name (the number is a masked [`PhoneNumber`]).
#[derive(Clone)]
pub struct Ask {
    /// Caller's name.
    pub customer_name: String,
    /// Index into the tenant's services.
    pub service: usize,
    /// Requested local date.
    pub date: Date,
    /// Requested local start.
    pub time: Time,
    /// Index into the tenant's providers, if the caller asked for one.
    pub provider: Option<usize>,
    /// Where to text the confirmation.
    pub phone: Option<PhoneNumber>,
}

impl std::fmt::Debug for Ask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ask")
            .field(
                "customer_name",
                &crate::domain::redact::Hidden(&self.customer_name),
            )
            .field("service", &self.service)
            .field("date", &self.date)
            .field("time", &self.time)
            .field("provider", &self.provider)
            .field("phone", &self.phone)
            .finish()
    }
}

/// What the caller called for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// A new appointment (also when the AI said nothing about the intent).
    Book,
    /// Move one they have.
    Reschedule,
    /// Cancel one they have.
    Cancel,
    /// Ask something.
    Question,
}

/// The intent in a gathered result; a result without one (or with a word we do not know)
/// is a booking, as every call was before intents existed.
pub fn intent(result: Option<&Map<String, Value>>) -> Intent {
    let said = result
        .and_then(|r| field(r, &[schema::INTENT]))
        .map(str::to_ascii_lowercase);
    match said.as_deref() {
        Some("reschedule" | "move" | "change") => Intent::Reschedule,
        Some("cancel") => Intent::Cancel,
        Some("question" | "ask") => Intent::Question,
        _ => Intent::Book,
    }
}

/// The first of `names` that holds text; a booking field answered "none" (the caller wants
/// something else) holds nothing.
pub fn field<'a>(result: &'a Map<String, Value>, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| result.get(*n).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case(schema::NOT_BOOKING))
}

/// A day and time the caller asked for: an offered one (`YYYY-MM-DD HH:MM`, optionally
/// `with NAME`) or the free-form fields; the error is the sentence the caller hears.
pub fn read_when(result: &Map<String, Value>) -> Result<(Date, Time, Option<String>), String> {
    let offer = field(result, &[schema::OFFERED_TIME]).and_then(parse_offer);
    let date = offer
        .as_ref()
        .map(|o| o.0)
        .or_else(|| field(result, &[schema::DATE, "date"]).and_then(parse_date))
        .ok_or("Sorry, I didn't get the date. Which day would you like?")?;
    let time = offer
        .as_ref()
        .map(|o| o.1)
        .or_else(|| field(result, &[schema::TIME, "time"]).and_then(parse_time))
        .ok_or("Sorry, I didn't get the time. What time would you like?")?;
    Ok((date, time, offer.and_then(|o| o.2)))
}

/// Accepts `HH:MM` (24 h), `HH:MM:SS` and `h:mm AM/PM`, since the AI does not always
/// follow the schema to the letter.
pub fn parse_time(s: &str) -> Option<Time> {
    let s = s.trim();
    if let Some(t) = parse_hhmm(s) {
        return Some(t);
    }
    if s.len() == 8 && s.ends_with(":00") {
        return parse_hhmm(&s[..5]);
    }
    let lower = s.to_ascii_lowercase().replace('.', "");
    let (clock, pm) = if let Some(c) = lower.strip_suffix("pm") {
        (c.trim(), true)
    } else if let Some(c) = lower.strip_suffix("am") {
        (c.trim(), false)
    } else {
        return None;
    };
    let (h, m) = clock.split_once(':').unwrap_or((clock, "00"));
    let h: i8 = h.parse().ok().filter(|h| (1..=12).contains(h))?;
    let m: i8 = m.parse().ok().filter(|m| (0..60).contains(m))?;
    let h = match (h, pm) {
        (12, false) => 0,
        (12, true) => 12,
        (h, true) => h + 12,
        (h, false) => h,
    };
    Time::new(h, m, 0, 0).ok()
}

/// Parses an offered-time enum value: `YYYY-MM-DD HH:MM`, optionally `with NAME`.
fn parse_offer(s: &str) -> Option<(Date, Time, Option<String>)> {
    let (when, who) = match s.split_once(" with ") {
        Some((w, p)) => (w, Some(p.trim().to_string())),
        None => (s, None),
    };
    let (d, t) = when.trim().split_once(' ')?;
    Some((parse_date(d)?, parse_hhmm(t)?, who))
}

/// Reads the gathered result; the error is the sentence the caller hears.
pub fn read(
    tenant: &Tenant,
    result: Option<&Map<String, Value>>,
    from: Option<&str>,
) -> Result<Ask, String> {
    let spec = &tenant.spec;
    let Some(result) = result else {
        return Err("Sorry, I didn't catch all of that.".into());
    };
    let Some(customer_name) = field(result, &[schema::CUSTOMER_NAME, "name"]) else {
        return Err("Sorry, I didn't catch your name.".into());
    };
    let services: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
    let service = match field(result, &[schema::SERVICE]) {
        Some(s) => spec
            .services
            .iter()
            .position(|svc| svc.name.eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "Sorry, we don't offer {s}. We can book {}.",
                    services.join(", ")
                )
            })?,
        None => {
            return Err(format!(
                "Which service would you like? We offer {}.",
                services.join(", ")
            ));
        }
    };
    // An accepted offer ("2026-11-24 15:00" or "... with Anna") beats the free-form fields.
    let (date, time, offered_provider) = read_when(result)?;
    let wanted_provider =
        offered_provider.or_else(|| field(result, &[schema::PROVIDER]).map(str::to_string));
    let provider = match wanted_provider.as_deref() {
        None => None,
        Some(p)
            if ["any", "anyone", "no preference", "none"]
                .contains(&p.to_ascii_lowercase().as_str()) =>
        {
            None
        }
        Some(p) => Some(
            spec.providers
                .iter()
                .position(|pr| pr.name.eq_ignore_ascii_case(p))
                .ok_or_else(|| {
                    let names: Vec<&str> = spec.providers.iter().map(|p| p.name.as_str()).collect();
                    format!(
                        "Sorry, {p} doesn't work here. You can ask for {}, or anyone.",
                        names.join(", ")
                    )
                })?,
        ),
    };
    if let Some(p) = provider
        && !spec.providers[p]
            .services
            .contains(&spec.services[service].name)
    {
        return Err(format!(
            "Sorry, {} doesn't do {}.",
            spec.providers[p].name, spec.services[service].name
        ));
    }
    // A number the caller gave beats the one they call from, but only inside the tenant's
    // own country calling code (a caller cannot make the line text premium or foreign
    // numbers); neither is required.
    let home = spec.phone_number.country_calling_code();
    let phone = field(result, &[schema::CALLBACK_NUMBER])
        .and_then(|n| PhoneNumber::parse(n).ok())
        .filter(|n| n.country_calling_code() == home)
        .or_else(|| from.and_then(|f| PhoneNumber::parse(f).ok()));
    Ok(Ask {
        customer_name: customer_name.chars().take(200).collect(),
        service,
        date,
        time,
        provider,
        phone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_the_shapes_the_ai_uses_parse() {
        let t = |h, m| Some(Time::new(h, m, 0, 0).unwrap());
        assert_eq!(parse_time("15:00"), t(15, 0));
        assert_eq!(parse_time("15:00:00"), t(15, 0));
        assert_eq!(parse_time("3:30 PM"), t(15, 30));
        assert_eq!(parse_time("12 am"), t(0, 0));
        assert_eq!(parse_time("12:15pm"), t(12, 15));
        assert_eq!(parse_time("13 pm"), None);
        assert_eq!(parse_time("noonish"), None);
    }

    #[test]
    fn the_intent_defaults_to_a_booking_and_none_is_no_answer() {
        let r = |v: serde_json::Value| v.as_object().unwrap().clone();
        assert_eq!(intent(None), Intent::Book);
        assert_eq!(intent(Some(&r(serde_json::json!({})))), Intent::Book);
        assert_eq!(
            intent(Some(&r(serde_json::json!({"intent": "Cancel"})))),
            Intent::Cancel
        );
        assert_eq!(
            intent(Some(&r(serde_json::json!({"intent": "reschedule"})))),
            Intent::Reschedule
        );
        assert_eq!(
            intent(Some(&r(serde_json::json!({"intent": "question"})))),
            Intent::Question
        );
        assert_eq!(
            intent(Some(&r(serde_json::json!({"intent": "dance"})))),
            Intent::Book
        );
        let none = r(serde_json::json!({"service": "none", "customer_name": " Jane "}));
        assert_eq!(field(&none, &["service"]), None);
        assert_eq!(field(&none, &["customer_name"]), Some("Jane"));
    }

    #[test]
    fn offered_times_parse_with_and_without_a_provider() {
        let (d, t, p) = parse_offer("2026-11-24 15:00 with Anna").unwrap();
        assert_eq!(
            (d.to_string(), t.hour(), p.as_deref()),
            ("2026-11-24".into(), 15, Some("Anna"))
        );
        assert_eq!(parse_offer("2026-11-24 09:30").unwrap().2, None);
        assert!(parse_offer("tomorrow").is_none());
    }
}

//! Callers' questions, answered only from the tenant's own data: opening hours (today, the
//! week, closures ahead), the address, the services with their durations and prices, and
//! the tenant's FAQ. The answer is spoken, then the caller is asked what to book; what the
//! data does not cover is never guessed at: the caller is handed to a person, or offered a
//! booking.

use jiff::{
    Timestamp,
    civil::{Date, Time},
    tz::TimeZone,
};
use serde_json::{Map, Value};

use super::{FlowError, ask, gather::Turn};
use crate::{
    booking::today_local,
    db::calls::Outcome,
    domain::{TenantSpec, tenant::DAY_KEYS},
    texml::{Texml, schema},
    token::Step,
    wording::{self, Values},
};

/// Closures this many days ahead are mentioned with the opening hours.
const CLOSURES_AHEAD_DAYS: i64 = 14;
/// Said before a hand-off or a booking offer when the data has no answer.
pub const DONT_KNOW: &str = "I'm sorry, I don't know that.";
/// How an answer ends: the booking question (the console reads a call's outcome from it).
pub const THEN_BOOK: &str = " What would you like to book?";

impl Turn<'_> {
    /// The caller asked something: answer it from the tenant's data and ask what to book,
    /// or say so and hand over (or offer a booking) when the data does not cover it.
    pub(super) async fn question(
        &self,
        result: Option<&Map<String, Value>>,
    ) -> Result<Texml, FlowError> {
        let spec = &self.entry.tenant.spec;
        let topic = result.and_then(|r| ask::field(r, &[schema::QUESTION_TOPIC]));
        let answer = topic.and_then(|t| answer(spec, &self.entry.rules.tz, t, self.now));
        let today = today_local(self.now, &self.entry.rules.tz);
        let booking = schema::booking_schema(spec, today, &[]);
        let claims = self.next(Step::Gather, self.claims.attempt, 0);
        let doc = match answer {
            _ if self.out_of_turns() => self.hand_off(DONT_KNOW, wording::GIVE_UP),
            Some(answer) => self.ask_next(&claims, &format!("{answer}{THEN_BOOK}"), &booking),
            None if spec.transfer_number.is_some() => {
                self.hand_off(DONT_KNOW, "Please contact us directly.")
            }
            None => self.ask_next(
                &claims,
                &format!("{DONT_KNOW} I can book an appointment for you: what would you like?"),
                &booking,
            ),
        };
        self.remember_as(doc, Some(Outcome::Question)).await
    }
}

/// The answer to `topic` (one of [`schema::topics`]) from `spec`'s data, or `None` when the
/// data does not cover it.
pub fn answer(spec: &TenantSpec, tz: &TimeZone, topic: &str, now: Timestamp) -> Option<String> {
    let topic = topic.trim();
    let values = Values::business(&spec.name);
    if topic.eq_ignore_ascii_case(schema::TOPICS[0]) {
        return Some(opening_hours(spec, tz.to_datetime(now).date()));
    }
    if topic.eq_ignore_ascii_case(schema::TOPICS[1]) {
        return spec
            .line
            .address
            .as_ref()
            .map(|a| format!("We're at {}.", wording::fill(a, &values)));
    }
    if topic.eq_ignore_ascii_case(schema::TOPICS[2]) {
        return Some(services(spec));
    }
    spec.line
        .faq
        .iter()
        .find(|f| f.question.eq_ignore_ascii_case(topic))
        .map(|f| wording::fill(&f.answer, &values))
}

/// "Today we're open from 9:00 AM to 5:00 PM. Our hours are Monday to Friday, 9:00 AM to
/// 5:00 PM; Saturday, 10:00 AM to 2:00 PM; closed Sunday. We're also closed on ..."
fn opening_hours(spec: &TenantSpec, today: Date) -> String {
    let weekday = today.weekday().to_monday_zero_offset() as usize;
    let closed_today = spec.closures.contains(&today) || spec.hours[weekday].is_empty();
    let mut out = if closed_today {
        "We're closed today.".to_string()
    } else {
        format!("Today we're open {}.", ranges(&spec.hours[weekday]))
    };
    out.push_str(&format!(" Our hours are {}.", week(spec)));
    let ahead: Vec<String> = spec
        .closures
        .iter()
        .filter(|d| **d > today && (**d - today).get_days() <= CLOSURES_AHEAD_DAYS as i32)
        .map(|d| d.strftime("%A, %B %-d").to_string())
        .collect();
    if !ahead.is_empty() {
        out.push_str(&format!(" We're also closed on {}.", ahead.join(" and ")));
    }
    out
}

/// The week, runs of days with the same hours spoken together.
fn week(spec: &TenantSpec) -> String {
    let name = |i: usize| day_name(DAY_KEYS[i]);
    let mut parts = Vec::new();
    let mut i = 0;
    while i < 7 {
        let mut j = i;
        while j + 1 < 7 && spec.hours[j + 1] == spec.hours[i] {
            j += 1;
        }
        let days = match j - i {
            0 => name(i).to_string(),
            1 => format!("{} and {}", name(i), name(j)),
            _ => format!("{} to {}", name(i), name(j)),
        };
        parts.push(if spec.hours[i].is_empty() {
            format!("closed {days}")
        } else {
            format!(
                "{days}, {}",
                ranges(&spec.hours[i]).trim_start_matches("from ")
            )
        });
        i = j + 1;
    }
    parts.join("; ")
}

fn day_name(key: &str) -> &'static str {
    match key {
        "mon" => "Monday",
        "tue" => "Tuesday",
        "wed" => "Wednesday",
        "thu" => "Thursday",
        "fri" => "Friday",
        "sat" => "Saturday",
        _ => "Sunday",
    }
}

/// "from 9:00 AM to 12:00 PM and from 1:00 PM to 5:00 PM".
fn ranges(list: &[(Time, Time)]) -> String {
    list.iter()
        .map(|(a, b)| format!("from {} to {}", clock(*a), clock(*b)))
        .collect::<Vec<_>>()
        .join(" and ")
}

fn clock(t: Time) -> String {
    t.strftime("%-I:%M %p").to_string()
}

/// "We offer Haircut, 45 minutes, $40; and Colour, 1 hour and 30 minutes."
fn services(spec: &TenantSpec) -> String {
    let items: Vec<String> = spec
        .services
        .iter()
        .map(|s| {
            let mut item = format!("{}, {}", s.name, duration(s.duration_minutes));
            if let Some(price) = &s.price {
                item.push_str(&format!(", {price}"));
            }
            item
        })
        .collect();
    let list = match items.as_slice() {
        [one] => one.clone(),
        [init @ .., last] => format!("{}; and {last}", init.join("; ")),
        [] => String::new(),
    };
    format!("We offer {list}.")
}

fn duration(minutes: u32) -> String {
    let (h, m) = (minutes / 60, minutes % 60);
    let part = |n: u32, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match (h, m) {
        (0, m) => part(m, "minute"),
        (h, 0) => part(h, "hour"),
        (h, m) => format!("{} and {}", part(h, "hour"), part(m, "minute")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> TenantSpec {
        TenantSpec::from_json(&json!({
            "slug": "bella", "name": "Bella Salon", "phone_number": "+13125550100",
            "timezone": "America/Chicago",
            "hours": {"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
                      "thu": [["09:00", "12:00"], ["13:00", "19:00"]], "fri": [["09:00", "17:00"]],
                      "sat": [["10:00", "14:00"]]},
            "closures": ["2026-12-24", "2027-03-01"],
            "services": [{"name": "Haircut", "duration_minutes": 45, "price": "$40"},
                         {"name": "Colour", "duration_minutes": 90}],
            "providers": [{"name": "Anna", "services": ["Haircut", "Colour"]}],
            "address": "12 Main St, Springfield",
            "faq": [{"question": "Do you have parking?", "answer": "Yes, behind {business}."}]
        }))
        .unwrap()
    }

    fn at(day: &str) -> Timestamp {
        format!("{day}T12:00:00-06:00[America/Chicago]")
            .parse::<jiff::Zoned>()
            .unwrap()
            .timestamp()
    }

    fn ask(topic: &str, day: &str) -> Option<String> {
        let tz = TimeZone::get("America/Chicago").unwrap();
        answer(&spec(), &tz, topic, at(day))
    }

    #[test]
    fn opening_hours_say_today_the_week_and_closures_ahead() {
        let monday = ask("opening hours", "2026-12-21").unwrap();
        assert_eq!(
            monday,
            "Today we're open from 9:00 AM to 5:00 PM. Our hours are Monday to Wednesday, 9:00 AM to 5:00 PM; Thursday, 9:00 AM to 12:00 PM and from 1:00 PM to 7:00 PM; Friday, 9:00 AM to 5:00 PM; Saturday, 10:00 AM to 2:00 PM; closed Sunday. We're also closed on Thursday, December 24."
        );
        let sunday = ask("Opening hours", "2026-12-27").unwrap();
        assert!(sunday.starts_with("We're closed today."), "{sunday}");
        let closure = ask("opening hours", "2026-12-24").unwrap();
        assert!(closure.starts_with("We're closed today."), "{closure}");
    }

    #[test]
    fn address_services_and_faq_come_from_the_tenant_and_nothing_else_is_answered() {
        assert_eq!(
            ask("address", "2026-12-21").as_deref(),
            Some("We're at 12 Main St, Springfield.")
        );
        assert_eq!(
            ask("services and prices", "2026-12-21").as_deref(),
            Some("We offer Haircut, 45 minutes, $40; and Colour, 1 hour and 30 minutes.")
        );
        assert_eq!(
            ask("do you have parking?", "2026-12-21").as_deref(),
            Some("Yes, behind Bella Salon.")
        );
        assert_eq!(ask("something else", "2026-12-21"), None);
        assert_eq!(ask("Do you sell gift cards?", "2026-12-21"), None);
        let mut no_address = spec();
        no_address.line.address = None;
        let tz = TimeZone::get("America/Chicago").unwrap();
        assert_eq!(answer(&no_address, &tz, "address", at("2026-12-21")), None);
    }
}

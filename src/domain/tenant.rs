//! The tenant as operators post it: parsed field by field from JSON so every mistake is
//! reported with the field that holds it (`hours.tue[1]`, `providers[0].services[2]`) and a
//! sentence saying what to fix. A `TenantSpec` is valid by construction.

use std::collections::BTreeSet;

use jiff::civil::{Date, Time};
use serde_json::{Map, Value, json};

use super::{line::LineSpec, phone::PhoneNumber, reminder_calls::ReminderCallsSpec};
use crate::wording;

/// Weekday keys in the order used everywhere (index 0 = Monday).
pub const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Durations, slot grid and buffer are whole multiples of this many minutes, so that
/// occupied time maps onto the database's fixed cells (see `db/appointments.rs`).
pub const CELL_MINUTES: u32 = 5;

/// A validation failure: which field, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// JSON path of the offending field.
    pub field: String,
    /// A sentence that tells the operator what to fix.
    pub message: String,
}

fn err<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, FieldError> {
    Err(FieldError {
        field: field.into(),
        message: message.into(),
    })
}

/// A bookable service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Name callers say ("Haircut"); unique per tenant, case-insensitively.
    pub name: String,
    /// How long the service takes.
    pub duration_minutes: u32,
    /// What it costs, as the line says it ("$45", "from 60 euros"); optional.
    pub price: Option<String>,
}

/// A person (or chair, or bay) that performs services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSpec {
    /// Display name; unique per tenant.
    pub name: String,
    /// Names of the services offered, as spelled in `services`.
    pub services: Vec<String>,
}

/// A validated tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSpec {
    /// URL-safe handle (`bella-salon`).
    pub slug: String,
    /// Business name, spoken and texted.
    pub name: String,
    /// The number callers dial; unique across tenants.
    pub phone_number: PhoneNumber,
    /// IANA time zone name, known to be valid.
    pub timezone: String,
    /// TTS voice for `<Voice name=…>`.
    pub voice: String,
    /// What the line says first (may hold `{business}`; see `wording::GREETING`).
    pub greeting: String,
    /// Asked again after a refusal without alternatives; `None` uses the default.
    pub reprompt: Option<String>,
    /// The booking read back to the caller; `None` uses the default.
    pub confirmation: Option<String>,
    /// Said before handing the call to `transfer_number`; `None` uses the default.
    pub transfer_line: Option<String>,
    /// Said last before hanging up; `None` uses the default.
    pub goodbye: Option<String>,
    /// The confirmation text message; `None` uses the default.
    pub sms_confirmation: Option<String>,
    /// The reminder text message; `None` uses the default.
    pub sms_reminder: Option<String>,
    /// The text sent when a caller moves their appointment by phone; `None` uses the default.
    pub sms_moved: Option<String>,
    /// While true, callers hear `closed.xml` instead of the booking `<AIGather>`.
    pub closed: bool,
    /// Sender of texts; `None` uses `phone_number`.
    pub sms_from: Option<PhoneNumber>,
    /// Messaging profile; `None` uses the server default.
    pub messaging_profile_id: Option<String>,
    /// A human to `<Dial>` when the AI cannot book.
    pub transfer_number: Option<PhoneNumber>,
    /// Opening ranges per weekday (index 0 = Monday), sorted and non-overlapping.
    pub hours: [Vec<(Time, Time)>; 7],
    /// Days closed regardless of `hours`.
    pub closures: BTreeSet<Date>,
    /// Grid of start times, in minutes.
    pub slot_minutes: u32,
    /// Minimum time between now and a booked start.
    pub min_notice_minutes: u32,
    /// How many local days ahead may be booked.
    pub horizon_days: u32,
    /// Time blocked after each appointment.
    pub buffer_minutes: u32,
    /// Reminder texts, hours before the appointment.
    pub reminder_hours: Vec<u32>,
    /// Failed booking attempts before handing the call to a human.
    pub max_attempts: u32,
    /// Hold the slot and ask the caller yes/no before booking.
    pub confirm_before_booking: bool,
    /// How long a held slot stays reserved while the caller confirms.
    pub hold_seconds: u32,
    /// Most texts per second sent from this tenant's `from` number (pacing).
    pub sms_rate_per_second: f64,
    /// Most booked future appointments one caller number may hold (a bot cannot book out
    /// the week); a caller over it is told so on the phone and offered a person.
    pub max_future_bookings_per_caller: u32,
    /// Services, in the operator's order.
    pub services: Vec<ServiceSpec>,
    /// Providers, in the operator's order.
    pub providers: Vec<ProviderSpec>,
    /// What the line knows beyond booking and how it talks (address, FAQ, persona, ...).
    pub line: LineSpec,
    /// Reminder calls; `None`: the tenant places none (the default).
    pub reminder_calls: Option<ReminderCallsSpec>,
}

const FIELDS: &[&str] = &[
    "slug",
    "name",
    "phone_number",
    "timezone",
    "voice",
    "greeting",
    "reprompt",
    "confirmation",
    "transfer_line",
    "goodbye",
    "sms_confirmation",
    "sms_reminder",
    "sms_moved",
    "closed",
    "sms_from",
    "messaging_profile_id",
    "transfer_number",
    "hours",
    "closures",
    "slot_minutes",
    "min_notice_minutes",
    "horizon_days",
    "buffer_minutes",
    "reminder_hours",
    "max_attempts",
    "confirm_before_booking",
    "hold_seconds",
    "sms_rate_per_second",
    "max_future_bookings_per_caller",
    "services",
    "providers",
    "reminder_calls",
];

/// Default TTS voice (PROTOCOL.md §2.2 recommends always naming one).
pub const DEFAULT_VOICE: &str = "Telnyx.NaturalHD.astra";

impl TenantSpec {
    /// Parses a tenant from the JSON an operator posted. Unknown fields are refused so a
    /// typo (`"timezone "`) is not silently ignored.
    pub fn from_json(value: &Value) -> Result<Self, FieldError> {
        let Some(map) = value.as_object() else {
            return err("", "the body must be a JSON object describing the tenant");
        };
        if let Some(unknown) = map
            .keys()
            .find(|k| !FIELDS.contains(&k.as_str()) && !super::line::FIELDS.contains(&k.as_str()))
        {
            return err(
                unknown.clone(),
                format!(
                    "unknown field; known fields are {}, {}",
                    FIELDS.join(", "),
                    super::line::FIELDS.join(", ")
                ),
            );
        }
        let slug = slug(map)?;
        let name = name_text(map, "name", 200)?.ok_or_else(|| missing("name"))?;
        let phone_number = phone(map, "phone_number")?.ok_or_else(|| missing("phone_number"))?;
        let timezone = timezone(map)?;
        let voice = text(map, "voice", 200)?.unwrap_or_else(|| DEFAULT_VOICE.into());
        if voice.chars().any(char::is_control) {
            return err(
                "voice",
                "must be a TTS voice name such as \"Telnyx.NaturalHD.astra\", without control characters",
            );
        }
        let greeting = wording_text(map, &wording::GREETING)?
            .unwrap_or_else(|| wording::GREETING.default.into());
        let services = services(map)?;
        let providers = providers(map, &services)?;
        let slot_minutes = minutes(map, "slot_minutes", 15, CELL_MINUTES, 240, true)?;
        let buffer_minutes = minutes(map, "buffer_minutes", 0, 0, 240, true)?;
        Ok(Self {
            reprompt: wording_text(map, &wording::REPROMPT)?,
            confirmation: wording_text(map, &wording::CONFIRMATION)?,
            transfer_line: wording_text(map, &wording::TRANSFER_LINE)?,
            goodbye: wording_text(map, &wording::GOODBYE)?,
            sms_confirmation: wording_text(map, &wording::SMS_CONFIRMATION)?,
            sms_reminder: wording_text(map, &wording::SMS_REMINDER)?,
            sms_moved: wording_text(map, &wording::SMS_MOVED)?,
            line: LineSpec::from_map(map)?,
            reminder_calls: ReminderCallsSpec::from_map(map)?,
            closed: flag(map, "closed")?,
            sms_from: phone(map, "sms_from")?,
            messaging_profile_id: text(map, "messaging_profile_id", 100)?,
            transfer_number: phone(map, "transfer_number")?,
            hours: hours(map)?,
            closures: closures(map)?,
            min_notice_minutes: minutes(map, "min_notice_minutes", 60, 0, 60 * 24 * 30, false)?,
            horizon_days: minutes(map, "horizon_days", 60, 1, 366, false)?,
            reminder_hours: reminder_hours(map)?,
            max_attempts: minutes(map, "max_attempts", 3, 1, 10, false)?,
            confirm_before_booking: flag(map, "confirm_before_booking")?,
            hold_seconds: minutes(map, "hold_seconds", 120, 15, 900, false)?,
            sms_rate_per_second: sms_rate(map)?,
            max_future_bookings_per_caller: minutes(
                map,
                "max_future_bookings_per_caller",
                DEFAULT_MAX_FUTURE_BOOKINGS,
                1,
                100,
                false,
            )?,
            slug,
            name,
            phone_number,
            timezone,
            voice,
            greeting,
            slot_minutes,
            buffer_minutes,
            services,
            providers,
        })
    }

    /// The JSON shape operators post and read back (without `id` and timestamps).
    pub fn to_json(&self) -> Value {
        let mut hours = Map::new();
        for (i, ranges) in self.hours.iter().enumerate() {
            if !ranges.is_empty() {
                let list: Vec<Value> = ranges
                    .iter()
                    .map(|(a, b)| json!([hhmm(*a), hhmm(*b)]))
                    .collect();
                hours.insert(DAY_KEYS[i].into(), Value::Array(list));
            }
        }
        let mut out = json!({
            "slug": self.slug,
            "name": self.name,
            "phone_number": self.phone_number,
            "timezone": self.timezone,
            "voice": self.voice,
            "greeting": self.greeting,
            "reprompt": self.reprompt,
            "confirmation": self.confirmation,
            "transfer_line": self.transfer_line,
            "goodbye": self.goodbye,
            "sms_confirmation": self.sms_confirmation,
            "sms_reminder": self.sms_reminder,
            "sms_moved": self.sms_moved,
            "closed": self.closed,
            "sms_from": self.sms_from,
            "messaging_profile_id": self.messaging_profile_id,
            "transfer_number": self.transfer_number,
            "hours": hours,
            "closures": self.closures.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            "slot_minutes": self.slot_minutes,
            "min_notice_minutes": self.min_notice_minutes,
            "horizon_days": self.horizon_days,
            "buffer_minutes": self.buffer_minutes,
            "reminder_hours": self.reminder_hours,
            "max_attempts": self.max_attempts,
            "confirm_before_booking": self.confirm_before_booking,
            "hold_seconds": self.hold_seconds,
            "sms_rate_per_second": self.sms_rate_per_second,
            "max_future_bookings_per_caller": self.max_future_bookings_per_caller,
            "services": self.services.iter().map(|s| {
                let mut v = json!({"name": s.name, "duration_minutes": s.duration_minutes});
                if let Some(price) = &s.price {
                    v["price"] = price.as_str().into();
                }
                v
            }).collect::<Vec<_>>(),
            "providers": self.providers.iter().map(|p| json!({"name": p.name, "services": p.services})).collect::<Vec<_>>(),
        });
        if let Some(obj) = out.as_object_mut() {
            self.line.add_to(obj);
            obj.insert(
                super::reminder_calls::FIELD.into(),
                self.reminder_calls
                    .as_ref()
                    .map_or(Value::Null, ReminderCallsSpec::to_json),
            );
        }
        out
    }

    /// The tenant's text for wording `field`, or the default when it has none. Placeholders
    /// are still in it; see [`wording::fill`].
    pub fn wording(&self, field: &wording::Field) -> &str {
        let own = match field.name {
            "greeting" => Some(&self.greeting),
            "reprompt" => self.reprompt.as_ref(),
            "confirmation" => self.confirmation.as_ref(),
            "transfer_line" => self.transfer_line.as_ref(),
            "goodbye" => self.goodbye.as_ref(),
            "sms_confirmation" => self.sms_confirmation.as_ref(),
            "sms_reminder" => self.sms_reminder.as_ref(),
            "sms_moved" => self.sms_moved.as_ref(),
            _ => None,
        };
        own.map_or(field.default, String::as_str)
    }

    /// The service called `name`, ignoring case and surrounding space.
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        let name = name.trim();
        self.services
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }
}

/// Formats a time as `HH:MM`.
pub fn hhmm(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// Parses a strict 24-hour `HH:MM`.
pub fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: i8 = h.parse().ok()?;
    let m: i8 = m.parse().ok()?;
    Time::new(h, m, 0, 0).ok()
}

/// Parses a strict `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if s.len() != 10 {
        return None;
    }
    s.parse::<Date>().ok()
}

fn missing(field: &str) -> FieldError {
    FieldError {
        field: field.into(),
        message: "this field is required".into(),
    }
}

fn text(map: &Map<String, Value>, field: &str, max: usize) -> Result<Option<String>, FieldError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => err(
            field,
            "must not be empty; leave the field out to use the default",
        ),
        Some(Value::String(s)) if s.chars().count() > max => {
            err(field, format!("is longer than {max} characters"))
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => err(field, "must be a string"),
    }
}

/// Bidirectional formatting characters (Unicode `Bidi_Control`): they reorder the text
/// around them, so a name holding one reads differently in an SMS than it was typed.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A name (tenant, service, provider): text up to `max` characters without control or
/// bidirectional formatting characters, which TeXML drops but texts would carry.
fn name_text(
    map: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, FieldError> {
    plain_text(map, field, max)
}

/// Text up to `max` characters without control or bidirectional formatting characters
/// (names, and what the line says from the tenant's data).
pub(super) fn plain_text(
    map: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, FieldError> {
    let value = text(map, field, max)?;
    if let Some(c) = value
        .as_deref()
        .and_then(|v| v.chars().find(|&c| c.is_control() || is_bidi_control(c)))
    {
        return err(
            field,
            format!(
                "must be plain text without control or bidirectional formatting characters (found U+{:04X}); retype it",
                c as u32
            ),
        );
    }
    Ok(value)
}

/// A wording field: text up to 1000 characters whose placeholders fit the field (and, for
/// a text, that fits in a text and says no opt-out keyword).
fn wording_text(
    map: &Map<String, Value>,
    field: &wording::Field,
) -> Result<Option<String>, FieldError> {
    let value = text(map, field.name, 1000)?;
    if let Some(v) = &value {
        wording::check(field, v)?;
        if [
            wording::SMS_CONFIRMATION,
            wording::SMS_REMINDER,
            wording::SMS_MOVED,
        ]
        .contains(field)
        {
            crate::sms::texts::check_wording(field, v)?;
        }
    }
    Ok(value)
}

fn flag(map: &Map<String, Value>, field: &str) -> Result<bool, FieldError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => err(field, "must be true or false"),
    }
}

fn slug(map: &Map<String, Value>) -> Result<String, FieldError> {
    let s = text(map, "slug", 64)?.ok_or_else(|| missing("slug"))?;
    let ok = s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && !s.chars().all(|c| c.is_ascii_digit());
    if !ok {
        return err(
            "slug",
            format!(
                "{s:?} must use only a-z, 0-9 and '-', start with a letter or digit, and not be all digits (it is used in URLs), e.g. \"bella-salon\""
            ),
        );
    }
    Ok(s)
}

fn phone(map: &Map<String, Value>, field: &str) -> Result<Option<PhoneNumber>, FieldError> {
    match text(map, field, 32)? {
        None => Ok(None),
        Some(s) => PhoneNumber::parse(&s)
            .map(Some)
            .or_else(|e| err(field, e.to_string())),
    }
}

fn timezone(map: &Map<String, Value>) -> Result<String, FieldError> {
    let tz = text(map, "timezone", 64)?.ok_or_else(|| missing("timezone"))?;
    match crate::tzdb::get(&tz) {
        Ok(_) => Ok(tz),
        Err(_) => err(
            "timezone",
            format!(
                "{tz:?} is not a known IANA time zone; use a name like \"America/Chicago\" or \"Europe/Berlin\""
            ),
        ),
    }
}

fn minutes(
    map: &Map<String, Value>,
    field: &str,
    default: u32,
    min: u32,
    max: u32,
    on_grid: bool,
) -> Result<u32, FieldError> {
    let v = match map.get(field) {
        None | Some(Value::Null) => return Ok(default),
        Some(v) => v,
    };
    let Some(n) = v.as_u64().filter(|n| (min as u64..=max as u64).contains(n)) else {
        return err(field, format!("must be a whole number from {min} to {max}"));
    };
    let n = n as u32;
    if on_grid && !n.is_multiple_of(CELL_MINUTES) {
        return err(
            field,
            format!("must be a multiple of {CELL_MINUTES} minutes"),
        );
    }
    Ok(n)
}

fn hours(map: &Map<String, Value>) -> Result<[Vec<(Time, Time)>; 7], FieldError> {
    let mut week: [Vec<(Time, Time)>; 7] = Default::default();
    let obj = match map.get("hours") {
        None | Some(Value::Null) => {
            return err(
                "hours",
                "opening hours are required, e.g. {\"mon\": [[\"09:00\", \"17:00\"]]}; days left out are closed",
            );
        }
        Some(Value::Object(o)) => o,
        Some(_) => {
            return err(
                "hours",
                "must be an object keyed by mon, tue, wed, thu, fri, sat, sun",
            );
        }
    };
    for (day, ranges) in obj {
        let Some(index) = DAY_KEYS.iter().position(|d| d == day) else {
            return err(
                format!("hours.{day}"),
                "unknown day; use mon, tue, wed, thu, fri, sat or sun",
            );
        };
        let Some(list) = ranges.as_array() else {
            return err(
                format!("hours.{day}"),
                "must be a list of [\"HH:MM\", \"HH:MM\"] ranges",
            );
        };
        let mut parsed = Vec::with_capacity(list.len());
        for (i, range) in list.iter().enumerate() {
            let field = format!("hours.{day}[{i}]");
            let pair = range.as_array().filter(|p| p.len() == 2);
            let Some(pair) = pair else {
                return err(
                    field,
                    "must be a pair [\"HH:MM\", \"HH:MM\"] (opening, closing)",
                );
            };
            let mut ends = [Time::midnight(); 2];
            for (j, end) in pair.iter().enumerate() {
                let s = end.as_str().unwrap_or_default();
                ends[j] = parse_hhmm(s).ok_or_else(|| FieldError {
                    field: field.clone(),
                    message: format!(
                        "{end} is not a time; use 24-hour \"HH:MM\" from 00:00 to 23:59"
                    ),
                })?;
            }
            // Starts are opening time plus whole slots, so only openings must sit on the
            // 5-minute cell grid; a closing time like 23:59 is fine.
            if !(ends[0].minute() as u32).is_multiple_of(CELL_MINUTES) {
                return err(
                    field,
                    format!(
                        "opening time {} is not on a {CELL_MINUTES}-minute mark; use times like 09:00, 09:05 or 09:30",
                        hhmm(ends[0])
                    ),
                );
            }
            if ends[0] >= ends[1] {
                return err(
                    field,
                    format!(
                        "{} to {} ends before it starts; hours may not cross midnight, so split them over two days (e.g. [\"{}\", \"23:59\"] and the next day [\"00:00\", \"{}\"])",
                        hhmm(ends[0]),
                        hhmm(ends[1]),
                        hhmm(ends[0]),
                        hhmm(ends[1])
                    ),
                );
            }
            parsed.push((ends[0], ends[1], i));
        }
        parsed.sort();
        for w in parsed.windows(2) {
            if w[1].0 < w[0].1 {
                return err(
                    format!("hours.{day}[{}]", w[1].2),
                    format!(
                        "{}–{} overlaps {}–{}; make the ranges separate",
                        hhmm(w[1].0),
                        hhmm(w[1].1),
                        hhmm(w[0].0),
                        hhmm(w[0].1)
                    ),
                );
            }
        }
        week[index] = parsed.into_iter().map(|(a, b, _)| (a, b)).collect();
    }
    Ok(week)
}

fn closures(map: &Map<String, Value>) -> Result<BTreeSet<Date>, FieldError> {
    let list = match map.get("closures") {
        None | Some(Value::Null) => return Ok(BTreeSet::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return err("closures", "must be a list of dates \"YYYY-MM-DD\""),
    };
    let mut out = BTreeSet::new();
    for (i, d) in list.iter().enumerate() {
        let date = d.as_str().and_then(parse_date).ok_or_else(|| FieldError {
            field: format!("closures[{i}]"),
            message: format!("{d} is not a date; use \"YYYY-MM-DD\""),
        })?;
        out.insert(date);
    }
    Ok(out)
}

fn reminder_hours(map: &Map<String, Value>) -> Result<Vec<u32>, FieldError> {
    let list = match map.get("reminder_hours") {
        None | Some(Value::Null) => return Ok(vec![24]),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return err(
                "reminder_hours",
                "must be a list of whole hours before the appointment, e.g. [24]",
            );
        }
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, h) in list.iter().enumerate() {
        let Some(h) = h.as_u64().filter(|h| (1..=168).contains(h)) else {
            return err(
                format!("reminder_hours[{i}]"),
                "must be a whole number of hours from 1 to 168",
            );
        };
        if out.contains(&(h as u32)) {
            return err(
                format!("reminder_hours[{i}]"),
                format!("{h} is listed twice"),
            );
        }
        out.push(h as u32);
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    Ok(out)
}

/// Default cap on one caller number's booked future appointments with a tenant.
pub const DEFAULT_MAX_FUTURE_BOOKINGS: u32 = 3;

/// Default pacing: one text per second per sender.
pub const DEFAULT_SMS_RATE: f64 = 1.0;
/// Highest pacing accepted (a short code's throughput).
pub const MAX_SMS_RATE: f64 = 1000.0;

fn sms_rate(map: &Map<String, Value>) -> Result<f64, FieldError> {
    match map.get("sms_rate_per_second") {
        None | Some(Value::Null) => Ok(DEFAULT_SMS_RATE),
        Some(v) => match v.as_f64() {
            Some(r) if r > 0.0 && r <= MAX_SMS_RATE && r.is_finite() => Ok(r),
            _ => err(
                "sms_rate_per_second",
                format!(
                    "must be a number of texts per second above 0 and at most {MAX_SMS_RATE}, e.g. 1 for a long code or 0.1 for a long code texting outside the US; match your number's Telnyx throughput"
                ),
            ),
        },
    }
}

fn services(map: &Map<String, Value>) -> Result<Vec<ServiceSpec>, FieldError> {
    let Some(list) = map
        .get("services")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    else {
        return err(
            "services",
            "list at least one service, e.g. [{\"name\": \"Haircut\", \"duration_minutes\": 45}]",
        );
    };
    let mut out: Vec<ServiceSpec> = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        let field = format!("services[{i}]");
        let Some(obj) = s.as_object() else {
            return err(field, "must be an object with name and duration_minutes");
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !["name", "duration_minutes", "price"].contains(&k.as_str()))
        {
            return err(
                format!("{field}.{k}"),
                "unknown field; a service has name, duration_minutes and (optionally) price",
            );
        }
        let name = name_text(obj, "name", 100)
            .map_err(|e| prefix(&field, e))?
            .ok_or_else(|| missing(&format!("{field}.name")))?;
        if out.iter().any(|o| o.name.eq_ignore_ascii_case(&name)) {
            return err(format!("{field}.name"), format!("{name:?} is listed twice"));
        }
        if !obj.contains_key("duration_minutes") {
            return Err(missing(&format!("{field}.duration_minutes")));
        }
        let duration_minutes = minutes(obj, "duration_minutes", 0, CELL_MINUTES, 480, true)
            .map_err(|e| prefix(&field, e))?;
        let price = plain_text(obj, "price", 40).map_err(|e| prefix(&field, e))?;
        out.push(ServiceSpec {
            name,
            duration_minutes,
            price,
        });
    }
    Ok(out)
}

fn providers(
    map: &Map<String, Value>,
    services: &[ServiceSpec],
) -> Result<Vec<ProviderSpec>, FieldError> {
    let Some(list) = map
        .get("providers")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    else {
        return err(
            "providers",
            "list at least one provider, e.g. [{\"name\": \"Anna\", \"services\": [\"Haircut\"]}]",
        );
    };
    let known = services
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut out: Vec<ProviderSpec> = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let field = format!("providers[{i}]");
        let Some(obj) = p.as_object() else {
            return err(field, "must be an object with name and services");
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !["name", "services"].contains(&k.as_str()))
        {
            return err(
                format!("{field}.{k}"),
                "unknown field; a provider has name and services",
            );
        }
        let name = name_text(obj, "name", 100)
            .map_err(|e| prefix(&field, e))?
            .ok_or_else(|| missing(&format!("{field}.name")))?;
        if out.iter().any(|o| o.name.eq_ignore_ascii_case(&name)) {
            return err(format!("{field}.name"), format!("{name:?} is listed twice"));
        }
        let Some(offered) = obj
            .get("services")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
        else {
            return err(
                format!("{field}.services"),
                format!("list the services this provider offers, from: {known}"),
            );
        };
        let mut names = Vec::with_capacity(offered.len());
        for (j, s) in offered.iter().enumerate() {
            let wanted = s.as_str().unwrap_or_default();
            let Some(svc) = services
                .iter()
                .find(|svc| svc.name.eq_ignore_ascii_case(wanted.trim()))
            else {
                return err(
                    format!("{field}.services[{j}]"),
                    format!("{s} is not one of the tenant's services ({known})"),
                );
            };
            if !names.contains(&svc.name) {
                names.push(svc.name.clone());
            }
        }
        out.push(ProviderSpec {
            name,
            services: names,
        });
    }
    if let Some((i, s)) = services
        .iter()
        .enumerate()
        .find(|(_, s)| !out.iter().any(|p| p.services.contains(&s.name)))
    {
        return err(
            format!("services[{i}]"),
            format!(
                "{:?} is offered by no provider; add it to a provider's services",
                s.name
            ),
        );
    }
    Ok(out)
}

fn prefix(parent: &str, e: FieldError) -> FieldError {
    FieldError {
        field: format!("{parent}.{}", e.field),
        message: e.message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bella() -> Value {
        json!({
            "slug": "bella-salon", "name": "Bella Salon", "phone_number": "+13125550100",
            "timezone": "America/Chicago",
            "hours": {"mon": [["09:00", "17:00"]], "tue": [["13:00", "19:00"], ["09:00", "12:00"]]},
            "closures": ["2026-12-25"],
            "services": [{"name": "Haircut", "duration_minutes": 45}],
            "providers": [{"name": "Anna", "services": ["haircut"]}]
        })
    }

    fn field_of(patch: Value) -> String {
        let mut v = bella();
        for (k, val) in patch.as_object().unwrap() {
            v[k] = val.clone();
        }
        TenantSpec::from_json(&v).unwrap_err().field
    }

    #[test]
    fn a_service_price_is_optional_short_plain_text_and_a_bad_one_names_its_field() {
        let with = |price: Value| {
            let mut v = bella();
            v["services"][0]["price"] = price;
            TenantSpec::from_json(&v)
        };
        assert_eq!(
            with(json!("$45")).unwrap().services[0].price.as_deref(),
            Some("$45")
        );
        for bad in [
            json!(45),
            json!("x".repeat(41)),
            json!("$4\u{202E}5"),
            json!(""),
        ] {
            let err = with(bad.clone()).unwrap_err();
            assert_eq!(err.field, "services[0].price", "{bad}: {err}");
        }
    }

    #[test]
    fn names_with_control_or_bidi_characters_are_refused_naming_the_field() {
        for bad in [
            "Bella\u{202E}nolaS",
            "Bella\nSalon",
            "A\u{2066}B",
            "x\u{200F}",
        ] {
            assert_eq!(field_of(json!({"name": bad})), "name", "{bad:?}");
            assert_eq!(
                field_of(json!({"services": [{"name": bad, "duration_minutes": 30}]})),
                "services[0].name",
                "{bad:?}"
            );
            assert_eq!(
                field_of(json!({"providers": [{"name": bad, "services": ["Haircut"]}]})),
                "providers[0].name",
                "{bad:?}"
            );
        }
        let err = TenantSpec::from_json(&{
            let mut v = bella();
            v["name"] = json!("Bella\u{202E}");
            v
        })
        .unwrap_err();
        assert!(err.message.contains("U+202E"), "{}", err.message);
        let mut v = bella();
        v["name"] = json!("Salon Ünïcødé — 美容院 سالن");
        assert!(
            TenantSpec::from_json(&v).is_ok(),
            "letters of any script are fine"
        );
    }

    #[test]
    fn a_complete_tenant_parses_with_defaults() {
        let t = TenantSpec::from_json(&bella()).unwrap();
        assert_eq!(t.slot_minutes, 15);
        assert_eq!(t.reminder_hours, vec![24]);
        assert_eq!(t.sms_rate_per_second, 1.0);
        assert_eq!(t.voice, DEFAULT_VOICE);
        assert_eq!(t.hours[1].len(), 2);
        assert!(t.hours[1][0].0 < t.hours[1][1].0, "ranges are sorted");
        assert_eq!(
            t.providers[0].services,
            vec!["Haircut"],
            "service names are canonicalised"
        );
    }

    #[test]
    fn json_round_trips() {
        let t = TenantSpec::from_json(&bella()).unwrap();
        assert_eq!(TenantSpec::from_json(&t.to_json()).unwrap(), t);
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(
            field_of(json!({"phone_number": "3125550100"})),
            "phone_number"
        );
        assert_eq!(field_of(json!({"timezone": "Mars/Olympus"})), "timezone");
        assert_eq!(
            field_of(json!({"hours": {"mon": [["09:00", "25:00"]]}})),
            "hours.mon[0]"
        );
        assert_eq!(
            field_of(json!({"hours": {"mon": [["17:00", "09:00"]]}})),
            "hours.mon[0]"
        );
        assert_eq!(
            field_of(json!({"hours": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}})),
            "hours.mon[1]"
        );
        assert_eq!(field_of(json!({"hours": {"funday": []}})), "hours.funday");
        assert_eq!(
            field_of(json!({"services": [{"name": "Cut", "duration_minutes": 0}]})),
            "services[0].duration_minutes"
        );
        assert_eq!(
            field_of(json!({"providers": [{"name": "Anna", "services": ["Colour"]}]})),
            "providers[0].services[0]"
        );
        assert_eq!(field_of(json!({"closures": ["2026-02-30"]})), "closures[0]");
        assert_eq!(field_of(json!({"slug": "Bella Salon"})), "slug");
        assert_eq!(field_of(json!({"slot_minutes": 7})), "slot_minutes");
        assert_eq!(field_of(json!({"timezon": "UTC"})), "timezon");
        assert_eq!(field_of(json!({"greeting": "Hi {name}"})), "greeting");
        assert_eq!(field_of(json!({"sms_reminder": "{when}"})), "sms_reminder");
        assert_eq!(field_of(json!({"closed": "yes"})), "closed");
        assert_eq!(
            field_of(json!({"sms_rate_per_second": 0})),
            "sms_rate_per_second"
        );
        assert_eq!(
            field_of(json!({"sms_rate_per_second": "fast"})),
            "sms_rate_per_second"
        );
    }

    #[test]
    fn strict_time_and_date_parsing() {
        assert!(parse_hhmm("9:05").is_some());
        for bad in ["25:00", "24:00", "12:60", "1200", "12:5", "", "ab:cd"] {
            assert!(parse_hhmm(bad).is_none(), "{bad}");
        }
        assert!(parse_date("2028-02-29").is_some());
        assert!(parse_date("2026-02-29").is_none());
        assert!(parse_date("2026-1-01").is_none());
    }
}

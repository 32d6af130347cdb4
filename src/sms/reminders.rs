//! Which texts an appointment calls for, and when: pure functions over the tenant's rules,
//! so booking (and moving) can queue them inside its own transaction.
//!
//! Rules: the confirmation goes at once. A reminder goes `reminder_hours` before the
//! start, except during quiet hours (21:00–08:00 in the tenant's zone), when it waits for
//! 08:00 if that is still before the appointment and is dropped otherwise. An appointment
//! booked less than an hour ahead gets no reminders, and a reminder whose time has already
//! passed at booking is dropped (the confirmation has just said it all). Texts go only to a
//! number in the tenant's own country calling code: a caller cannot make the line text
//! premium or foreign numbers.

use jiff::{SignedDuration, Timestamp, civil::Time, tz::TimeZone};

use super::Kind;
use crate::domain::{PhoneNumber, TenantSpec};

/// Quiet hours start (tenant local).
pub const QUIET_FROM: Time = Time::constant(21, 0, 0, 0);
/// Quiet hours end (tenant local).
pub const QUIET_UNTIL: Time = Time::constant(8, 0, 0, 0);
/// No reminders for an appointment booked closer than this.
pub const MIN_LEAD: SignedDuration = SignedDuration::from_hours(1);

/// A text to queue for an appointment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedText {
    /// Confirmation or reminder.
    pub kind: Kind,
    /// When to send (Unix seconds).
    pub due_at: i64,
    /// The customer (E.164).
    pub to: String,
    /// The tenant's sender (E.164).
    pub from: String,
    /// Messaging profile, when one is configured.
    pub messaging_profile_id: Option<String>,
}

/// When each reminder goes, soonest first, after quiet hours and the lead rules.
pub fn plan_reminders(
    reminder_hours: &[u32],
    tz: &TimeZone,
    start: Timestamp,
    now: Timestamp,
) -> Vec<Timestamp> {
    if start.duration_since(now) < MIN_LEAD {
        return Vec::new();
    }
    let mut out: Vec<Timestamp> = reminder_hours
        .iter()
        .filter_map(|h| {
            let due = start
                .checked_sub(SignedDuration::from_hours(i64::from(*h)))
                .ok()?;
            let due = out_of_quiet_hours(due, tz)?;
            (due < start && due >= now).then_some(due)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `due`, or the next 08:00 local when `due` falls in quiet hours.
fn out_of_quiet_hours(due: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
    let local = due.to_zoned(tz.clone());
    let t = local.time();
    if t >= QUIET_UNTIL && t < QUIET_FROM {
        return Some(due);
    }
    let day = if t >= QUIET_FROM {
        local.date().tomorrow().ok()?
    } else {
        local.date()
    };
    day.to_datetime(QUIET_UNTIL)
        .to_zoned(tz.clone())
        .ok()
        .map(|z| z.timestamp())
}

/// Every text a new booking calls for: the confirmation now, then the reminders. Nothing
/// without a customer number, or for one outside the tenant's country calling code.
pub fn plan_texts(
    tenant: &TenantSpec,
    default_profile: Option<&str>,
    customer_phone: Option<&str>,
    start: Timestamp,
    now: Timestamp,
) -> Vec<PlannedText> {
    let Some(to) = customer_phone else {
        return Vec::new();
    };
    if !textable(tenant, to) {
        return Vec::new();
    }
    let Ok(tz) = crate::tzdb::get(&tenant.timezone) else {
        return Vec::new();
    };
    let text = |kind, due: Timestamp| PlannedText {
        kind,
        due_at: due.as_second(),
        to: to.to_string(),
        from: sender(tenant).to_string(),
        messaging_profile_id: profile(tenant, default_profile),
    };
    let mut out = vec![text(Kind::Confirmation, now)];
    out.extend(
        plan_reminders(&tenant.reminder_hours, &tz, start, now)
            .into_iter()
            .map(|due| text(Kind::Reminder, due)),
    );
    out
}

/// Where a text about a change to an appointment goes: the number the booking texts,
/// when the tenant can text it (`default_profile`: the server's messaging profile).
pub fn notify_for(
    tenant: &TenantSpec,
    customer_phone: Option<&str>,
    default_profile: Option<&str>,
) -> Option<crate::db::appointments::Notify> {
    let to = customer_phone?;
    textable(tenant, to).then(|| crate::db::appointments::Notify {
        to: to.to_string(),
        from: sender(tenant).to_string(),
        profile: profile(tenant, default_profile),
    })
}
/// True when `to` shares the tenant's country calling code (the only numbers it texts).
pub fn textable(tenant: &TenantSpec, to: &str) -> bool {
    PhoneNumber::parse(to)
        .is_ok_and(|n| n.country_calling_code() == tenant.phone_number.country_calling_code())
}

/// The number a tenant's texts come from.
pub fn sender(tenant: &TenantSpec) -> &str {
    tenant
        .sms_from
        .as_ref()
        .unwrap_or(&tenant.phone_number)
        .as_str()
}

/// The messaging profile a tenant's texts use.
pub fn profile(tenant: &TenantSpec, default_profile: Option<&str>) -> Option<String> {
    tenant
        .messaging_profile_id
        .clone()
        .or_else(|| default_profile.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chicago() -> TimeZone {
        TimeZone::get("America/Chicago").unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn local(ts: Timestamp) -> String {
        ts.to_zoned(chicago())
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    }

    #[test]
    fn a_reminder_goes_24_hours_before() {
        // Tue 2026-11-24 15:00 CST, booked the Friday before.
        let r = plan_reminders(
            &[24],
            &chicago(),
            at("2026-11-24T21:00:00Z"),
            at("2026-11-20T15:00:00Z"),
        );
        assert_eq!(
            r.iter().map(|t| local(*t)).collect::<Vec<_>>(),
            ["2026-11-23 15:00"]
        );
    }

    #[test]
    fn a_reminder_in_the_evening_waits_for_8_am() {
        // Appointment Tue 22:30 local → 24 h before is Mon 22:30 → Tue 08:00.
        let r = plan_reminders(
            &[24],
            &chicago(),
            at("2026-11-25T04:30:00Z"),
            at("2026-11-20T15:00:00Z"),
        );
        assert_eq!(local(r[0]), "2026-11-24 08:00");
    }

    #[test]
    fn a_reminder_at_night_waits_for_8_am_the_same_day() {
        // Appointment Tue 09:00 → 2 h before is 07:00 → 08:00, still before 09:00.
        let r = plan_reminders(
            &[2],
            &chicago(),
            at("2026-11-24T15:00:00Z"),
            at("2026-11-20T15:00:00Z"),
        );
        assert_eq!(local(r[0]), "2026-11-24 08:00");
    }

    #[test]
    fn a_reminder_that_would_wait_past_the_start_is_skipped() {
        // Appointment Tue 08:00 → 3 h before is 05:00 → 08:00 is not before the start.
        let r = plan_reminders(
            &[3],
            &chicago(),
            at("2026-11-24T14:00:00Z"),
            at("2026-11-20T15:00:00Z"),
        );
        assert!(r.is_empty());
    }

    #[test]
    fn no_reminders_for_a_booking_less_than_an_hour_ahead() {
        let now = at("2026-11-20T15:00:00Z");
        assert!(plan_reminders(&[1, 24], &chicago(), at("2026-11-20T15:55:00Z"), now).is_empty());
    }

    #[test]
    fn a_reminder_already_past_is_dropped_and_others_stay() {
        // Booked 5 h ahead: the 24 h reminder is in the past, the 2 h one is not.
        let now = at("2026-11-20T15:00:00Z");
        let r = plan_reminders(&[24, 2], &chicago(), at("2026-11-20T20:00:00Z"), now);
        assert_eq!(
            r.iter().map(|t| local(*t)).collect::<Vec<_>>(),
            ["2026-11-20 12:00"]
        );
    }

    #[test]
    fn reminders_that_land_on_the_same_8_am_are_sent_once() {
        // Appointment Tue 10:00: 26 h → Mon 08:00; 27 h → Mon 07:00 → 08:00.
        let r = plan_reminders(
            &[27, 26],
            &chicago(),
            at("2026-11-24T16:00:00Z"),
            at("2026-11-20T15:00:00Z"),
        );
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn only_numbers_in_the_tenants_country_calling_code_are_texted() {
        let json: serde_json::Value =
            serde_json::from_str(include_str!("../../data/demo-tenant.json")).unwrap();
        let tenant = TenantSpec::from_json(&json).unwrap();
        let (start, now) = (at("2026-11-24T21:00:00Z"), at("2026-11-20T15:00:00Z"));
        let to = |n| plan_texts(&tenant, None, Some(n), start, now);
        assert_eq!(to("+13125550199").len(), 2, "confirmation and reminder");
        assert!(to("+447911123456").is_empty(), "UK number, US tenant");
        assert!(to("+882345678901").is_empty(), "international network");
        assert!(to("not a number").is_empty());
    }

    #[test]
    fn quiet_hours_follow_dst() {
        // 2026-03-08 is spring-forward in Chicago; 24 h before Mon 03-09 09:00 CDT is Sun 08:00 CDT.
        let r = plan_reminders(
            &[25],
            &chicago(),
            at("2026-03-09T14:00:00Z"),
            at("2026-03-01T15:00:00Z"),
        );
        assert_eq!(local(r[0]), "2026-03-08 08:00");
    }
}

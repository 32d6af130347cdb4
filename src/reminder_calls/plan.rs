//! When reminder calls go: pure functions over the tenant's settings, so booking (and
//! moving) can plan them inside its own transaction and the dialer can decide again at
//! dial time with the same rules.
//!
//! Rules: a call is due `hours_before` the start, moved into the calling window (before
//! it: that day's opening; after it: the next day's); it must still be at least
//! [`LEAD`] before the start, or it is not planned. An appointment booked less than an
//! hour ahead gets no call, a call whose time has passed at booking is dropped, and two
//! calls landing on the same local day are one.

use jiff::{SignedDuration, Timestamp, civil::Time, tz::TimeZone};

use crate::domain::reminder_calls::ReminderCallsSpec;

/// A call must be placed at least this long before the start.
pub const LEAD: SignedDuration = SignedDuration::from_mins(30);
/// No reminder calls for an appointment booked closer than this.
pub const MIN_BOOKED_AHEAD: SignedDuration = SignedDuration::from_hours(1);
/// A retry comes at least this long after the attempt it repeats.
pub const RETRY_AFTER: SignedDuration = SignedDuration::from_hours(2);

/// A reminder call to queue for an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedCall {
    /// Which reminder (its `hours_before`).
    pub hours_before: u32,
    /// When to dial (Unix seconds).
    pub due_at: i64,
}

/// What the dialer does with a due call now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtDial {
    /// Inside the window, early enough: dial.
    Dial,
    /// Outside the window: wait for its next opening (Unix seconds).
    Wait(i64),
    /// Too late for any window: the reason, recorded.
    Skip(&'static str),
}

/// `t`, or the next opening of the window when `t` falls outside it.
pub fn into_window(t: Timestamp, window: (Time, Time), tz: &TimeZone) -> Option<Timestamp> {
    let local = t.to_zoned(tz.clone());
    let time = local.time();
    if time >= window.0 && time < window.1 {
        return Some(t);
    }
    let day = if time >= window.1 {
        local.date().tomorrow().ok()?
    } else {
        local.date()
    };
    day.to_datetime(window.0)
        .to_zoned(tz.clone())
        .ok()
        .map(|z| z.timestamp())
}

/// The calls an appointment starting at `start` gets, soonest first.
pub fn plan(
    spec: &ReminderCallsSpec,
    tz: &TimeZone,
    start: Timestamp,
    now: Timestamp,
) -> Vec<PlannedCall> {
    if start.duration_since(now) < MIN_BOOKED_AHEAD {
        return Vec::new();
    }
    let mut calls: Vec<PlannedCall> = spec
        .hours_before
        .iter()
        .filter_map(|h| {
            let due = start
                .checked_sub(SignedDuration::from_hours(i64::from(*h)))
                .ok()?;
            let due = into_window(due, spec.window, tz)?;
            (due >= now && early_enough(due, start)).then_some(PlannedCall {
                hours_before: *h,
                due_at: due.as_second(),
            })
        })
        .collect();
    calls.sort_by_key(|c| c.due_at);
    // One call per local day: the earliest of each day stays.
    let mut days = Vec::new();
    calls.retain(|c| {
        let day = Timestamp::from_second(c.due_at)
            .map(|t| t.to_zoned(tz.clone()).date())
            .ok();
        if days.contains(&day) {
            false
        } else {
            days.push(day);
            true
        }
    });
    calls
}

fn early_enough(t: Timestamp, start: Timestamp) -> bool {
    start.duration_since(t) >= LEAD
}

/// Decides again at dial time: the clock may have moved past the window (a stopped
/// worker, a queue that waited on the concurrency cap).
pub fn at_dial(
    spec: &ReminderCallsSpec,
    tz: &TimeZone,
    start: Timestamp,
    now: Timestamp,
) -> AtDial {
    if now >= start {
        return AtDial::Skip("the appointment has started");
    }
    match into_window(now, spec.window, tz) {
        Some(t) if t == now && early_enough(now, start) => AtDial::Dial,
        Some(t) if t != now && early_enough(t, start) => AtDial::Wait(t.as_second()),
        _ => AtDial::Skip("too close to the appointment for the calling window"),
    }
}

/// When a retry goes (at least [`RETRY_AFTER`] later, inside the window, early enough), or
/// `None` when no such time is left.
pub fn retry_at(
    spec: &ReminderCallsSpec,
    tz: &TimeZone,
    start: Timestamp,
    now: Timestamp,
) -> Option<Timestamp> {
    let t = into_window(now.checked_add(RETRY_AFTER).ok()?, spec.window, tz)?;
    early_enough(t, start).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reminder_calls::{DEFAULT_WINDOW, Profile};

    fn spec(hours: &[u32]) -> ReminderCallsSpec {
        ReminderCallsSpec {
            hours_before: hours.to_vec(),
            window: DEFAULT_WINDOW,
            voicemail: true,
            profile: Profile::Standard,
            words: Default::default(),
        }
    }

    fn chicago() -> TimeZone {
        TimeZone::get("America/Chicago").unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn local(ts: i64) -> String {
        Timestamp::from_second(ts)
            .unwrap()
            .to_zoned(chicago())
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    }

    #[test]
    fn a_call_goes_24_hours_before_inside_the_window() {
        // Tue 2026-11-24 15:00 CST.
        let calls = plan(
            &spec(&[24]),
            &chicago(),
            at("2026-11-24T21:00:00Z"),
            at("2026-11-20T15:00:00Z"),
        );
        assert_eq!(calls.len(), 1);
        assert_eq!(local(calls[0].due_at), "2026-11-23 15:00");
    }

    #[test]
    fn a_call_before_the_window_waits_for_it_and_one_after_goes_next_morning() {
        let now = at("2026-11-20T15:00:00Z");
        // Tue 08:00 → Mon 08:00 → Mon 09:00.
        let early = plan(&spec(&[24]), &chicago(), at("2026-11-24T14:00:00Z"), now);
        assert_eq!(local(early[0].due_at), "2026-11-23 09:00");
        // Tue 21:30 → Mon 21:30 → Tue 09:00, still hours before the start.
        let late = plan(&spec(&[24]), &chicago(), at("2026-11-25T03:30:00Z"), now);
        assert_eq!(local(late[0].due_at), "2026-11-24 09:00");
    }

    #[test]
    fn a_call_whose_window_opens_too_late_is_not_planned() {
        // Tue 09:15 with a 1 h reminder: 08:15 → 09:00, only 15 min before the start.
        let calls = plan(
            &spec(&[1]),
            &chicago(),
            at("2026-11-24T15:15:00Z"),
            at("2026-11-20T15:00:00Z"),
        );
        assert!(calls.is_empty(), "{calls:?}");
    }

    #[test]
    fn two_reminders_on_one_day_are_one_call() {
        // Tue 19:00: 24 h → Mon 19:00; 26 h → Mon 17:00; 48 h → Sun 19:00.
        let calls = plan(
            &spec(&[24, 26, 48]),
            &chicago(),
            at("2026-11-25T01:00:00Z"),
            at("2026-11-20T15:00:00Z"),
        );
        let days: Vec<String> = calls.iter().map(|c| local(c.due_at)).collect();
        assert_eq!(days, ["2026-11-22 19:00", "2026-11-23 17:00"]);
        assert_eq!(calls[1].hours_before, 26);
    }

    #[test]
    fn nothing_for_a_booking_less_than_an_hour_ahead_or_a_past_reminder() {
        let now = at("2026-11-20T15:00:00Z");
        assert!(plan(&spec(&[1]), &chicago(), at("2026-11-20T15:50:00Z"), now).is_empty());
        assert!(plan(&spec(&[24]), &chicago(), at("2026-11-20T20:00:00Z"), now).is_empty());
    }

    #[test]
    fn at_dial_time_the_window_and_the_start_are_checked_again() {
        let s = spec(&[24]);
        let start = at("2026-11-24T21:00:00Z"); // Tue 15:00
        assert_eq!(
            at_dial(&s, &chicago(), start, at("2026-11-23T21:00:00Z")),
            AtDial::Dial
        );
        // Mon 22:00: waits for Tue 09:00.
        let AtDial::Wait(t) = at_dial(&s, &chicago(), start, at("2026-11-24T04:00:00Z")) else {
            panic!("should wait");
        };
        assert_eq!(local(t), "2026-11-24 09:00");
        // Tue 14:50: too close; after the start: started.
        assert!(matches!(
            at_dial(&s, &chicago(), start, at("2026-11-24T20:50:00Z")),
            AtDial::Skip(_)
        ));
        assert_eq!(
            at_dial(&s, &chicago(), start, at("2026-11-24T21:00:00Z")),
            AtDial::Skip("the appointment has started")
        );
    }

    #[test]
    fn a_retry_is_two_hours_later_inside_the_window_or_none() {
        let s = spec(&[24]);
        let start = at("2026-11-24T21:00:00Z"); // Tue 15:00
        let r = retry_at(&s, &chicago(), start, at("2026-11-23T21:00:00Z")).unwrap(); // Mon 15:00
        assert_eq!(local(r.as_second()), "2026-11-23 17:00");
        // Mon 19:00 + 2 h = 21:00 → Tue 09:00.
        let r = retry_at(&s, &chicago(), start, at("2026-11-24T01:00:00Z")).unwrap();
        assert_eq!(local(r.as_second()), "2026-11-24 09:00");
        // Tue 13:00 + 2 h = 15:00: the start.
        assert!(retry_at(&s, &chicago(), start, at("2026-11-24T19:00:00Z")).is_none());
    }
}

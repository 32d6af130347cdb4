//! Tenant booking rules, caller-facing rejections, and wall-clock <-> instant conversion.
//!
//! Invariants: every instant is UTC (`Timestamp`); wall-clock values only exist
//! in the tenant zone `Rules::tz`. Local times resolve to one instant: a time in a
//! DST gap is refused, an ambiguous time takes the EARLIER instant. Durations
//! everywhere are real elapsed minutes, not wall-clock differences.

use std::collections::BTreeSet;
use std::fmt;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Span, Timestamp};

use super::hours::WeeklyHours;

/// Everything that decides whether a time is bookable, independent of who is busy.
#[derive(Clone, Debug)]
pub struct Rules {
    /// The tenant's zone; all hours, closures and "today" are read in it.
    pub tz: TimeZone,
    /// Weekly opening hours (wall clock).
    pub hours: WeeklyHours,
    /// Local dates on which nothing is bookable.
    pub closures: BTreeSet<Date>,
    /// Grid step in minutes, counted from each range's opening; must be > 0.
    pub slot_minutes: u32,
    /// Time blocked after each appointment (may run past closing).
    pub buffer_minutes: u32,
    /// How long before its start an appointment must be booked.
    pub min_notice_minutes: u32,
    /// Last bookable local date is `today + horizon_days` (today counts as day 0).
    pub horizon_days: u32,
}

/// A configuration mistake found by [`Rules::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RulesError {
    /// `slot_minutes` is 0.
    ZeroSlotMinutes,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RulesError::ZeroSlotMinutes => {
                f.write_str("slot length is 0 minutes; set it to the booking grid step, e.g. 15")
            }
        }
    }
}

impl std::error::Error for RulesError {}

impl Rules {
    /// Rules with a 15-minute grid, no buffer, no notice and a 60-day horizon.
    pub fn new(tz: TimeZone, hours: WeeklyHours) -> Self {
        Rules {
            tz,
            hours,
            closures: BTreeSet::new(),
            slot_minutes: 15,
            buffer_minutes: 0,
            min_notice_minutes: 0,
            horizon_days: 60,
        }
    }

    /// Reports settings that make no sense. The scheduling functions never
    /// panic on bad settings (a zero step is treated as 1 minute), so this is
    /// for the admin UI to call when rules are saved.
    pub fn validate(&self) -> Result<(), RulesError> {
        if self.slot_minutes == 0 {
            return Err(RulesError::ZeroSlotMinutes);
        }
        Ok(())
    }

    /// The grid step actually used: `slot_minutes`, but never 0 (would loop forever).
    pub fn step_minutes(&self) -> u32 {
        self.slot_minutes.max(1)
    }

    /// Last bookable local date, or `None` when the horizon reaches past the
    /// calendar's end (then nothing is too far).
    pub fn last_bookable_date(&self, now: Timestamp) -> Option<Date> {
        let span = Span::new().try_days(i64::from(self.horizon_days)).ok()?;
        today_local(now, &self.tz).checked_add(span).ok()
    }
}

/// Why a requested time cannot be booked; `Display` is a sentence to speak to a caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The start is at or before now.
    Past,
    /// The start is sooner than the required notice.
    TooSoon {
        /// Required notice.
        min_notice_minutes: u32,
    },
    /// The date is beyond the booking horizon.
    TooFar {
        /// How many days ahead may be booked.
        horizon_days: u32,
    },
    /// The date is an explicit closure.
    Closure(Date),
    /// The weekday has no opening hours.
    ClosedDay,
    /// The service would not fit inside a single opening range.
    OutsideHours,
    /// The start is not on the booking grid.
    OffGrid {
        /// Grid step.
        slot_minutes: u32,
    },
    /// The wall-clock time is skipped by a DST change.
    NonexistentLocalTime,
    /// Someone is busy then.
    Taken,
    /// The date/time is outside what the calendar library can represent
    /// (e.g. year 10000); only reachable with absurd input.
    OutOfRange,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rejection::Past => f.write_str("That time is in the past."),
            Rejection::TooSoon { min_notice_minutes } => write!(
                f,
                "That's too soon; we need at least {min_notice_minutes} minutes' notice."
            ),
            Rejection::TooFar { horizon_days } => {
                write!(f, "We only book up to {horizon_days} days ahead.")
            }
            Rejection::Closure(_) | Rejection::ClosedDay => {
                f.write_str("We're closed on that day.")
            }
            Rejection::OutsideHours => f.write_str("That's outside our opening hours."),
            Rejection::OffGrid { slot_minutes } => write!(
                f,
                "Appointments start every {slot_minutes} minutes; please pick one of those times."
            ),
            Rejection::NonexistentLocalTime => f.write_str(
                "That time doesn't exist on that day because of the daylight-saving change.",
            ),
            Rejection::Taken => f.write_str("That time is already taken."),
            Rejection::OutOfRange => f.write_str("I can't book that date."),
        }
    }
}

impl std::error::Error for Rejection {}

/// Converts a tenant wall-clock time to an instant. DST gap -> `NonexistentLocalTime`;
/// DST fold -> the earlier of the two instants (the first time the clock shows it).
pub fn resolve_local(rules: &Rules, date: Date, time: Time) -> Result<Timestamp, Rejection> {
    let amb = rules.tz.to_ambiguous_timestamp(date.to_datetime(time));
    if let AmbiguousOffset::Gap { .. } = amb.offset() {
        return Err(Rejection::NonexistentLocalTime);
    }
    amb.earlier().map_err(|_| Rejection::OutOfRange)
}

/// Like [`resolve_local`] but for opening-range boundaries, which must always
/// resolve: a boundary inside a DST gap becomes the transition instant (the
/// skipped hour simply is not there), a boundary in a fold takes the earlier one.
pub(crate) fn boundary_instant(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    let amb = tz.to_ambiguous_timestamp(dt);
    let is_gap = matches!(amb.offset(), AmbiguousOffset::Gap { .. });
    let earlier = amb.earlier().ok()?;
    if is_gap {
        // `earlier` uses the post-gap offset, so it lies just before the
        // transition; the next transition is therefore the gap itself.
        return tz.following(earlier).next().map(|t| t.timestamp());
    }
    Some(earlier)
}

/// The tenant-local calendar date at `now`.
pub fn today_local(now: Timestamp, tz: &TimeZone) -> Date {
    tz.to_datetime(now).date()
}

/// The instants `[start, end)` of one local calendar day (23, 24 or 25 hours long).
pub fn local_day_bounds(tz: &TimeZone, date: Date) -> Option<(Timestamp, Timestamp)> {
    let start = boundary_instant(tz, date.to_datetime(Time::midnight()))?;
    let end = boundary_instant(tz, date.tomorrow().ok()?.to_datetime(Time::midnight()))?;
    Some((start, end))
}

/// Speakable English label, e.g. "Tuesday, November 24 at 3:00 PM", in zone `tz`.
pub fn local_label(ts: Timestamp, tz: &TimeZone) -> String {
    // %-d / %-I drop the leading zero; %I maps 00 and 12 to 12 as speech expects.
    tz.to_datetime(ts)
        .strftime("%A, %B %-d at %-I:%M %p")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};
    use proptest::prelude::*;

    fn rules_in(zone: &str) -> Rules {
        Rules::new(TimeZone::get(zone).unwrap(), WeeklyHours::new())
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_spring_forward_time_does_not_exist_in_chicago() {
        let r = rules_in("America/Chicago");
        assert_eq!(
            resolve_local(&r, date(2026, 3, 8), time(2, 30, 0, 0)),
            Err(Rejection::NonexistentLocalTime)
        );
    }

    #[test]
    fn a_fall_back_time_resolves_to_the_earlier_instant() {
        let r = rules_in("America/Chicago");
        let ts = resolve_local(&r, date(2026, 11, 1), time(1, 30, 0, 0)).unwrap();
        assert_eq!(ts, at("2026-11-01T06:30:00Z")); // still CDT (-05)
    }

    #[test]
    fn berlin_dst_gap_and_fold_behave_like_chicago() {
        let r = rules_in("Europe/Berlin");
        assert_eq!(
            resolve_local(&r, date(2026, 3, 29), time(2, 30, 0, 0)),
            Err(Rejection::NonexistentLocalTime)
        );
        let ts = resolve_local(&r, date(2026, 10, 25), time(2, 30, 0, 0)).unwrap();
        assert_eq!(ts, at("2026-10-25T00:30:00Z")); // still CEST (+02)
    }

    #[test]
    fn a_kolkata_afternoon_is_half_past_nine_utc_and_reads_3_pm() {
        let r = rules_in("Asia/Kolkata");
        let ts = resolve_local(&r, date(2026, 11, 24), time(15, 0, 0, 0)).unwrap();
        assert_eq!(ts, at("2026-11-24T09:30:00Z"));
        assert_eq!(local_label(ts, &r.tz), "Tuesday, November 24 at 3:00 PM");
    }

    #[test]
    fn labels_say_noon_and_midnight_the_american_way() {
        let utc = TimeZone::UTC;
        assert_eq!(
            local_label(at("2026-01-05T12:00:00Z"), &utc),
            "Monday, January 5 at 12:00 PM"
        );
        assert_eq!(
            local_label(at("2026-01-05T00:05:00Z"), &utc),
            "Monday, January 5 at 12:05 AM"
        );
        assert_eq!(
            local_label(at("2028-02-29T09:07:00Z"), &utc),
            "Tuesday, February 29 at 9:07 AM"
        );
    }

    #[test]
    fn today_is_read_in_the_tenant_zone() {
        let now = at("2026-01-01T03:00:00Z");
        assert_eq!(
            today_local(now, &TimeZone::get("America/Chicago").unwrap()),
            date(2025, 12, 31)
        );
        assert_eq!(today_local(now, &TimeZone::UTC), date(2026, 1, 1));
    }

    #[test]
    fn a_dst_day_has_real_length_bounds() {
        let tz = TimeZone::get("America/Chicago").unwrap();
        let (s, e) = local_day_bounds(&tz, date(2026, 3, 8)).unwrap();
        assert_eq!(e.duration_since(s).as_hours(), 23);
        let (s, e) = local_day_bounds(&tz, date(2026, 11, 1)).unwrap();
        assert_eq!(e.duration_since(s).as_hours(), 25);
    }

    #[test]
    fn a_zero_slot_length_is_reported_but_tolerated() {
        let mut r = rules_in("UTC");
        assert_eq!(r.validate(), Ok(()));
        r.slot_minutes = 0;
        assert_eq!(r.validate(), Err(RulesError::ZeroSlotMinutes));
        assert_eq!(r.step_minutes(), 1);
    }

    #[test]
    fn every_rejection_reads_as_a_sentence() {
        let all = [
            Rejection::Past,
            Rejection::TooSoon {
                min_notice_minutes: 60,
            },
            Rejection::TooFar { horizon_days: 60 },
            Rejection::Closure(date(2026, 12, 25)),
            Rejection::ClosedDay,
            Rejection::OutsideHours,
            Rejection::OffGrid { slot_minutes: 15 },
            Rejection::NonexistentLocalTime,
            Rejection::Taken,
            Rejection::OutOfRange,
        ];
        for r in all {
            let s = r.to_string();
            assert!(s.starts_with(char::is_uppercase) && s.ends_with('.'), "{s}");
        }
        assert_eq!(
            Rejection::TooSoon {
                min_notice_minutes: 60
            }
            .to_string(),
            "That's too soon; we need at least 60 minutes' notice."
        );
        assert_eq!(
            Rejection::TooFar { horizon_days: 60 }.to_string(),
            "We only book up to 60 days ahead."
        );
    }

    const ZONES: [&str; 6] = [
        "America/Chicago",
        "Europe/Berlin",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
        "America/St_Johns",
        "UTC",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn resolving_a_wall_clock_time_round_trips_unless_it_does_not_exist(
            zone in 0..ZONES.len(),
            day in 0i32..(16 * 366),
            minute in 0i32..(24 * 60),
            second in 0i8..60,
        ) {
            let r = rules_in(ZONES[zone]);
            let d = date(2020, 1, 1).checked_add(Span::new().days(day)).unwrap();
            prop_assume!(d.year() <= 2035);
            let t = time((minute / 60) as i8, (minute % 60) as i8, second, 0);
            match resolve_local(&r, d, t) {
                Err(e) => prop_assert_eq!(e, Rejection::NonexistentLocalTime),
                Ok(ts) => prop_assert_eq!(r.tz.to_datetime(ts), d.to_datetime(t)),
            }
        }
    }
}

//! Weekly opening hours and one-off closures, as wall-clock data in the tenant's zone.
//!
//! Invariants: each weekday holds ranges sorted by start, each `start < end`,
//! never overlapping and never touching (touching ranges are merged), and all
//! within one calendar day. There is no "24:00": a range ends at latest just
//! before midnight, so a day open until midnight is written as ending 23:59.

use std::collections::BTreeSet;
use std::fmt;

use jiff::civil::{Date, Time, Weekday};

/// Opening ranges for each weekday (index 0 = Monday), in tenant wall-clock time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WeeklyHours {
    days: [Vec<(Time, Time)>; 7],
}

/// Why a set of opening ranges was refused; the text tells an operator what to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoursError {
    /// A range whose end is not after its start (includes empty ranges).
    Inverted {
        /// The range's opening time.
        start: Time,
        /// The range's closing time.
        end: Time,
    },
    /// Two ranges of the same day share some time.
    Overlap {
        /// The earlier of the two ranges.
        a: (Time, Time),
        /// The later range, which starts before `a` ends.
        b: (Time, Time),
    },
}

/// What a calendar date looks like once weekly hours and closures are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayOpening<'h> {
    /// The date is in the closure list (holiday, vacation...).
    Closure,
    /// The weekday has no opening ranges at all.
    ClosedDay,
    /// Open during these sorted, disjoint wall-clock ranges.
    Open(&'h [(Time, Time)]),
}

// Show seconds only when present, so the usual "17:00" stays short for operators.
fn hm(t: Time) -> String {
    if t.second() == 0 && t.subsec_nanosecond() == 0 {
        format!("{:02}:{:02}", t.hour(), t.minute())
    } else {
        format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
    }
}

impl fmt::Display for HoursError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HoursError::Inverted { start, end } if start == end => write!(
                f,
                "opening range {}-{} is empty; give it a closing time after the opening time",
                hm(start),
                hm(end)
            ),
            HoursError::Inverted { start, end } => write!(
                f,
                "opening range {}-{} ends before it starts; hours may not cross midnight, \
                 split them per day",
                hm(start),
                hm(end)
            ),
            HoursError::Overlap { a, b } => write!(
                f,
                "opening ranges {}-{} and {}-{} overlap; merge them into one range or \
                 remove the shared time",
                hm(a.0),
                hm(a.1),
                hm(b.0),
                hm(b.1)
            ),
        }
    }
}

impl std::error::Error for HoursError {}

// A match instead of a cast keeps the index provably in 0..7.
fn index(day: Weekday) -> usize {
    match day {
        Weekday::Monday => 0,
        Weekday::Tuesday => 1,
        Weekday::Wednesday => 2,
        Weekday::Thursday => 3,
        Weekday::Friday => 4,
        Weekday::Saturday => 5,
        Weekday::Sunday => 6,
    }
}

impl WeeklyHours {
    /// All seven days closed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces one weekday's ranges. Sorts them, merges touching ranges
    /// (09:00-12:00 + 12:00-13:00 becomes 09:00-13:00, so a service may span
    /// the seam), and rejects inverted/empty or overlapping ranges. On error the
    /// day is left unchanged.
    pub fn set_day(
        &mut self,
        day: Weekday,
        mut ranges: Vec<(Time, Time)>,
    ) -> Result<(), HoursError> {
        if let Some(&(start, end)) = ranges.iter().find(|(s, e)| s >= e) {
            return Err(HoursError::Inverted { start, end });
        }
        ranges.sort_unstable();
        let mut merged: Vec<(Time, Time)> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(last) if r.0 < last.1 => return Err(HoursError::Overlap { a: *last, b: r }),
                Some(last) if r.0 == last.1 => last.1 = r.1,
                _ => merged.push(r),
            }
        }
        self.days[index(day)] = merged;
        Ok(())
    }

    /// The weekday's ranges, sorted and disjoint; empty when closed.
    pub fn day(&self, day: Weekday) -> &[(Time, Time)] {
        &self.days[index(day)]
    }

    /// Combines weekly hours with the closure list for one calendar date.
    /// A closure wins over hours, so holidays need no edits to the weekly plan.
    pub fn opening_on<'h>(&'h self, closures: &BTreeSet<Date>, date: Date) -> DayOpening<'h> {
        if closures.contains(&date) {
            return DayOpening::Closure;
        }
        match self.day(date.weekday()) {
            [] => DayOpening::ClosedDay,
            ranges => DayOpening::Open(ranges),
        }
    }

    /// True when no weekday has any opening range; lets searches stop early.
    pub fn is_always_closed(&self) -> bool {
        self.days.iter().all(Vec::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    fn t(h: i8, m: i8) -> Time {
        time(h, m, 0, 0)
    }

    #[test]
    fn a_new_week_is_closed_every_day() {
        let w = WeeklyHours::new();
        assert!(w.day(Weekday::Monday).is_empty());
        assert!(w.is_always_closed());
    }

    #[test]
    fn ranges_are_stored_sorted() {
        let mut w = WeeklyHours::new();
        w.set_day(
            Weekday::Tuesday,
            vec![(t(13, 0), t(19, 0)), (t(9, 0), t(12, 0))],
        )
        .unwrap();
        assert_eq!(
            w.day(Weekday::Tuesday),
            &[(t(9, 0), t(12, 0)), (t(13, 0), t(19, 0))]
        );
        assert!(w.day(Weekday::Monday).is_empty());
    }

    #[test]
    fn touching_ranges_are_merged_into_one() {
        let mut w = WeeklyHours::new();
        w.set_day(
            Weekday::Friday,
            vec![(t(12, 0), t(13, 0)), (t(9, 0), t(12, 0))],
        )
        .unwrap();
        assert_eq!(w.day(Weekday::Friday), &[(t(9, 0), t(13, 0))]);
    }

    #[test]
    fn a_range_crossing_midnight_is_rejected_with_advice() {
        let mut w = WeeklyHours::new();
        let err = w
            .set_day(Weekday::Monday, vec![(t(17, 0), t(9, 0))])
            .unwrap_err();
        assert_eq!(
            err,
            HoursError::Inverted {
                start: t(17, 0),
                end: t(9, 0)
            }
        );
        assert_eq!(
            err.to_string(),
            "opening range 17:00-09:00 ends before it starts; hours may not cross midnight, \
             split them per day"
        );
    }

    #[test]
    fn an_empty_range_is_rejected() {
        let mut w = WeeklyHours::new();
        let err = w
            .set_day(Weekday::Monday, vec![(t(9, 0), t(9, 0))])
            .unwrap_err();
        assert!(err.to_string().contains("is empty"), "{err}");
    }

    #[test]
    fn overlapping_ranges_are_rejected_and_the_day_is_unchanged() {
        let mut w = WeeklyHours::new();
        w.set_day(Weekday::Monday, vec![(t(8, 0), t(10, 0))])
            .unwrap();
        let err = w
            .set_day(
                Weekday::Monday,
                vec![(t(9, 0), t(12, 0)), (t(11, 0), t(13, 0))],
            )
            .unwrap_err();
        assert_eq!(
            err,
            HoursError::Overlap {
                a: (t(9, 0), t(12, 0)),
                b: (t(11, 0), t(13, 0))
            }
        );
        assert_eq!(
            err.to_string(),
            "opening ranges 09:00-12:00 and 11:00-13:00 overlap; merge them into one range or remove the shared time"
        );
        assert_eq!(w.day(Weekday::Monday), &[(t(8, 0), t(10, 0))]);
    }

    #[test]
    fn a_closure_wins_over_weekly_hours() {
        let mut w = WeeklyHours::new();
        w.set_day(Weekday::Thursday, vec![(t(9, 0), t(17, 0))])
            .unwrap();
        let christmas = date(2025, 12, 25); // a Thursday
        let closures = BTreeSet::from([christmas]);
        assert_eq!(w.opening_on(&closures, christmas), DayOpening::Closure);
        assert_eq!(
            w.opening_on(&closures, date(2025, 12, 26)),
            DayOpening::ClosedDay
        );
        assert!(
            matches!(w.opening_on(&closures, date(2026, 1, 1)), DayOpening::Open(r) if r.len() == 1)
        );
    }
}

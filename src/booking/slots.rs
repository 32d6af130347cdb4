//! Checking one requested start against the rules, and listing free starts for a day.
//!
//! Invariants: the grid lives on wall-clock times (`range.start + k * slot_minutes`);
//! each distinct wall-clock grid time yields at most one slot, at its EARLIER instant
//! in a DST fold and none in a DST gap, so a fall-back day never yields duplicates and
//! the repeated hour's second pass is simply not offered. Durations and buffers are
//! real elapsed minutes: on a spring-forward day 01:30 + 60 min ends at 03:30 on the
//! wall clock. The service `[start, end)` must fit one opening range (compared as
//! instants); the buffer may run past closing. Busy lists are sorted by `start`.

use jiff::civil::{Date, DateTime, Time};
use jiff::{SignedDuration, Timestamp};

use super::hours::DayOpening;
use super::rules::{Rejection, Rules, boundary_instant, resolve_local};

/// A provider's occupied time `[start, end)` in UTC; `end` already includes the
/// appointment's buffer. Intervals may overlap each other (e.g. a day-off block).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Busy {
    /// First occupied instant.
    pub start: Timestamp,
    /// First instant free again (exclusive).
    pub end: Timestamp,
}

/// A bookable candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    /// Service start.
    pub start: Timestamp,
    /// Service end: `start` + duration in real minutes.
    pub end: Timestamp,
    /// `end` + buffer; the new appointment occupies `[start, blocked_until)`.
    pub blocked_until: Timestamp,
    /// Wall-clock start in the tenant zone, as the caller said it.
    pub local: DateTime,
}

// An opening range with its instants resolved once per date.
#[derive(Clone, Copy, Debug)]
struct Opening {
    wall_start: Time,
    wall_end: Time,
    start: Timestamp,
    end: Timestamp,
}

/// Per-date facts computed once, so listing a day's slots does not redo zone
/// lookups for every grid point.
struct DayPlan<'r> {
    rules: &'r Rules,
    date: Date,
    now: Timestamp,
    // Err holds the day-level verdict (TooFar, Closure, ClosedDay), which is only
    // reported after the time-level checks (Past, TooSoon) in the spec'd order.
    day: Result<Vec<Opening>, Rejection>,
}

fn minutes(m: u32) -> SignedDuration {
    SignedDuration::from_mins(i64::from(m))
}

impl<'r> DayPlan<'r> {
    fn new(rules: &'r Rules, date: Date, now: Timestamp) -> Self {
        let too_far = rules
            .last_bookable_date(now)
            .is_some_and(|last| date > last);
        let day = if too_far {
            Err(Rejection::TooFar {
                horizon_days: rules.horizon_days,
            })
        } else {
            match rules.hours.opening_on(&rules.closures, date) {
                DayOpening::Closure => Err(Rejection::Closure(date)),
                DayOpening::ClosedDay => Err(Rejection::ClosedDay),
                DayOpening::Open(ranges) => Ok(ranges
                    .iter()
                    .filter_map(|&(ws, we)| {
                        Some(Opening {
                            wall_start: ws,
                            wall_end: we,
                            start: boundary_instant(&rules.tz, date.to_datetime(ws))?,
                            end: boundary_instant(&rules.tz, date.to_datetime(we))?,
                        })
                    })
                    .collect()),
            }
        };
        DayPlan {
            rules,
            date,
            now,
            day,
        }
    }

    fn check(&self, duration_minutes: u32, time: Time) -> Result<Slot, Rejection> {
        let rules = self.rules;
        let start = resolve_local(rules, self.date, time)?;
        if start <= self.now {
            return Err(Rejection::Past);
        }
        let too_soon = Rejection::TooSoon {
            min_notice_minutes: rules.min_notice_minutes,
        };
        // If now + notice overflows, no representable start can satisfy it.
        let earliest = self
            .now
            .checked_add(minutes(rules.min_notice_minutes))
            .map_err(|_| too_soon)?;
        if start < earliest {
            return Err(too_soon);
        }
        let openings = self.day.as_ref().map_err(|e| *e)?;
        let end = start
            .checked_add(minutes(duration_minutes))
            .map_err(|_| Rejection::OutOfRange)?;
        let blocked_until = end
            .checked_add(minutes(rules.buffer_minutes))
            .map_err(|_| Rejection::OutOfRange)?;
        let opening = openings
            .iter()
            .find(|o| o.start <= start && start < o.end && end <= o.end)
            .ok_or(Rejection::OutsideHours)?;
        let step = rules.step_minutes();
        let offset = time.duration_since(opening.wall_start);
        let on_grid = !offset.is_negative()
            && offset.subsec_nanos() == 0
            && offset.as_secs() % (i64::from(step) * 60) == 0;
        if !on_grid {
            return Err(Rejection::OffGrid { slot_minutes: step });
        }
        Ok(Slot {
            start,
            end,
            blocked_until,
            local: self.date.to_datetime(time),
        })
    }
}

/// Rules-only check of a requested wall-clock start (no busy data). Checks run in
/// this order: nonexistent local time, Past, TooSoon, TooFar, Closure, ClosedDay,
/// OutsideHours, OffGrid.
pub fn check_request(
    rules: &Rules,
    duration_minutes: u32,
    date: Date,
    time: Time,
    now: Timestamp,
) -> Result<Slot, Rejection> {
    DayPlan::new(rules, date, now).check(duration_minutes, time)
}

/// Full check of a request against the rules and one provider's busy time:
/// [`check_request`], then `Taken` if the slot is not [`is_free`].
pub fn check_booking(
    rules: &Rules,
    duration_minutes: u32,
    date: Date,
    time: Time,
    busy: &[Busy],
    now: Timestamp,
) -> Result<Slot, Rejection> {
    let slot = check_request(rules, duration_minutes, date, time, now)?;
    if is_free(&slot, busy) {
        Ok(slot)
    } else {
        Err(Rejection::Taken)
    }
}

/// True iff `[slot.start, slot.blocked_until)` overlaps no busy interval.
/// Half-open, so back-to-back appointments are fine; `busy` may be in any order.
pub fn is_free(slot: &Slot, busy: &[Busy]) -> bool {
    !busy
        .iter()
        .any(|b| b.start < b.end && b.start < slot.blocked_until && slot.start < b.end)
}

/// Busy time relevant to `[from, to)`, merged into sorted disjoint blocks so a
/// binary search can answer "is this slot free".
fn blocks_within(busy: &[Busy], from: Timestamp, to: Timestamp) -> Vec<Busy> {
    let hi = busy.partition_point(|b| b.start < to);
    let lo = busy[..hi].partition_point(|b| b.start < from);
    // Intervals starting before the window can still reach into it (a week-long
    // block), so their ends need a look; it is a cheap comparison per interval.
    let carried = busy[..lo].iter().filter(|b| b.end > from);
    let mut merged: Vec<Busy> = Vec::new();
    for b in carried.chain(&busy[lo..hi]).filter(|b| b.start < b.end) {
        match merged.last_mut() {
            Some(last) if b.start <= last.end => last.end = last.end.max(b.end),
            _ => merged.push(*b),
        }
    }
    merged
}

/// Every grid start on local `date` that passes [`check_request`] and [`is_free`],
/// ascending by instant.
///
/// Requirement: `busy` is sorted by `start` (checked only in debug builds). Cost is
/// two binary searches to find the day's window, one pass comparing the ends of
/// earlier intervals, and a binary search per grid point.
pub fn free_starts(
    rules: &Rules,
    duration_minutes: u32,
    date: Date,
    busy: &[Busy],
    now: Timestamp,
) -> Vec<Slot> {
    debug_assert!(
        busy.is_sorted_by_key(|b| b.start),
        "busy must be sorted by start"
    );
    let plan = DayPlan::new(rules, date, now);
    let Ok(openings) = &plan.day else {
        return Vec::new();
    };
    let (Some(from), Some(close)) = (
        openings.iter().map(|o| o.start).min(),
        openings.iter().map(|o| o.end).max(),
    ) else {
        return Vec::new();
    };
    let to = close
        .checked_add(minutes(rules.buffer_minutes))
        .unwrap_or(Timestamp::MAX);
    let blocks = blocks_within(busy, from, to);
    let step = minutes(rules.step_minutes());
    let mut out = Vec::new();
    for o in openings {
        let mut t = o.wall_start;
        while t < o.wall_end {
            if let Ok(slot) = plan.check(duration_minutes, t) {
                // Blocks are disjoint and sorted, so their ends are sorted too.
                let i = blocks.partition_point(|b| b.end <= slot.start);
                if blocks.get(i).is_none_or(|b| b.start >= slot.blocked_until) {
                    out.push(slot);
                }
            }
            match t.checked_add(step) {
                Ok(next) => t = next,
                Err(_) => break, // the grid ran past midnight
            }
        }
    }
    // Already ascending for real zones; sorting guards exotic same-day transitions.
    out.sort_by_key(|s| s.start);
    out
}

#[cfg(test)]
mod tests;

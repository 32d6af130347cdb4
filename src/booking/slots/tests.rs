//! Tests for `slots`: rejection order, grid, buffers, DST days, and properties.

use super::super::hours::WeeklyHours;
use super::*;
use jiff::civil::{Weekday, date, time};
use jiff::tz::TimeZone;
use proptest::prelude::*;

fn t(h: i8, m: i8) -> Time {
    time(h, m, 0, 0)
}
fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}
fn busy(s: &str, e: &str) -> Busy {
    Busy {
        start: at(s),
        end: at(e),
    }
}
/// UTC shop open every day 09-12 and 13-19, 15-minute grid.
fn shop() -> Rules {
    let mut w = WeeklyHours::new();
    for d in [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
    ] {
        w.set_day(d, vec![(t(9, 0), t(12, 0)), (t(13, 0), t(19, 0))])
            .unwrap();
    }
    Rules::new(TimeZone::UTC, w)
}
const NOW: &str = "2026-06-01T08:00:00Z"; // Monday
fn check(r: &Rules, dur: u32, d: Date, tm: Time) -> Result<Slot, Rejection> {
    check_request(r, dur, d, tm, at(NOW))
}
fn open_all_day(zone: &str, from: Time, to: Time) -> Rules {
    let mut w = WeeklyHours::new();
    for d in 1..=7 {
        w.set_day(
            Weekday::from_monday_one_offset(d).unwrap(),
            vec![(from, to)],
        )
        .unwrap();
    }
    let mut r = Rules::new(TimeZone::get(zone).unwrap(), w);
    r.horizon_days = 3650;
    r
}

#[test]
fn a_grid_start_inside_hours_is_bookable() {
    let s = check(&shop(), 30, date(2026, 6, 2), t(9, 15)).unwrap();
    assert_eq!(
        (s.start, s.end),
        (at("2026-06-02T09:15Z"), at("2026-06-02T09:45Z"))
    );
    assert_eq!(s.local, date(2026, 6, 2).to_datetime(t(9, 15)));
}

#[test]
fn each_rejection_is_reported_in_the_documented_order() {
    let r = shop();
    let d = date(2026, 6, 2);
    assert_eq!(
        check(&r, 30, date(2026, 6, 1), t(7, 0)),
        Err(Rejection::Past)
    );
    assert_eq!(
        check(&r, 30, date(2026, 6, 1), t(8, 0)),
        Err(Rejection::Past)
    );
    let mut notice = shop();
    notice.min_notice_minutes = 60;
    let e = check_request(&notice, 30, date(2026, 6, 1), t(8, 45), at(NOW));
    assert_eq!(
        e,
        Err(Rejection::TooSoon {
            min_notice_minutes: 60
        })
    );
    assert!(check_request(&notice, 30, date(2026, 6, 1), t(9, 0), at(NOW)).is_ok());
    // Horizon 60 from Monday 2026-06-01: Friday 07-31 is the last day (closed
    // anyway, so not "too far"), Saturday 08-01 is beyond it.
    assert!(check(&r, 30, date(2026, 7, 30), t(9, 0)).is_ok());
    assert_eq!(
        check(&r, 30, date(2026, 7, 31), t(9, 0)),
        Err(Rejection::ClosedDay)
    );
    assert_eq!(
        check(&r, 30, date(2026, 8, 1), t(9, 0)),
        Err(Rejection::TooFar { horizon_days: 60 })
    );
    let mut closed = shop();
    closed.closures.insert(d);
    assert_eq!(check(&closed, 30, d, t(9, 0)), Err(Rejection::Closure(d)));
    assert_eq!(
        check(&r, 30, date(2026, 6, 5), t(9, 0)),
        Err(Rejection::ClosedDay)
    );
    assert_eq!(check(&r, 30, d, t(12, 0)), Err(Rejection::OutsideHours));
    assert_eq!(
        check(&r, 30, d, t(9, 10)),
        Err(Rejection::OffGrid { slot_minutes: 15 })
    );
    assert_eq!(
        check(&r, 30, d, time(9, 15, 30, 0)),
        Err(Rejection::OffGrid { slot_minutes: 15 })
    );
}

#[test]
fn a_slot_that_ends_after_closing_is_outside_hours() {
    let r = shop();
    let d = date(2026, 6, 2);
    assert!(check(&r, 60, d, t(11, 0)).is_ok());
    assert_eq!(check(&r, 60, d, t(11, 15)), Err(Rejection::OutsideHours));
    assert_eq!(check(&r, 60, d, t(18, 30)), Err(Rejection::OutsideHours));
}

#[test]
fn a_service_may_not_span_the_lunch_break_but_the_buffer_may_pass_closing() {
    let mut r = shop();
    r.buffer_minutes = 30;
    let d = date(2026, 6, 2);
    assert_eq!(check(&r, 90, d, t(11, 30)), Err(Rejection::OutsideHours));
    let s = check(&r, 60, d, t(18, 0)).unwrap();
    assert_eq!(s.blocked_until, at("2026-06-02T19:30Z"));
}

#[test]
fn the_grid_restarts_at_each_range_opening() {
    let mut w = WeeklyHours::new();
    w.set_day(
        Weekday::Tuesday,
        vec![(t(9, 0), t(12, 0)), (t(13, 10), t(14, 10))],
    )
    .unwrap();
    let mut r = Rules::new(TimeZone::UTC, w);
    r.slot_minutes = 30;
    let starts: Vec<_> = free_starts(&r, 30, date(2026, 6, 2), &[], at(NOW))
        .iter()
        .map(|s| s.local.time())
        .collect();
    assert_eq!(
        starts,
        [
            t(9, 0),
            t(9, 30),
            t(10, 0),
            t(10, 30),
            t(11, 0),
            t(11, 30),
            t(13, 10),
            t(13, 40)
        ]
    );
}

#[test]
fn a_buffer_blocks_the_next_start_until_the_full_hour() {
    let mut r = shop();
    r.buffer_minutes = 15;
    let d = date(2026, 6, 2);
    let first = check(&r, 45, d, t(9, 0)).unwrap();
    assert_eq!(first.blocked_until, at("2026-06-02T10:00Z"));
    let taken = [Busy {
        start: first.start,
        end: first.blocked_until,
    }];
    let starts: Vec<_> = free_starts(&r, 45, d, &taken, at(NOW))
        .iter()
        .map(|s| s.local.time())
        .collect();
    assert_eq!(starts[0], t(10, 0));
    // 09:45 still falls inside the first appointment's buffer.
    let inside_buffer = check(&r, 45, d, t(9, 45)).unwrap();
    assert!(!is_free(&inside_buffer, &taken));
    assert_eq!(
        check_booking(&r, 45, d, t(9, 45), &taken, at(NOW)),
        Err(Rejection::Taken)
    );
    assert!(check_booking(&r, 45, d, t(10, 0), &taken, at(NOW)).is_ok());
}

#[test]
fn touching_intervals_are_free() {
    let r = shop();
    let s = check(&r, 30, date(2026, 6, 2), t(10, 0)).unwrap();
    assert!(is_free(
        &s,
        &[busy("2026-06-02T09:30Z", "2026-06-02T10:00Z")]
    ));
    assert!(is_free(
        &s,
        &[busy("2026-06-02T10:30Z", "2026-06-02T11:00Z")]
    ));
    assert!(!is_free(
        &s,
        &[busy("2026-06-02T10:29Z", "2026-06-02T11:00Z")]
    ));
    assert!(!is_free(
        &s,
        &[busy("2026-06-02T10:10Z", "2026-06-02T10:20Z")]
    ));
}

#[test]
fn a_long_block_starting_days_earlier_still_blocks() {
    let r = shop();
    let off = [
        busy("2026-05-30T00:00Z", "2026-06-02T12:00Z"),
        busy("2026-06-02T14:00Z", "2026-06-02T15:00Z"),
    ];
    let slots = free_starts(&r, 60, date(2026, 6, 2), &off, at(NOW));
    assert_eq!(slots[0].local.time(), t(13, 0));
    assert!(slots.iter().all(|s| s.local.time() != t(14, 0)));
}

#[test]
fn a_closure_or_closed_weekday_has_no_free_starts() {
    let mut r = shop();
    r.closures.insert(date(2026, 6, 2));
    assert!(free_starts(&r, 30, date(2026, 6, 2), &[], at(NOW)).is_empty());
    assert!(free_starts(&r, 30, date(2026, 6, 6), &[], at(NOW)).is_empty());
    assert_eq!(
        free_starts(&r, 30, date(2026, 6, 3), &[], at(NOW)).len(),
        11 + 23
    );
}

#[test]
fn the_leap_day_of_2028_is_bookable() {
    let mut r = shop();
    r.horizon_days = 10_000;
    let s = check(&r, 30, date(2028, 2, 29), t(9, 0)).unwrap(); // a Tuesday
    assert_eq!(s.start, at("2028-02-29T09:00Z"));
}

#[test]
fn durations_are_real_minutes_across_spring_forward_in_chicago() {
    let r = open_all_day("America/Chicago", t(1, 0), t(5, 0));
    let now = at("2026-01-01T00:00Z");
    let d = date(2026, 3, 8);
    assert_eq!(
        check_request(&r, 60, d, t(2, 30), now),
        Err(Rejection::NonexistentLocalTime)
    );
    let s = check_request(&r, 60, d, t(1, 30), now).unwrap();
    assert_eq!(s.end.duration_since(s.start), SignedDuration::from_mins(60));
    assert_eq!(r.tz.to_datetime(s.end).time(), t(3, 30));
    let walls: Vec<_> = free_starts(&r, 60, d, &[], now)
        .iter()
        .map(|s| s.local.time())
        .collect();
    // 01:00-05:00 is only three real hours that day; 02:xx does not exist.
    assert_eq!(
        walls,
        [
            t(1, 0),
            t(1, 15),
            t(1, 30),
            t(1, 45),
            t(3, 0),
            t(3, 15),
            t(3, 30),
            t(3, 45),
            t(4, 0)
        ]
    );
}

#[test]
fn fall_back_in_chicago_yields_each_wall_time_once_at_its_earlier_instant() {
    let mut r = open_all_day("America/Chicago", t(0, 0), t(4, 0));
    r.slot_minutes = 30;
    let now = at("2026-01-01T00:00Z");
    let slots = free_starts(&r, 30, date(2026, 11, 1), &[], now);
    let walls: Vec<_> = slots.iter().map(|s| s.local.time()).collect();
    assert_eq!(
        walls,
        (0..8).map(|i| t(i / 2, (i % 2) * 30)).collect::<Vec<_>>()
    );
    assert!(slots.windows(2).all(|w| w[0].start < w[1].start));
    assert_eq!(slots[3].start, at("2026-11-01T06:30Z")); // 01:30 CDT, not CST
    assert_eq!(slots[4].start, at("2026-11-01T08:00Z")); // 02:00 CST
}

#[test]
fn berlin_skips_the_spring_hour_and_offers_the_autumn_hour_once() {
    let r = open_all_day("Europe/Berlin", t(0, 0), t(6, 0));
    let now = at("2026-01-01T00:00Z");
    let count = |d| {
        free_starts(&r, 60, d, &[], now)
            .iter()
            .filter(|s| s.local.minute() == 0)
            .count()
    };
    assert_eq!(count(date(2026, 3, 29)), 5);
    assert_eq!(count(date(2026, 10, 25)), 6);
    let two = check_request(&r, 60, date(2026, 10, 25), t(2, 0), now).unwrap();
    assert_eq!(two.start, at("2026-10-25T00:00Z"));
}

// ---- properties -------------------------------------------------------

fn arb_case() -> impl Strategy<Value = (Rules, u32, Date, Vec<Busy>, Timestamp)> {
    let zones = prop::sample::select(vec![
        "America/Chicago",
        "Europe/Berlin",
        "Australia/Lord_Howe",
        "UTC",
    ]);
    let days = prop::sample::select(vec![
        date(2026, 3, 8),
        date(2026, 3, 29),
        date(2026, 4, 5),
        date(2026, 10, 4),
        date(2026, 10, 25),
        date(2026, 11, 1),
        date(2028, 2, 29),
    ]);
    let cuts = prop::collection::vec(0i32..1440, 2..7);
    let busy = prop::collection::vec((-1440i64..2880, 1i64..300), 0..25);
    (
        zones,
        days,
        cuts,
        (1u32..=60, 1u32..=120, 0u32..=30, 0u32..=120),
        busy,
        -600i64..1440,
    )
        .prop_map(
            |(zone, day, mut cuts, (slot, dur, buffer, notice), busy, now_off)| {
                cuts.sort_unstable();
                cuts.dedup();
                let ranges = cuts
                    .chunks_exact(2)
                    .map(|c| {
                        (
                            t((c[0] / 60) as i8, (c[0] % 60) as i8),
                            t((c[1] / 60) as i8, (c[1] % 60) as i8),
                        )
                    })
                    .collect();
                let mut w = WeeklyHours::new();
                w.set_day(day.weekday(), ranges).unwrap();
                let tz = TimeZone::get(zone).unwrap();
                let midnight = tz
                    .to_ambiguous_timestamp(day.to_datetime(Time::midnight()))
                    .compatible()
                    .unwrap();
                let mut r = Rules::new(tz, w);
                (r.slot_minutes, r.buffer_minutes, r.min_notice_minutes) = (slot, buffer, notice);
                let mut busy: Vec<Busy> = busy
                    .into_iter()
                    .map(|(s, l)| {
                        let start = midnight + SignedDuration::from_mins(s);
                        Busy {
                            start,
                            end: start + SignedDuration::from_mins(l),
                        }
                    })
                    .collect();
                busy.sort();
                (
                    r,
                    dur,
                    day,
                    busy,
                    midnight + SignedDuration::from_mins(now_off),
                )
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]
    #[test]
    fn every_free_start_is_valid_free_on_grid_and_nothing_valid_is_missing((r, dur, day, busy, now) in arb_case()) {
        let slots = free_starts(&r, dur, day, &busy, now);
        for s in &slots {
            prop_assert_eq!(check_request(&r, dur, day, s.local.time(), now), Ok(*s));
            prop_assert!(is_free(s, &busy));
            let tm = s.local.time();
            let range = r.hours.day(day.weekday()).iter().find(|(a, b)| *a <= tm && tm < *b);
            prop_assert!(range.is_some_and(|(a, _)| tm.duration_since(*a).as_secs() % (i64::from(r.slot_minutes) * 60) == 0));
            prop_assert!(range.is_some_and(|(_, b)| boundary_instant(&r.tz, day.to_datetime(*b)).is_some_and(|e| s.end <= e)));
        }
        prop_assert!(slots.windows(2).all(|w| w[0].start < w[1].start));
        // Completeness: every valid, free minute of the day is listed.
        let all: Vec<_> = (0..1440).filter_map(|m| check_request(&r, dur, day, t((m / 60) as i8, (m % 60) as i8), now).ok()).filter(|s| is_free(s, &busy)).collect();
        prop_assert_eq!(all, slots);
    }

    #[test]
    fn no_free_start_overlaps_any_busy_interval((r, dur, day, busy, now) in arb_case()) {
        for s in free_starts(&r, dur, day, &busy, now) {
            for b in &busy {
                prop_assert!(s.blocked_until <= b.start || b.end <= s.start, "{:?} overlaps {:?}", s, b);
            }
        }
    }
}

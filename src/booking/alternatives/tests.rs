//! Tests for `alternatives`: provider choice, ordering of proposals, and properties.

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
/// UTC shop open Mon-Fri 09-12 and 13-17, 30-minute grid, 60-day horizon.
fn shop() -> Rules {
    let mut w = WeeklyHours::new();
    for d in 1..=5 {
        let day = Weekday::from_monday_one_offset(d).unwrap();
        w.set_day(day, vec![(t(9, 0), t(12, 0)), (t(13, 0), t(17, 0))])
            .unwrap();
    }
    let mut r = Rules::new(TimeZone::UTC, w);
    r.slot_minutes = 30;
    r
}
const NOW: &str = "2026-06-01T06:00:00Z"; // Monday morning
const TUE: Date = date(2026, 6, 2);

fn starts(alts: &[Alternative]) -> Vec<String> {
    alts.iter().map(|a| a.slot().local.to_string()).collect()
}

fn p(provider_id: i64, offers_service: bool, busy: &[Busy]) -> ProviderBusy<'_> {
    ProviderBusy {
        provider_id,
        offers_service,
        busy,
    }
}

#[test]
fn the_least_booked_free_provider_is_chosen_and_ties_go_to_the_lowest_id() {
    let r = shop();
    let slot = check_request(&r, 30, TUE, t(10, 0), at(NOW)).unwrap();
    let two = [
        busy("2026-06-02T09:00Z", "2026-06-02T09:30Z"),
        busy("2026-06-02T14:00Z", "2026-06-02T14:30Z"),
    ];
    let one = [busy("2026-06-02T15:00Z", "2026-06-02T15:30Z")];
    let taken = [busy("2026-06-02T10:00Z", "2026-06-02T10:30Z")];
    assert_eq!(
        choose_provider(&r, &slot, &[p(1, true, &two), p(2, true, &one)]),
        Some(2)
    );
    assert_eq!(
        choose_provider(&r, &slot, &[p(9, true, &one), p(3, true, &one)]),
        Some(3)
    );
    assert_eq!(
        choose_provider(&r, &slot, &[p(1, true, &taken), p(2, false, &[])]),
        None
    );
    // Yesterday's appointments do not count towards today's load.
    let old = [busy("2026-06-01T09:00Z", "2026-06-01T10:00Z")];
    assert_eq!(
        choose_provider(&r, &slot, &[p(2, true, &one), p(1, true, &old)]),
        Some(1)
    );
}

#[test]
fn ties_among_the_least_booked_are_spread_by_salt_but_load_still_wins() {
    let r = shop();
    let slot = check_request(&r, 30, TUE, t(10, 0), at(NOW)).unwrap();
    let one = [busy("2026-06-02T15:00Z", "2026-06-02T15:30Z")];
    let pool = [p(3, true, &[]), p(1, true, &[]), p(2, true, &one)];
    let picks: Vec<_> = (0..4)
        .map(|salt| choose_provider_spread(&r, &slot, &pool, salt))
        .collect();
    assert_eq!(picks, vec![Some(1), Some(3), Some(1), Some(3)]);
    assert_eq!(
        choose_provider_spread(&r, &slot, &[p(1, true, &one), p(2, true, &[])], 7),
        Some(2)
    );
}

#[test]
fn a_preferred_provider_who_is_busy_gets_the_same_time_with_someone_else_first() {
    let r = shop();
    let anna = [busy("2026-06-02T09:00Z", "2026-06-02T12:00Z")];
    let people = [
        ProviderBusy {
            provider_id: 1,
            offers_service: true,
            busy: &anna,
        },
        ProviderBusy {
            provider_id: 2,
            offers_service: true,
            busy: &[],
        },
    ];
    let alts = alternatives(&r, 30, TUE, t(10, 0), Some(1), &people, at(NOW), 3);
    assert_eq!(
        alts[0],
        Alternative::SameTimeOtherProvider {
            slot: check_request(&r, 30, TUE, t(10, 0), at(NOW)).unwrap(),
            provider_id: 2,
        }
    );
    // Then Anna's own nearest times: 13:00 is the closest she has that day.
    assert_eq!(
        starts(&alts[1..]),
        ["2026-06-02T13:00:00", "2026-06-02T13:30:00"]
    );
    assert!(
        alts[1..]
            .iter()
            .all(|a| matches!(a, Alternative::Time { provider_id: 1, .. }))
    );
}

#[test]
fn nearest_times_on_the_requested_day_come_first_with_ties_going_earlier() {
    let r = shop();
    let b = [busy("2026-06-02T10:00Z", "2026-06-02T10:30Z")];
    let people = [ProviderBusy {
        provider_id: 7,
        offers_service: true,
        busy: &b,
    }];
    let alts = alternatives(&r, 30, TUE, t(10, 0), None, &people, at(NOW), 4);
    assert_eq!(
        starts(&alts),
        [
            "2026-06-02T09:30:00",
            "2026-06-02T10:30:00",
            "2026-06-02T09:00:00",
            "2026-06-02T11:00:00"
        ]
    );
}

#[test]
fn later_days_follow_in_order_and_closed_days_are_skipped() {
    let mut r = shop();
    r.closures.insert(date(2026, 6, 8));
    let fri = [busy("2026-06-05T09:00Z", "2026-06-05T16:30Z")];
    let people = [ProviderBusy {
        provider_id: 1,
        offers_service: true,
        busy: &fri,
    }];
    let alts = alternatives(&r, 30, date(2026, 6, 5), t(9, 0), None, &people, at(NOW), 3);
    assert_eq!(
        starts(&alts),
        [
            "2026-06-05T16:30:00",
            "2026-06-09T09:00:00",
            "2026-06-09T09:30:00"
        ]
    );
}

#[test]
fn a_request_in_the_past_searches_from_today() {
    let r = shop();
    let people = [ProviderBusy {
        provider_id: 1,
        offers_service: true,
        busy: &[],
    }];
    let alts = alternatives(
        &r,
        30,
        date(2026, 5, 20),
        t(9, 0),
        None,
        &people,
        at(NOW),
        2,
    );
    assert_eq!(
        starts(&alts),
        ["2026-06-01T09:00:00", "2026-06-01T09:30:00"]
    );
}

#[test]
fn nothing_is_proposed_beyond_the_horizon() {
    let mut r = shop();
    r.horizon_days = 1;
    let full = [busy("2026-06-01T00:00Z", "2026-06-03T00:00Z")];
    let people = [ProviderBusy {
        provider_id: 1,
        offers_service: true,
        busy: &full,
    }];
    assert!(alternatives(&r, 30, TUE, t(9, 0), None, &people, at(NOW), 3).is_empty());
    assert!(alternatives(&shop(), 30, TUE, t(9, 0), None, &people, at(NOW), 0).is_empty());
}

#[test]
fn a_free_requested_time_is_not_offered_back_as_an_alternative() {
    let r = shop();
    let people = [ProviderBusy {
        provider_id: 1,
        offers_service: true,
        busy: &[],
    }];
    let alts = alternatives(&r, 30, TUE, t(10, 0), None, &people, at(NOW), 2);
    assert_eq!(
        starts(&alts),
        ["2026-06-02T09:30:00", "2026-06-02T10:30:00"]
    );
}

/// Providers with ids 0, 1, 2...; a preferred id may not exist.
fn arb_people() -> impl Strategy<Value = Vec<(i64, bool, Vec<Busy>)>> {
    let base = at("2026-06-01T00:00Z");
    let one = (
        prop::bool::weighted(0.8),
        prop::collection::vec((0i64..(5 * 1440), 15i64..240), 0..30),
    );
    prop::collection::vec(one, 1..5).prop_map(move |ps| {
        ps.into_iter()
            .zip(0..)
            .map(|((offers, b), id)| {
                let mut busy: Vec<Busy> = b
                    .into_iter()
                    .map(|(s, l)| {
                        let start = base + jiff::SignedDuration::from_mins(s);
                        Busy {
                            start,
                            end: start + jiff::SignedDuration::from_mins(l),
                        }
                    })
                    .collect();
                busy.sort();
                (id, offers, busy)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn alternatives_are_unique_bounded_valid_and_free_for_their_provider(
        people in arb_people(),
        day in 0i64..6,
        minute in 0i64..1440,
        pref in prop::option::of(0i64..6),
        max in 0usize..6,
        horizon in 0u32..5,
    ) {
        let mut r = shop();
        r.horizon_days = horizon;
        r.slot_minutes = 15;
        let now = at(NOW);
        let providers: Vec<ProviderBusy> = people.iter().map(|(id, o, b)| ProviderBusy { provider_id: *id, offers_service: *o, busy: b }).collect();
        let d = date(2026, 5, 31).checked_add(jiff::Span::new().days(day)).unwrap();
        let tm = t((minute / 60) as i8, (minute % 60) as i8);
        let alts = alternatives(&r, 45, d, tm, pref, &providers, now, max);
        prop_assert!(alts.len() <= max);
        let mut seen: Vec<Timestamp> = alts.iter().map(|a| a.slot().start).collect();
        seen.sort();
        seen.dedup();
        prop_assert_eq!(seen.len(), alts.len());
        for (i, a) in alts.iter().enumerate() {
            let s = a.slot();
            prop_assert_eq!(check_request(&r, 45, s.local.date(), s.local.time(), now), Ok(*s));
            prop_assert!(providers.iter().any(|p| p.provider_id == a.provider_id() && p.offers_service && is_free(s, p.busy)));
            if let Alternative::SameTimeOtherProvider { provider_id, .. } = a {
                prop_assert_eq!(i, 0);
                prop_assert!(pref.is_some_and(|p| p != *provider_id));
            }
        }
    }
}

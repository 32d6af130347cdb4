//! Picking a provider for a slot and proposing the nearest alternatives to a request.
//!
//! Invariants: a proposed slot always passes `check_request` and is free for the
//! provider named with it; no two proposals share a start instant; the requested
//! start itself is never proposed as a `Time` alternative (it is what was asked).
//! Every provider's busy list is sorted by start, as `free_starts` requires.

use jiff::Timestamp;
use jiff::civil::{Date, Time};

use super::rules::{Rules, boundary_instant, local_day_bounds, resolve_local, today_local};
use super::slots::{Busy, Slot, check_request, free_starts, is_free};

/// Upper bound on days scanned for alternatives, so a huge horizon over a mostly
/// closed calendar cannot stall a phone call.
const MAX_SCAN_DAYS: usize = 400;

/// One provider's eligibility and occupied time, as loaded by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProviderBusy<'a> {
    /// The provider's database id.
    pub provider_id: i64,
    /// Whether this provider performs the requested service.
    pub offers_service: bool,
    /// Occupied intervals, sorted by start.
    pub busy: &'a [Busy],
}

/// A proposal to offer the caller instead of the requested time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alternative {
    /// Another time with the requested (or any) provider.
    Time {
        /// The proposed slot.
        slot: Slot,
        /// Who would take it.
        provider_id: i64,
    },
    /// The requested time with someone else (only when a provider was preferred).
    SameTimeOtherProvider {
        /// The requested slot.
        slot: Slot,
        /// The other provider who is free then.
        provider_id: i64,
    },
}

impl Alternative {
    /// The proposed slot, whichever kind of alternative this is.
    pub fn slot(&self) -> &Slot {
        match self {
            Alternative::Time { slot, .. } | Alternative::SameTimeOtherProvider { slot, .. } => {
                slot
            }
        }
    }

    /// The provider who would take the proposed slot.
    pub fn provider_id(&self) -> i64 {
        match *self {
            Alternative::Time { provider_id, .. }
            | Alternative::SameTimeOtherProvider { provider_id, .. } => provider_id,
        }
    }
}

/// Appointments (busy intervals) starting on the local `date`: the load measure
/// used to spread work evenly.
fn booked_on(rules: &Rules, date: Date, busy: &[Busy]) -> usize {
    let Some((from, to)) = local_day_bounds(&rules.tz, date) else {
        return 0;
    };
    busy.partition_point(|b| b.start < to) - busy.partition_point(|b| b.start < from)
}

/// Among providers that offer the service and are free for `slot`, the one with
/// the fewest busy intervals starting on the slot's local day; ties go to the
/// lowest id. `None` when nobody qualifies.
pub fn choose_provider(rules: &Rules, slot: &Slot, providers: &[ProviderBusy]) -> Option<i64> {
    choose_provider_spread(rules, slot, providers, 0)
}

/// Like [`choose_provider`], but ties among the least booked go to the one at
/// `salt` modulo their number (in id order). Concurrent callers asking for the same
/// time with different salts (say, a hash of the call id) then pick different
/// providers instead of all racing for the same one; salt 0 is `choose_provider`.
pub fn choose_provider_spread(
    rules: &Rules,
    slot: &Slot,
    providers: &[ProviderBusy],
    salt: u64,
) -> Option<i64> {
    let mut best: Vec<i64> = Vec::new();
    let mut least = usize::MAX;
    for p in providers
        .iter()
        .filter(|p| p.offers_service && is_free(slot, p.busy))
    {
        let load = booked_on(rules, slot.local.date(), p.busy);
        if load < least {
            least = load;
            best.clear();
        }
        if load == least {
            best.push(p.provider_id);
        }
    }
    best.sort_unstable();
    let n = best.len() as u64;
    (n > 0).then(|| best[(salt % n) as usize])
}

/// Free starts on `date` across `pool`, each paired with the provider
/// [`choose_provider`] would pick, ascending by start. Works per provider with
/// `free_starts` so the busy lists are searched, not scanned per slot.
fn day_candidates(
    rules: &Rules,
    duration_minutes: u32,
    date: Date,
    pool: &[ProviderBusy],
    now: Timestamp,
) -> Vec<(Slot, i64)> {
    let mut best: Vec<(Slot, (usize, i64))> = Vec::new();
    for p in pool {
        let rank = (booked_on(rules, date, p.busy), p.provider_id);
        for slot in free_starts(rules, duration_minutes, date, p.busy, now) {
            match best.binary_search_by_key(&slot.start, |(s, _)| s.start) {
                Ok(i) => best[i].1 = best[i].1.min(rank),
                Err(i) => best.insert(i, (slot, rank)),
            }
        }
    }
    best.into_iter().map(|(s, (_, id))| (s, id)).collect()
}

/// Up to `max` alternatives to a requested time, best first:
///
/// 1. If `preferred` is set, the requested time passes the rules, and another
///    offering provider is free then: that time with them (least booked first).
/// 2. Free times nearest to the request on the requested date (by real distance,
///    ties to the earlier), then each following day earliest first, up to the
///    horizon. Only the preferred provider's times count when one is preferred
///    and offers the service; otherwise any offering provider's, picked like
///    [`choose_provider`]. A requested date before today starts the scan today.
#[allow(clippy::too_many_arguments)] // mirrors the request fields one to one
pub fn alternatives(
    rules: &Rules,
    duration_minutes: u32,
    requested_date: Date,
    requested_time: Time,
    preferred: Option<i64>,
    providers: &[ProviderBusy],
    now: Timestamp,
    max: usize,
) -> Vec<Alternative> {
    let mut out = Vec::new();
    if max == 0 {
        return out;
    }
    let offering: Vec<ProviderBusy> = providers
        .iter()
        .filter(|p| p.offers_service)
        .copied()
        .collect();
    let requested = check_request(rules, duration_minutes, requested_date, requested_time, now);
    if let (Some(pref), Ok(slot)) = (preferred, requested) {
        let others: Vec<ProviderBusy> = offering
            .iter()
            .filter(|p| p.provider_id != pref)
            .copied()
            .collect();
        if let Some(provider_id) = choose_provider(rules, &slot, &others) {
            out.push(Alternative::SameTimeOtherProvider { slot, provider_id });
        }
    }

    // An unknown or non-offering preferred provider would yield nothing; falling
    // back to everyone gives the caller something to say yes to.
    let pool: Vec<ProviderBusy> = match preferred {
        Some(id) if offering.iter().any(|p| p.provider_id == id) => offering
            .iter()
            .filter(|p| p.provider_id == id)
            .copied()
            .collect(),
        _ => offering,
    };
    if pool.is_empty() || rules.hours.is_always_closed() {
        return out;
    }
    let asked_start = resolve_local(rules, requested_date, requested_time).ok();
    // A nonexistent requested time still has a sensible "nearby": the transition.
    let reference = boundary_instant(&rules.tz, requested_date.to_datetime(requested_time));
    let last = rules.last_bookable_date(now);
    let mut day = requested_date.max(today_local(now, &rules.tz));
    for _ in 0..MAX_SCAN_DAYS {
        if out.len() >= max || last.is_some_and(|l| day > l) {
            break;
        }
        let mut found = day_candidates(rules, duration_minutes, day, &pool, now);
        found.retain(|(s, _)| Some(s.start) != asked_start);
        if let (true, Some(r)) = (day == requested_date, reference) {
            found.sort_by_key(|(s, _)| (s.start.duration_since(r).abs(), s.start));
        }
        let room = max - out.len();
        out.extend(
            found
                .into_iter()
                .take(room)
                .map(|(slot, provider_id)| Alternative::Time { slot, provider_id }),
        );
        day = match day.tomorrow() {
            Ok(next) => next,
            Err(_) => break,
        };
    }
    out
}

#[cfg(test)]
mod tests;

//! Pure scheduling core of slotline: opening hours, booking rules, free slots and
//! alternatives. No I/O and no clock: callers pass `now` and busy data in.

pub mod alternatives;
pub mod hours;
pub mod rules;
pub mod slots;

pub use alternatives::{
    Alternative, ProviderBusy, alternatives, choose_provider, choose_provider_spread,
};
pub use hours::{DayOpening, HoursError, WeeklyHours};
pub use rules::{
    Rejection, Rules, RulesError, local_day_bounds, local_label, resolve_local, today_local,
};
pub use slots::{Busy, Slot, check_booking, check_request, free_starts, is_free};

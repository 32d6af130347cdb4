//! The call flow: decides the next TeXML answer for each Telnyx request. Handlers stay thin
//! and call in here; this module talks to the booking core, the database and the templates.

mod ask;
pub mod change;
pub mod gather;
pub mod preview;
pub mod question;
pub mod reminder;
pub mod status;
pub mod voice;

use crate::{
    booking::{Rules, WeeklyHours},
    db::{DbError, tenants::Tenant},
};

/// The booking rules of a stored tenant.
pub fn rules_for(tenant: &Tenant) -> Result<Rules, DbError> {
    let spec = &tenant.spec;
    let tz = crate::tzdb::get(&spec.timezone).map_err(|e| DbError::Corrupt(e.to_string()))?;
    let mut hours = WeeklyHours::new();
    for (day, ranges) in spec.hours.iter().enumerate() {
        hours
            .set_day(weekday(day), ranges.clone())
            .map_err(|e| DbError::Corrupt(e.to_string()))?;
    }
    let mut rules = Rules::new(tz, hours);
    rules.closures = spec.closures.clone();
    rules.slot_minutes = spec.slot_minutes;
    rules.buffer_minutes = spec.buffer_minutes;
    rules.min_notice_minutes = spec.min_notice_minutes;
    rules.horizon_days = spec.horizon_days;
    Ok(rules)
}

/// Index 0 = Monday, as in `domain::tenant::DAY_KEYS`.
fn weekday(index: usize) -> jiff::civil::Weekday {
    jiff::civil::Weekday::from_monday_zero_offset(index as i8)
        .unwrap_or(jiff::civil::Weekday::Monday)
}

/// Records, off the request path and after the deadline, that call `call_sid` heard the
/// apology `doc` (the calls page shows it as an error). Best effort: when the database is
/// what failed, this may fail too, and that is only logged.
pub fn record_failure(
    state: &crate::startup::AppState,
    call_sid: String,
    doc: &crate::texml::Texml,
) {
    let said = crate::call::heard::spoken_lines(doc.as_str()).join("\n");
    let (store, at) = (state.store.clone(), state.clock.now().as_second());
    tokio::spawn(async move {
        if let Err(e) = store.calls().record_error(call_sid, said, at).await {
            tracing::warn!(error = %e, "could not record that a call heard the apology");
        }
    });
}

/// What failed inside the flow; the handler answers the apology document for it.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The request body could not be read.
    #[error("{0}")]
    BadRequest(String),
    /// The flow panicked (a bug); the caller still gets an answer.
    #[error("the call flow panicked: {0}")]
    Panicked(String),
}

//! Reminder calls (issue 14): planned with the booking in its transaction, dialled through
//! the TeXML Calls API by one paced, capped dialer shared by all tenants, re-checked at
//! dial time and again when answered, with a DTMF/speech `<Gather>` for the person and a
//! short voicemail after the greeting for a machine.
//!
//! Invariant: a call exists first as a `reminder_calls` row; only the dialer talks to the
//! Calls API, each (appointment, reminder, attempt) is dialled at most once, and a dial
//! whose answer was lost is never repeated (a wrong call is worse than a missing one).

pub mod client;
pub mod dialer;
pub mod plan;
pub mod settings;

pub use client::{CallsConfig, DialError, DialRequest, Endpoint, TexmlCalls};

/// How a reminder call attempt ended, as stored and listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The person pressed 1 or said "confirm".
    Confirmed,
    /// The person cancelled (and said yes when asked again).
    Cancelled,
    /// The person chose to reschedule and was handed to the reschedule turn (or a person).
    Rescheduled,
    /// The person pressed 9: no more calls from this tenant.
    Stopped,
    /// A machine answered and the voicemail was left.
    Voicemail,
    /// Answered, but the appointment was cancelled or moved meanwhile: apology, hang-up.
    Withdrawn,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Confirmed => "confirmed",
            Outcome::Cancelled => "cancelled",
            Outcome::Rescheduled => "rescheduled",
            Outcome::Stopped => "stopped",
            Outcome::Voicemail => "voicemail",
            Outcome::Withdrawn => "withdrawn",
        }
    }
}

//! Texts to callers: the Telnyx Messaging API client, the outbox worker that sends what is
//! due (retries, pacing, dry run), reminder planning, the words of each text, and the
//! handling of messaging webhooks (delivery status, STOP/START, the `C` reply).
//!
//! Invariant: a text exists first as an outbox row written in the same SQLite transaction
//! as the change that calls for it (a booking, a cancellation); only the worker talks to
//! Telnyx, so nothing is lost when the process stops and nothing is sent twice in the
//! normal path.

pub mod client;
pub mod inbound;
pub mod outbox;
pub mod reminders;
pub mod texts;
pub mod words;

pub use client::{MessagingClient, SendError};
pub use reminders::{PlannedText, plan_reminders, plan_texts};

/// What a text is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Sent right after booking.
    Confirmation,
    /// Sent `reminder_hours` before the appointment.
    Reminder,
    /// Confirms a cancellation the customer asked for (a `C` reply, or by phone).
    Cancelled,
    /// Tells the customer their appointment moved (they moved it by phone).
    Moved,
    /// Any other answer (its text is fixed when queued).
    Reply,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Confirmation => "confirmation",
            Kind::Reminder => "reminder",
            Kind::Cancelled => "cancelled",
            Kind::Moved => "moved",
            Kind::Reply => "reply",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "confirmation" => Kind::Confirmation,
            "reminder" => Kind::Reminder,
            "cancelled" => Kind::Cancelled,
            "moved" => Kind::Moved,
            "reply" => Kind::Reply,
            _ => return None,
        })
    }
}

//! The tenant's call list (reminder-call attempts and inbound calls, newest first), the
//! console's latest reminder calls and the reminder-call figures of the stats. The SQL is
//! in [`crate::db::sqlite::reminder_calls`] and [`crate::db::postgres::reminder_calls`].

use serde::Serialize;

use super::ReminderCalls;
use crate::db::{DbError, postgres, sqlite, store::Store};

/// One call in the tenant's call list (outbound reminder attempts and inbound calls).
#[derive(Debug, Clone, Serialize)]
pub struct CallRow {
    /// `outbound` (a reminder call attempt) or `inbound`.
    pub direction: &'static str,
    /// Telnyx's call id, when known.
    pub call_sid: Option<String>,
    /// The other party's number.
    pub number: Option<String>,
    /// Unix seconds: dialled (outbound; the due time if never dialled) or started.
    pub at: i64,
    /// Row status (`queued`, `live`, `done`, ...; Telnyx's call status for inbound).
    pub status: String,
    /// For outbound: confirmed, cancelled, rescheduled, stopped, voicemail, no_answer,
    /// busy, failed, ...; for inbound, what the call's latest turn that settled something
    /// recorded (`db::calls::Outcome`: booked, held, moved, cancelled, question,
    /// alternatives, hand-off, ended, error), `null` while it settled nothing.
    pub outcome: Option<String>,
    /// The appointment (outbound).
    pub appointment_id: Option<i64>,
    /// 1 or 2 (outbound).
    pub attempt: Option<u32>,
    /// Why it was skipped, failed or waits (outbound).
    pub reason: Option<String>,
    /// Seconds, once ended.
    pub duration_seconds: Option<i64>,
    /// What the AMD said (outbound).
    pub answered_by: Option<String>,
    #[serde(skip)]
    /// Keyset id: outbound rows odd, inbound rows even, so the two tables interleave.
    pub key: i64,
}

/// Outbound reminder calls dialled in `[from, to)`: how many, and how many ended in each
/// outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutboundCounts {
    /// Attempts placed (dry runs included).
    pub dialled: i64,
    /// Outcome → count.
    pub outcomes: std::collections::BTreeMap<String, i64>,
}

impl OutboundCounts {
    /// The counts from (outcome, count) rows.
    pub(crate) fn from_rows(rows: impl IntoIterator<Item = (String, i64)>) -> Self {
        let mut out = Self::default();
        for (outcome, n) in rows {
            out.dialled += n;
            out.outcomes.insert(outcome, n);
        }
        out
    }
}

impl ReminderCalls<'_> {
    /// The tenant's calls, newest first, one page of them (`before`: the keyset cursor).
    pub async fn list(
        &self,
        tenant: i64,
        before: Option<(i64, i64)>,
        limit: usize,
    ) -> Result<Vec<CallRow>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::reminder_calls::list(c, tenant, before, limit))
                    .await
            }
            Store::Postgres(pg) => postgres::reminder_calls::list(pg, tenant, before, limit).await,
        }
    }

    /// The tenant's latest `limit` reminder-call attempts, newest first (dialled, or due
    /// when never dialled), for the console's calls page.
    pub async fn latest(&self, tenant: i64, limit: usize) -> Result<Vec<CallRow>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::reminder_calls::latest(c, tenant, limit))
                    .await
            }
            Store::Postgres(pg) => postgres::reminder_calls::latest(pg, tenant, limit).await,
        }
    }

    /// Counts the tenant's reminder calls dialled in `[from, to)`.
    pub async fn counts(&self, tenant: i64, from: i64, to: i64) -> Result<OutboundCounts, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::reminder_calls::counts(c, tenant, from, to))
                    .await
            }
            Store::Postgres(pg) => postgres::reminder_calls::counts(pg, tenant, from, to).await,
        }
    }
}

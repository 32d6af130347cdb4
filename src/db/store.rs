//! The store the server runs on, SQLite (the embedded default) or PostgreSQL, behind one
//! handle. Each aggregate's interface (`store.feeds()`, …) takes whole units of work and
//! runs each in one transaction of whichever backend this is, so callers never know
//! which it is (docs/storage.md).

use super::{Db, postgres::Pg};

/// SQLite or PostgreSQL; cheap to clone.
#[derive(Clone)]
pub enum Store {
    /// One SQLite file, written by one writer thread.
    Sqlite(Db),
    /// A PostgreSQL database, shared by every node.
    Postgres(Pg),
}

impl Store {
    /// How its writes queue and hold (the `db_write_*` metrics): SQLite's writer thread,
    /// or PostgreSQL's pooled transactions.
    pub fn writer_stats(&self) -> std::sync::Arc<crate::metrics::WriterStats> {
        match self {
            Store::Sqlite(db) => db.writer_stats(),
            Store::Postgres(pg) => pg.writer_stats(),
        }
    }

    /// Appointments, the booking transactions and the answers stored with them.
    pub fn appointments(&self) -> super::appointments::Appointments<'_> {
        super::appointments::Appointments(self)
    }

    /// The call log: starts, marks, status callbacks and the stats endpoint's figures.
    pub fn calls(&self) -> super::calls::Calls<'_> {
        super::calls::Calls(self)
    }

    /// Versions of the operator-edited TeXML documents.
    pub fn documents(&self) -> super::documents::Documents<'_> {
        super::documents::Documents(self)
    }

    /// ICS subscription feeds.
    pub fn feeds(&self) -> super::feeds::Feeds<'_> {
        super::feeds::Feeds(self)
    }

    /// Leases of single-runner jobs.
    pub fn leases(&self) -> super::leases::Leases<'_> {
        super::leases::Leases(self)
    }

    /// Opt-outs and handled messaging webhook events.
    pub fn messaging(&self) -> super::messaging::Messaging<'_> {
        super::messaging::Messaging(self)
    }

    /// The SMS worker's queue, its pauses, and the operators' view of texts.
    pub fn outbox(&self) -> super::outbox::Outbox<'_> {
        super::outbox::Outbox(self)
    }

    /// The reminder-call dialer's queue.
    pub fn reminder_calls(&self) -> super::reminder_calls::ReminderCalls<'_> {
        super::reminder_calls::ReminderCalls(self)
    }

    /// Pruning what has outlived its retention.
    pub fn retention(&self) -> super::retention::Retention<'_> {
        super::retention::Retention(self)
    }

    /// Tenants, their wording's versions and the server's settings.
    pub fn tenants(&self) -> super::tenants::Tenants<'_> {
        super::tenants::Tenants(self)
    }

    /// The queries behind readiness, metrics and the call funnel.
    pub fn upkeep(&self) -> super::upkeep::Upkeep<'_> {
        super::upkeep::Upkeep(self)
    }

    /// Webhook endpoints and their deliveries.
    pub fn webhooks(&self) -> super::webhooks::Webhooks<'_> {
        super::webhooks::Webhooks(self)
    }
}

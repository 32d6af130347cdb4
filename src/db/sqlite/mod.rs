//! The SQLite store's SQL, one module per aggregate whose interface is in place
//! (docs/storage.md): each function runs on a connection the caller holds, inside the
//! transaction [`crate::db::Db::write`] gives it. Aggregates not yet behind an interface
//! still keep their SQL in `src/db/<aggregate>.rs`.

pub mod appointments;
pub mod calls;
pub mod documents;
pub mod feeds;
pub mod leases;
pub mod messaging;
pub mod outbox;
pub mod reminder_calls;
pub mod retention;
pub mod tenants;
pub mod upkeep;
pub mod webhooks;

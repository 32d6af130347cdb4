//! The PostgreSQL store (`SLOTLINE_DB=postgres://…`, issue 16): connecting, and the
//! migration ladder that is the twin of SQLite's (same numbering, same tables and
//! columns). SQL for PostgreSQL lives here and below, as SQLite's lives in its modules.

pub mod answers;
pub mod appointments;
pub mod cached;
pub mod calls;
pub mod changes;
pub mod copy;
pub mod documents;
pub mod events;
pub mod feeds;
pub mod ints;
pub mod leases;
pub mod messaging;
pub mod migrations;
pub mod outbox;
pub mod pacing;
pub mod pool;
pub mod reminder_calls;
pub mod reminder_plans;
pub mod retention;
pub mod tenants;
pub mod text_plans;
pub mod tls;
pub mod upkeep;
pub mod webhooks;

pub use pool::Pg;

use tokio_postgres::Client;

use super::DbError;

/// True when `db` names a PostgreSQL database rather than a SQLite file.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// `url` as it may be shown: without its password (after the user name, or as a
/// `password=` setting).
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let mut shown = match rest.split_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{scheme}://{name}:***@{host}"),
            None => format!("{scheme}://{rest}"),
        },
        None => format!("{scheme}://{rest}"),
    };
    if let Some(query) = query {
        let pairs: Vec<&str> = query
            .split('&')
            .map(|p| {
                if p.starts_with("password=") {
                    "password=***"
                } else {
                    p
                }
            })
            .collect();
        shown = format!("{shown}?{}", pairs.join("&"));
    }
    shown
}

/// Opens one connection to `url` (with the TLS its `sslmode` asks for: [`tls`]), driven
/// by a task of its own; the task ends when the client is dropped or the server goes away
/// (then every call on the client fails).
pub async fn connect(url: &str) -> Result<Client, DbError> {
    let target = tls::Target::new(url)?;
    target.client(&target.config).await
}

/// SQLSTATEs the store gives meaning to.
pub mod sqlstate {
    /// A unique or primary key clash (an occupied cell, a duplicate number).
    pub const UNIQUE_VIOLATION: &str = "23505";
    /// An exclusion constraint refused a row (an overlapping appointment).
    pub const EXCLUSION_VIOLATION: &str = "23P01";
    /// A serializable transaction's reads would have been different (run it again).
    pub const SERIALIZATION_FAILURE: &str = "40001";
    /// Two transactions waited on each other; one was broken off (run it again).
    pub const DEADLOCK_DETECTED: &str = "40P01";
}

/// The SQLSTATE of `e`, when the server answered with one.
pub fn code(e: &tokio_postgres::Error) -> Option<&str> {
    e.code().map(|c| c.code())
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn a_shown_url_keeps_everything_but_the_password() {
        assert_eq!(
            redacted("postgres://app:s3cret@db1,db2/slotline?target_session_attrs=read-write"),
            "postgres://app:***@db1,db2/slotline?target_session_attrs=read-write"
        );
        assert_eq!(redacted("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redacted("postgresql://db/x"), "postgresql://db/x");
        assert_eq!(
            redacted("postgres://app@db/x?sslmode=require&password=s3cret&sslrootcert=/ca.crt"),
            "postgres://app@db/x?sslmode=require&password=***&sslrootcert=/ca.crt"
        );
    }
}

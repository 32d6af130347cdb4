//! Server-wide settings kept in the database (the generated URL secret).

use rusqlite::{Connection, OptionalExtension, params};

use super::DbError;

/// The stored URL secret, generated and stored on first use so state tokens stay valid
/// across restarts without the operator configuring anything.
pub fn url_secret(conn: &mut Connection) -> Result<String, DbError> {
    let tx = crate::db::begin(conn)?;
    let existing: Option<String> = tx
        .query_row(
            "SELECT value FROM settings WHERE key = 'url_secret'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let secret = match existing {
        Some(s) => s,
        None => {
            let bytes: [u8; 32] = rand::random();
            let s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            tx.execute(
                "INSERT INTO settings (key, value) VALUES ('url_secret', ?1)",
                params![s],
            )?;
            s
        }
    };
    tx.commit()?;
    Ok(secret)
}

/// The stored URL secret, if one was generated; reads only (for read-only commands).
pub fn stored_url_secret(conn: &mut Connection) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row(
            "SELECT value FROM settings WHERE key = 'url_secret'",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

//! PostgreSQL's migration ladder: the numbered files under `migrations/`, each the twin of
//! the SQLite file of the same name, applied in order with the version kept in
//! `slotline_schema`. Nodes starting together migrate one at a time: each step runs in a
//! transaction that first takes one transaction-level advisory lock, which works through
//! connection poolers as well.

use tokio_postgres::Client;

use super::super::DbError;

/// Every migration, by file name, in order; its position (1-based) is the version.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_initial", include_str!("migrations/0001_initial.sql")),
    ("0002_wording", include_str!("migrations/0002_wording.sql")),
    ("0003_sms", include_str!("migrations/0003_sms.sql")),
    (
        "0004_settings_take_effect",
        include_str!("migrations/0004_settings_take_effect.sql"),
    ),
    (
        "0005_sms_faults",
        include_str!("migrations/0005_sms_faults.sql"),
    ),
    (
        "0006_hot_path_indexes",
        include_str!("migrations/0006_hot_path_indexes.sql"),
    ),
    (
        "0007_caller_number",
        include_str!("migrations/0007_caller_number.sql"),
    ),
    (
        "0008_calendar_sync",
        include_str!("migrations/0008_calendar_sync.sql"),
    ),
    ("0009_upkeep", include_str!("migrations/0009_upkeep.sql")),
    (
        "0010_caller_intents",
        include_str!("migrations/0010_caller_intents.sql"),
    ),
    (
        "0011_reminder_calls",
        include_str!("migrations/0011_reminder_calls.sql"),
    ),
    (
        "0012_retention_of_webhooks_and_calls",
        include_str!("migrations/0012_retention_of_webhooks_and_calls.sql"),
    ),
    (
        "0013_call_turns_and_wording_versions",
        include_str!("migrations/0013_call_turns_and_wording_versions.sql"),
    ),
    (
        "0014_call_list_and_sender_indexes",
        include_str!("migrations/0014_call_list_and_sender_indexes.sql"),
    ),
    ("0015_leases", include_str!("migrations/0015_leases.sql")),
    ("0016_pacers", include_str!("migrations/0016_pacers.sql")),
];

/// The advisory lock every migrating node takes ("slotline" in ASCII, as a number).
const LOCK: i64 = 0x736c_6f74_6c69_6e65;

/// Brings the database to the newest version; a database newer than this binary is
/// refused. Safe to run from several nodes at once.
pub async fn apply(client: &mut Client) -> Result<(), DbError> {
    for _ in 0..=MIGRATIONS.len() {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS slotline_schema (version BIGINT NOT NULL);
             INSERT INTO slotline_schema (version)
                 SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM slotline_schema);",
        )
        .await?;
        let current: i64 = tx
            .query_one("SELECT version FROM slotline_schema", &[])
            .await?
            .get(0);
        let current = usize::try_from(current).unwrap_or(0);
        if current > MIGRATIONS.len() {
            return Err(DbError::Corrupt(format!(
                "database schema version {current} is newer than this slotline ({}); upgrade slotline",
                MIGRATIONS.len()
            )));
        }
        let Some((name, sql)) = MIGRATIONS.get(current) else {
            return Ok(());
        };
        tx.batch_execute(sql)
            .await
            .map_err(|e| DbError::Corrupt(format!("PostgreSQL migration {name} failed: {e}")))?;
        tx.execute(
            "UPDATE slotline_schema SET version = $1",
            &[&((current + 1) as i64)],
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// The version the database is at (0 before the first migration).
pub async fn version(client: &Client) -> Result<i64, DbError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('slotline_schema') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one("SELECT version FROM slotline_schema", &[])
        .await?
        .get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ladders_have_the_same_steps_with_the_same_names() {
        let names = |dir: &str| {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".sql"))
                .map(|n| n.trim_end_matches(".sql").to_owned())
                .collect();
            names.sort();
            names
        };
        let root = env!("CARGO_MANIFEST_DIR");
        let sqlite = names(&format!("{root}/src/db/migrations"));
        let postgres = names(&format!("{root}/src/db/postgres/migrations"));
        assert_eq!(
            sqlite, postgres,
            "every SQLite step needs its PostgreSQL twin"
        );
        let listed: Vec<&str> = MIGRATIONS.iter().map(|(n, _)| *n).collect();
        assert_eq!(listed, postgres, "MIGRATIONS lists every file, in order");
        assert_eq!(
            MIGRATIONS.len() as i64,
            crate::db::migrations::current_version(),
            "both stores migrate to the same version"
        );
    }
}

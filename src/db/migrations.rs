//! Schema migrations: numbered SQL files applied in order, each in its own transaction,
//! with `PRAGMA user_version` recording how far a database has come.

use rusqlite::Connection;

use super::DbError;

/// Every migration, in order; the position (1-based) is the version it brings a database to.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_wording.sql"),
    include_str!("migrations/0003_sms.sql"),
    include_str!("migrations/0004_settings_take_effect.sql"),
    include_str!("migrations/0005_sms_faults.sql"),
    include_str!("migrations/0006_hot_path_indexes.sql"),
    include_str!("migrations/0007_caller_number.sql"),
    include_str!("migrations/0008_calendar_sync.sql"),
    include_str!("migrations/0009_upkeep.sql"),
    include_str!("migrations/0010_caller_intents.sql"),
    include_str!("migrations/0011_reminder_calls.sql"),
    include_str!("migrations/0012_retention_of_webhooks_and_calls.sql"),
    include_str!("migrations/0013_call_turns_and_wording_versions.sql"),
    include_str!("migrations/0014_call_list_and_sender_indexes.sql"),
    include_str!("migrations/0015_leases.sql"),
    include_str!("migrations/0016_pacers.sql"),
];

/// The schema version this binary migrates databases to.
pub fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the database to the newest version; a database newer than this binary is refused.
pub fn apply(conn: &mut Connection) -> Result<(), DbError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(DbError::Corrupt(format!(
            "database schema version {current} is newer than this slotline ({}); upgrade slotline",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// Checks, without changing anything, that the database is at exactly this binary's
/// version (for read-only commands, which must not migrate).
pub fn check_current(conn: &Connection) -> Result<(), DbError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let want = MIGRATIONS.len() as i64;
    match current.cmp(&want) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Less => Err(DbError::Corrupt(format!(
            "database schema version {current} is older than this slotline ({want}); run `slotline migrate` (or start the server) first"
        ))),
        std::cmp::Ordering::Greater => Err(DbError::Corrupt(format!(
            "database schema version {current} is newer than this slotline ({want}); use the slotline that serves it"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query plan of `sql`, one detail per line.
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let count = stmt.parameter_count();
        let params: Vec<rusqlite::types::Value> =
            (0..count).map(|_| rusqlite::types::Value::Null).collect();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn the_hot_writes_use_an_index_instead_of_scanning() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        for (sql, index) in [
            (
                "UPDATE outbox SET status = 'cancelled' WHERE appointment_id = ?1 AND status = 'queued' AND kind IN ('confirmation', 'reminder')",
                "outbox_by_appointment",
            ),
            (
                "UPDATE outbox SET status = 'skipped' WHERE to_number = ?1 AND status = 'queued' AND (?2 IS NULL OR messaging_profile_id IS NULL OR messaging_profile_id = ?2)",
                "outbox_queued_to",
            ),
            (
                "DELETE FROM appointments WHERE status = 'held' AND hold_expires_at <= ?1",
                "appointments_held",
            ),
            (
                // `+status`: reminder_calls_due (status, due_at) would walk every queued call
                // of every tenant.
                "UPDATE reminder_calls SET status = 'cancelled' WHERE appointment_id = ?1 AND +status = 'queued'",
                "sqlite_autoindex_reminder_calls_1",
            ),
            (
                "SELECT t.id FROM tenants t WHERE t.phone_number = ?1 OR t.sms_from = ?1 ORDER BY t.id LIMIT 1",
                "tenants_by_sender",
            ),
            (
                "SELECT id FROM appointments WHERE tenant_id = ?1 AND customer_phone = ?2 AND status = 'booked' AND start_at > ?3 ORDER BY start_at LIMIT 1",
                "appointments_by_customer",
            ),
        ] {
            let plan = plan(&conn, sql);
            assert!(
                plan.contains(index) && !plan.contains("SCAN"),
                "{sql}\n{plan}"
            );
        }
    }

    #[test]
    fn the_rebuilt_outbox_keeps_its_rows_and_every_index_and_takes_moved_texts() {
        let conn = Connection::open_in_memory().unwrap();
        let before = MIGRATIONS
            .iter()
            .position(|m| m.contains("outbox_new"))
            .unwrap();
        for sql in &MIGRATIONS[..before] {
            conn.execute_batch(sql).unwrap();
        }
        let indexes = |c: &Connection| -> Vec<String> {
            let mut stmt = c
                .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox' AND name NOT LIKE 'sqlite_%' ORDER BY name")
                .unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let old = indexes(&conn);
        conn.execute_batch(
            "INSERT INTO tenants (id, slug, name, phone_number, timezone, voice, greeting, slot_minutes,
                min_notice_minutes, horizon_days, buffer_minutes, reminder_hours, max_attempts, created_at, updated_at)
             VALUES (1, 't', 'T', '+13125550100', 'UTC', 'v', 'g', 15, 0, 30, 0, '[]', 3, 0, 0);
             INSERT INTO outbox (tenant_id, kind, to_number, from_number, due_at, text, created_at, updated_at, reclaims)
             VALUES (1, 'reply', '+13125550111', '+13125550100', 5, 'hi', 5, 5, 2);",
        )
        .unwrap();
        conn.execute_batch(MIGRATIONS[before]).unwrap();
        assert_eq!(indexes(&conn), old);
        let kept: (String, i64) = conn
            .query_row("SELECT text, reclaims FROM outbox", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(kept, ("hi".into(), 2));
        conn.execute_batch(
            "INSERT INTO services (id, tenant_id, name, duration_minutes, position) VALUES (1, 1, 'S', 15, 0);
             INSERT INTO providers (id, tenant_id, name, position) VALUES (1, 1, 'P', 0);
             INSERT INTO appointments (id, tenant_id, service_id, provider_id, customer_name, start_at, end_at, blocked_until, status, created_at, updated_at)
             VALUES (1, 1, 1, 1, 'C', 100, 200, 200, 'booked', 0, 0);
             INSERT INTO outbox (tenant_id, appointment_id, kind, to_number, from_number, due_at, created_at, updated_at)
             VALUES (1, 1, 'moved', '+13125550111', '+13125550100', 5, 5, 5);",
        )
        .unwrap();
    }

    #[test]
    fn migrations_apply_once_and_set_the_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        apply(&mut conn).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
        assert!(check_current(&conn).is_ok());
    }

    #[test]
    fn a_read_only_check_refuses_another_version_and_changes_nothing() {
        let conn = Connection::open_in_memory().unwrap();
        let err = check_current(&conn).unwrap_err().to_string();
        assert!(err.contains("slotline migrate"), "{err}");
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, 0);
    }
}

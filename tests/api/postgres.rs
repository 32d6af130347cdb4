//! The PostgreSQL store against a real server (issue 16): its migration ladder gives the
//! same tables and columns as SQLite's, runs from several nodes at once, and the database
//! itself refuses overlapping appointments. Ignored in a plain `cargo test`; `.ci/run`
//! starts a throw-away cluster (`.ci/postgres`) and runs `cargo test --test api postgres
//! -- --ignored` with `SLOTLINE_TEST_POSTGRES` set. Under `CI=true` a missing server fails
//! the tests instead of skipping them.

use std::collections::BTreeMap;

use slotline::db::{Db, postgres};
use tokio_postgres::Client;

/// The server's URL (a database the tests may create databases from), or `None` (with a
/// note) outside CI; under `CI=true`, a panic.
pub(crate) fn server() -> Option<String> {
    match std::env::var("SLOTLINE_TEST_POSTGRES") {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "SLOTLINE_TEST_POSTGRES is not set; .ci/run starts a PostgreSQL cluster (.ci/postgres) and sets it"
        ),
        _ => {
            eprintln!(
                "skipped: SLOTLINE_TEST_POSTGRES is not set (eval \"$(.ci/postgres start DIR)\" starts a cluster)"
            );
            None
        }
    }
}

/// Creates an empty database named `prefix` and a random suffix on `server` (through
/// `admin`, a connection to it); its name and URL.
pub(crate) async fn create_database(
    admin: &Client,
    server: &str,
    prefix: &str,
) -> (String, String) {
    let name = format!("{prefix}_{:016x}", rand::random::<u64>());
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
    (name.clone(), format!("{base}/{name}"))
}

/// A new empty database on the test server, dropped by [`Scratch::drop_database`].
pub struct Scratch {
    admin: Client,
    name: String,
    /// Its URL.
    pub url: String,
}

impl Scratch {
    /// `None` (skipped) without a server, outside CI.
    pub async fn new() -> Option<Self> {
        let server = server()?;
        let admin = postgres::connect(&server).await.unwrap();
        let (name, url) = create_database(&admin, &server, "slotline_test").await;
        Some(Self { admin, name, url })
    }

    /// A connection of its own.
    pub async fn client(&self) -> Client {
        postgres::connect(&self.url).await.unwrap()
    }

    /// Drops the database, whoever is still connected.
    pub async fn drop_database(self) {
        self.admin
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .unwrap();
    }
}

/// A column as both stores can describe it: name, storage class, NOT NULL.
type Columns = Vec<(String, &'static str, bool)>;

fn sqlite_class(declared: &str) -> &'static str {
    match declared.to_ascii_uppercase().as_str() {
        "INTEGER" => "integer",
        "TEXT" => "text",
        "REAL" => "real",
        "BLOB" => "blob",
        other => panic!("SQLite column type {other} has no PostgreSQL twin yet"),
    }
}

fn postgres_class(data_type: &str) -> &'static str {
    match data_type {
        "bigint" => "integer",
        "text" => "text",
        "double precision" => "real",
        "bytea" => "blob",
        other => panic!("PostgreSQL column type {other} has no SQLite twin"),
    }
}

fn sqlite_schema() -> BTreeMap<String, Columns> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(Db::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let columns = conn
                .prepare(&format!("PRAGMA table_info({t})"))
                .unwrap()
                .query_map([], |r| {
                    let name: String = r.get(1)?;
                    let declared: String = r.get(2)?;
                    // A primary key column is never NULL on PostgreSQL; SQLite only says so
                    // when the column is declared NOT NULL.
                    let not_null = r.get::<_, bool>(3)? || r.get::<_, i64>(5)? > 0;
                    Ok((name, sqlite_class(&declared), not_null))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (t, columns)
        })
        .collect()
}

async fn postgres_schema(client: &Client) -> BTreeMap<String, Columns> {
    let rows = client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable = 'NO'
             FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name <> 'slotline_schema'
             ORDER BY table_name, ordinal_position",
            &[],
        )
        .await
        .unwrap();
    let mut schema: BTreeMap<String, Columns> = BTreeMap::new();
    for row in rows {
        let data_type: String = row.get(2);
        schema.entry(row.get(0)).or_default().push((
            row.get(1),
            postgres_class(&data_type),
            row.get(3),
        ));
    }
    schema
}

#[tokio::test]
#[ignore = "needs a PostgreSQL server: .ci/run starts one"]
async fn postgres_both_stores_have_the_same_tables_and_columns_in_the_same_order() {
    let Some(db) = Scratch::new().await else {
        return;
    };
    let mut client = db.client().await;
    postgres::migrations::apply(&mut client).await.unwrap();
    let (sqlite, postgres) = (sqlite_schema(), postgres_schema(&client).await);
    let names = |s: &BTreeMap<String, Columns>| s.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&sqlite), names(&postgres), "the same tables");
    for (table, columns) in &sqlite {
        assert_eq!(columns, &postgres[table], "the columns of {table}");
    }
    assert!(
        sqlite.len() > 20,
        "{} tables: the comparison saw the schema",
        sqlite.len()
    );
    drop(client);
    db.drop_database().await;
}

/// A foreign key as both stores describe it: table, column, the table it names, and what
/// deleting that table's row does.
type ForeignKey = (String, String, String, String);

/// Index names (automatic ones left out) and foreign keys of the SQLite schema.
fn sqlite_indexes_and_keys() -> (Vec<String>, Vec<ForeignKey>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(Db::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    indexes.sort();
    let mut keys = Vec::new();
    for table in sqlite_schema().into_keys() {
        let rows: Vec<ForeignKey> = conn
            .prepare(&format!("PRAGMA foreign_key_list({table})"))
            .unwrap()
            .query_map([], |r| {
                let on_delete: String = r.get(6)?;
                Ok((
                    table.clone(),
                    r.get(3)?,
                    r.get(2)?,
                    on_delete.to_lowercase(),
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        keys.extend(rows);
    }
    keys.sort();
    (indexes, keys)
}

/// The same of the PostgreSQL schema; its own extra guards and the indexes behind primary
/// keys and UNIQUE constraints (SQLite's automatic ones) are left out.
async fn postgres_indexes_and_keys(client: &Client) -> (Vec<String>, Vec<ForeignKey>) {
    let extra = ["services_name", "providers_name", "appointments_no_overlap"];
    let indexes: Vec<String> = client
        .query(
            "SELECT i.indexname::text FROM pg_indexes i
             WHERE i.schemaname = 'public' AND NOT EXISTS (
                 SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|n| !extra.contains(&n.as_str()))
        .collect();
    let mut keys: Vec<ForeignKey> = client
        .query(
            "SELECT c.conrelid::regclass::text, a.attname::text, c.confrelid::regclass::text,
                    CASE c.confdeltype WHEN 'c' THEN 'cascade' WHEN 'a' THEN 'no action'
                        WHEN 'r' THEN 'restrict' WHEN 'n' THEN 'set null'
                        ELSE 'set default' END
             FROM pg_constraint c
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
             WHERE c.contype = 'f'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    keys.sort();
    (indexes, keys)
}

#[tokio::test]
#[ignore = "needs a PostgreSQL server: .ci/run starts one"]
async fn postgres_both_stores_have_the_same_indexes_and_foreign_keys() {
    let Some(db) = Scratch::new().await else {
        return;
    };
    let mut client = db.client().await;
    postgres::migrations::apply(&mut client).await.unwrap();
    let (sqlite_indexes, sqlite_keys) = sqlite_indexes_and_keys();
    let (postgres_indexes, postgres_keys) = postgres_indexes_and_keys(&client).await;
    assert_eq!(sqlite_indexes, postgres_indexes, "the same indexes by name");
    assert_eq!(
        sqlite_keys, postgres_keys,
        "the same foreign keys, deleting alike"
    );
    assert!(
        sqlite_indexes.len() > 30 && sqlite_keys.len() > 20,
        "the comparison saw the schema"
    );
    drop(client);
    db.drop_database().await;
}

#[tokio::test]
#[ignore = "needs a PostgreSQL server: .ci/run starts one"]
async fn postgres_nodes_starting_together_migrate_once_and_a_second_run_changes_nothing() {
    let Some(db) = Scratch::new().await else {
        return;
    };
    let mut nodes = Vec::new();
    for _ in 0..4 {
        nodes.push(db.client().await);
    }
    let runs = nodes.iter_mut().map(postgres::migrations::apply);
    for result in futures_util::future::join_all(runs).await {
        result.unwrap();
    }
    let client = &mut nodes[0];
    let want = postgres::migrations::MIGRATIONS.len() as i64;
    assert_eq!(postgres::migrations::version(client).await.unwrap(), want);
    let before = postgres_schema(client).await;
    postgres::migrations::apply(client).await.unwrap();
    assert_eq!(postgres::migrations::version(client).await.unwrap(), want);
    assert_eq!(postgres_schema(client).await, before);
    drop(nodes);
    db.drop_database().await;
}

#[tokio::test]
#[ignore = "needs a PostgreSQL server: .ci/run starts one"]
async fn postgres_refuses_a_database_newer_than_this_slotline_and_says_so() {
    let Some(db) = Scratch::new().await else {
        return;
    };
    let mut client = db.client().await;
    postgres::migrations::apply(&mut client).await.unwrap();
    client
        .batch_execute("UPDATE slotline_schema SET version = version + 1")
        .await
        .unwrap();
    let err = postgres::migrations::apply(&mut client)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("newer than this slotline"), "{err}");
    drop(client);
    db.drop_database().await;
}

#[tokio::test]
#[ignore = "needs a PostgreSQL server: .ci/run starts one"]
async fn postgres_itself_refuses_a_second_live_appointment_over_a_providers_time() {
    let Some(db) = Scratch::new().await else {
        return;
    };
    let mut client = db.client().await;
    postgres::migrations::apply(&mut client).await.unwrap();
    client
        .batch_execute(
            "INSERT INTO tenants (id, slug, name, phone_number, timezone, voice, greeting,
                 slot_minutes, min_notice_minutes, horizon_days, buffer_minutes,
                 reminder_hours, max_attempts, created_at, updated_at)
             VALUES (1, 'acme', 'Acme', '+13125550100', 'America/Chicago', 'Polly.Joanna',
                 'Hello', 30, 0, 30, 0, '[24]', 3, 0, 0);
             INSERT INTO services (id, tenant_id, name, duration_minutes, position)
                 VALUES (1, 1, 'Cut', 30, 0);
             INSERT INTO providers (id, tenant_id, name, position) VALUES (1, 1, 'Anna', 0);",
        )
        .await
        .unwrap();
    let book = |start: i64, end: i64, status: &'static str| {
        let client = &client;
        async move {
            client
                .execute(
                    "INSERT INTO appointments (tenant_id, service_id, provider_id, customer_name,
                         start_at, end_at, blocked_until, status, created_at)
                     VALUES (1, 1, 1, 'Sam', $1, $2, $2, $3, 0)",
                    &[&start, &end, &status],
                )
                .await
        }
    };
    book(36_000, 37_800, "booked").await.unwrap();
    let clash = book(37_500, 39_300, "booked").await.unwrap_err();
    assert_eq!(
        postgres::code(&clash),
        Some(postgres::sqlstate::EXCLUSION_VIOLATION)
    );
    let clash = book(36_000, 37_800, "held").await.unwrap_err();
    assert_eq!(
        postgres::code(&clash),
        Some(postgres::sqlstate::EXCLUSION_VIOLATION)
    );
    // Back to back is not an overlap, and a cancelled appointment blocks nothing.
    book(37_800, 39_600, "booked").await.unwrap();
    book(36_000, 37_800, "cancelled").await.unwrap();
    // The cells' primary key guards the same time on PostgreSQL as on SQLite.
    client
        .execute("INSERT INTO appointment_cells VALUES (1, 120, 1)", &[])
        .await
        .unwrap();
    let clash = client
        .execute("INSERT INTO appointment_cells VALUES (1, 120, 2)", &[])
        .await
        .unwrap_err();
    assert_eq!(
        postgres::code(&clash),
        Some(postgres::sqlstate::UNIQUE_VIOLATION)
    );
    drop(client);
    db.drop_database().await;
}

/// Runs `slotline migrate --from FILE --to URL`: (exit code, stdout, stderr).
fn migrate(from: &std::path::Path, to: &str) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slotline"))
        .args(["migrate", "--from"])
        .arg(from)
        .args(["--to", to])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Row counts of every table in the SQLite file.
fn sqlite_counts(path: &std::path::Path) -> BTreeMap<String, i64> {
    let conn = rusqlite::Connection::open(path).unwrap();
    sqlite_schema()
        .into_keys()
        .map(|t| {
            let n = conn
                .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .unwrap();
            (t, n)
        })
        .collect()
}

async fn postgres_counts(client: &Client) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for table in postgres_schema(client).await.into_keys() {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        counts.insert(table, n);
    }
    counts
}

/// A running slotline whose SQLite file has a tenant, three booked calls with their
/// texts, call records and turns, a feed (a BLOB secret) and a webhook endpoint.
async fn app_with_bookings() -> crate::helpers::TestApp {
    use crate::helpers::*;
    use serde_json::json;
    let app = spawn_app().await;
    app.create_tenant(&open_every_day(
        "copy",
        "+13125550177",
        "America/Chicago",
        &["Ana", "Bo"],
    ))
    .await;
    for (i, time) in ["09:00", "10:00", "11:30"].iter().enumerate() {
        let sid = format!("v3:copy-{i}");
        let (_, path) = app.start_call(&sid, "+13125550177").await;
        let said = app
            .answer(
                &path,
                &sid,
                &json!({"customer_name": "Sam", "service": "Cut",
                    "preferred_date": "2026-11-24", "preferred_time": time,
                    "phone": "+13125550199"}),
            )
            .await;
        assert!(said.contains("is booked for"), "{said}");
    }
    app.post_created("/tenants/copy/feeds", &json!({"scope": "tenant"}))
        .await;
    app.post_created(
        "/tenants/copy/webhooks",
        &json!({"url": "http://127.0.0.1:9/in", "events": ["appointment.booked"]}),
    )
    .await;
    // The call log writes starts in batches: wait for all three, so later counts hold.
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    for _ in 0..500 {
        let calls: i64 = conn
            .query_row(
                "SELECT count(*) FROM calls WHERE tenant_id IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if calls == 3 {
            return app;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the three calls were never recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: .ci/run starts one"]
async fn postgres_migrate_copies_a_live_sqlite_database_whole_and_new_rows_continue_its_ids() {
    let Some(db) = Scratch::new().await else {
        return;
    };
    let app = app_with_bookings().await;
    // The server keeps running: the copy is the database as it was when reading began.
    let (code, out, err) = migrate(&app.db_path, &db.url);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("counts match and no appointments overlap"),
        "{out}"
    );
    let client = db.client().await;
    let sqlite = sqlite_counts(&app.db_path);
    assert_eq!(postgres_counts(&client).await, sqlite);
    for table in [
        "tenants",
        "appointments",
        "appointment_cells",
        "outbox",
        "calls",
        "feeds",
    ] {
        assert!(sqlite[table] > 0, "{table} has rows to copy");
    }
    assert_eq!(sqlite["appointments"], 3);
    // Rows arrive as they were, the feed's secret hash byte for byte.
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    let (start, phone, hash): (i64, String, Vec<u8>) = conn
        .query_row(
            "SELECT a.start_at, a.customer_phone, f.secret_hash
             FROM appointments a, feeds f ORDER BY a.id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let row = client
        .query_one(
            "SELECT a.start_at, a.customer_phone, f.secret_hash
             FROM appointments a, feeds f ORDER BY a.id LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((row.get(0), row.get(1), row.get(2)), (start, phone, hash));
    // A row inserted after the copy takes the next id, not one already copied.
    let next: i64 = client
        .query_one(
            "INSERT INTO texml_versions (tenant_id, name, body, saved_at, saved_by)
             SELECT id, 'fallback', '<Response/>', 0, 'test' FROM tenants LIMIT 1
             RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let max: i64 = conn
        .query_row("SELECT COALESCE(max(id), 0) FROM texml_versions", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(next, max + 1);
    let tenant: i64 = client
        .query_one(
            "INSERT INTO tenants (slug, name, phone_number, timezone, voice, greeting,
                 slot_minutes, min_notice_minutes, horizon_days, buffer_minutes,
                 reminder_hours, max_attempts, created_at, updated_at)
             VALUES ('next', 'Next', '+13125550178', 'UTC', 'Polly.Joanna', 'Hi',
                 30, 0, 30, 0, '[]', 3, 0, 0) RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let max: i64 = conn
        .query_row("SELECT max(id) FROM tenants", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tenant, max + 1);
    drop(client);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: .ci/run starts one"]
async fn postgres_migrate_refuses_a_target_that_holds_rows_and_changes_nothing() {
    let Some(db) = Scratch::new().await else {
        return;
    };
    let app = app_with_bookings().await;
    assert_eq!(migrate(&app.db_path, &db.url).0, 0);
    let client = db.client().await;
    let before = postgres_counts(&client).await;
    let (code, out, err) = migrate(&app.db_path, &db.url);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("not empty") && err.contains("tenants"),
        "{err}"
    );
    assert!(err.contains("copy into a new database"), "{err}");
    assert_eq!(postgres_counts(&client).await, before);
    drop(client);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: .ci/run starts one"]
async fn postgres_migrate_refuses_a_sqlite_file_with_overlapping_appointments_and_writes_nothing() {
    let Some(db) = Scratch::new().await else {
        return;
    };
    let app = app_with_bookings().await;
    // Hand-edited: a second appointment over the first one's time, without its cells.
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    conn.execute(
        "INSERT INTO appointments (tenant_id, service_id, provider_id, customer_name,
             customer_phone, start_at, end_at, blocked_until, status, created_at, updated_at)
         SELECT tenant_id, service_id, provider_id, 'Twin', customer_phone, start_at, end_at,
             blocked_until, 'booked', created_at, updated_at
         FROM appointments ORDER BY id LIMIT 1",
        [],
    )
    .unwrap();
    let (code, out, err) = migrate(&app.db_path, &db.url);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("overlap") && err.contains("no rows were written"),
        "{err}"
    );
    let client = db.client().await;
    let counts = postgres_counts(&client).await;
    assert!(counts.values().all(|n| *n == 0), "{counts:?}");
    drop(client);
    db.drop_database().await;
}

#[tokio::test]
async fn migrate_to_postgres_says_what_to_fix_for_a_missing_file_or_a_url_that_is_not_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.db");
    let (code, _, err) = migrate(&missing, "postgres://127.0.0.1:1/x");
    assert_ne!(code, 0);
    assert!(
        err.contains("no SQLite database at") && err.contains("none.db"),
        "{err}"
    );
    let (code, _, err) = migrate(&missing, "mysql://db/x");
    assert_ne!(code, 0);
    assert!(err.contains("--to must be a postgres:// URL"), "{err}");
    // --from alone is refused by the argument parser, naming what is missing.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slotline"))
        .args(["migrate", "--from"])
        .arg(&missing)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--to <URL>"), "{err}");
    // A real slotline file, but a server that does not answer.
    let file = dir.path().join("s.db");
    drop(Db::open(&file).unwrap());
    let (code, _, err) = migrate(&file, "postgres://postgres@127.0.0.1:1/x");
    assert_ne!(code, 0);
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
    // A table no slotline makes is refused before anything is sent to the target.
    rusqlite::Connection::open(&file)
        .unwrap()
        .execute_batch("CREATE TABLE \"Robert'); DROP TABLE x; --\" (a)")
        .unwrap();
    let (code, _, err) = migrate(&file, "postgres://postgres@127.0.0.1:1/x");
    assert_ne!(code, 0);
    assert!(err.contains("which no slotline makes"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: .ci/run starts one"]
async fn postgres_migrate_during_a_booking_burst_copies_a_consistent_moment() {
    use crate::helpers::{book_burst, burst_line};
    let Some(db) = Scratch::new().await else {
        return;
    };
    let app = burst_line("burst", "+13125550188", &["Ana", "Bo"]).await;
    let callers = book_burst(&app, "+13125550188", 40, 5);
    // The copy starts while the callers are still booking.
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    for _ in 0..1000 {
        let booked: i64 = conn
            .query_row("SELECT count(*) FROM appointments", [], |r| r.get(0))
            .unwrap();
        if booked >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let (path, url) = (app.db_path.clone(), db.url.clone());
    let (code, out, err) = tokio::task::spawn_blocking(move || migrate(&path, &url))
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    for c in callers {
        assert!(c.await.unwrap().contains("is booked for"));
    }
    // Whatever moment was copied, every booking in it came with its cells and its
    // confirmation, and nothing is there without its booking.
    let client = db.client().await;
    let copied: i64 = client
        .query_one(
            "SELECT count(*) FROM appointments WHERE status = 'booked'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let whole: i64 = client
        .query_one(
            "SELECT count(*) FROM appointments a
             WHERE a.status = 'booked'
               AND EXISTS (SELECT 1 FROM appointment_cells c WHERE c.appointment_id = a.id)
               AND EXISTS (SELECT 1 FROM outbox o WHERE o.appointment_id = a.id AND o.kind = 'confirmation')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let orphans: i64 = client
        .query_one(
            "SELECT count(*) FROM outbox o WHERE o.appointment_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.id = o.appointment_id)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        copied >= 5,
        "{copied} bookings copied: the copy ran during the burst"
    );
    assert_eq!((whole, orphans), (copied, 0));
    drop(client);
    db.drop_database().await;
}

//! `slotline migrate --from FILE --to postgres://…`: copies a SQLite database into an
//! empty PostgreSQL one (migrated first) in a single transaction, and commits it only when
//! every table's row count matches; PostgreSQL's exclusion constraint refuses the copy if
//! two live appointments of a provider overlap. The SQLite file is read in one read
//! transaction, so a server may keep running on it: the copy is the database as it was
//! when the read began.

use std::{collections::BTreeMap, path::Path};

use futures_util::pin_mut;
use rusqlite::{Connection, OpenFlags, types::ValueRef};
use tokio_postgres::{
    binary_copy::BinaryCopyInWriter,
    types::{ToSql, Type},
};

use super::{migrations, sqlstate};
use crate::db::DbError;

/// Rows copied, per table, in the order they were copied.
#[derive(Debug)]
pub struct Copied {
    /// (table, rows) pairs.
    pub tables: Vec<(String, i64)>,
}

/// One value on its way into a binary COPY, typed by the target column.
#[derive(Debug)]
enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
    Real(Option<f64>),
    Bytes(Option<Vec<u8>>),
}

impl Cell {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Cell::Int(v) => v,
            Cell::Text(v) => v,
            Cell::Real(v) => v,
            Cell::Bytes(v) => v,
        }
    }
}

/// Copies `from` (a SQLite file at this binary's schema version) into the PostgreSQL
/// database at `to`, which is migrated first and must hold no rows. Nothing is written
/// unless every check passes.
pub async fn copy(from: &Path, to: &str) -> Result<Copied, DbError> {
    let source = open_source(from)?;
    let tables = tables_in_copy_order(&source)?;
    let mut target = super::connect(to).await?;
    migrations::apply(&mut target).await?;
    source.execute_batch("BEGIN")?;
    let tx = target.transaction().await?;
    // Checked inside the copy's transaction, with the tables locked against writers.
    tx.batch_execute(&format!(
        "LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE",
        tables.join(", ")
    ))
    .await
    .map_err(|e| {
        DbError::Corrupt(format!(
            "the PostgreSQL schema does not match this slotline's: {e}"
        ))
    })?;
    refuse_rows(&tx, &tables).await?;
    // The trigger marks a call gathered when an answer is stored; the copied calls
    // already say whether they were, whichever table is copied first.
    tx.batch_execute("ALTER TABLE callback_answers DISABLE TRIGGER calls_gathered")
        .await?;
    let mut copied = Vec::new();
    for table in &tables {
        let rows = copy_table(&source, &tx, table).await?;
        copied.push((table.clone(), rows));
    }
    tx.batch_execute("ALTER TABLE callback_answers ENABLE TRIGGER calls_gathered")
        .await?;
    continue_identities(&tx).await?;
    for (table, rows) in &copied {
        let count: i64 =
            source.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        let landed: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await?
            .get(0);
        if count != *rows || landed != *rows {
            return Err(DbError::Corrupt(format!(
                "{table}: {count} rows in SQLite, {rows} copied, {landed} in PostgreSQL; no rows were written"
            )));
        }
    }
    source.execute_batch("COMMIT")?;
    tx.commit().await.map_err(|e| {
        DbError::Corrupt(format!(
            "the COMMIT of the copy failed ({e}); whether it took effect is unknown: look at the target's tables before copying again"
        ))
    })?;
    Ok(Copied { tables: copied })
}

/// The SQLite file, read-only, at exactly this binary's schema version.
fn open_source(from: &Path) -> Result<Connection, DbError> {
    if !from.is_file() {
        return Err(DbError::Corrupt(format!(
            "no SQLite database at {}; --from names the file SLOTLINE_DB pointed at",
            from.display()
        )));
    }
    let conn = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(crate::db::BUSY_TIMEOUT)?;
    crate::db::migrations::check_current(&conn)?;
    Ok(conn)
}

/// Every table of the SQLite schema, each after the tables its foreign keys name.
fn tables_in_copy_order(conn: &Connection) -> Result<Vec<String>, DbError> {
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master
             WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    // Names go into SQL as identifiers: only slotline's own kind of name is taken.
    let plain = |n: &str| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if let Some(odd) = names.iter().find(|n| !plain(n)) {
        return Err(DbError::Corrupt(format!(
            "the SQLite file has a table named {odd:?}, which no slotline makes; copy only a slotline database"
        )));
    }
    let mut needs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in &names {
        let parents: Vec<String> = conn
            .prepare(&format!("PRAGMA foreign_key_list({name})"))?
            .query_map([], |r| r.get(2))?
            .collect::<Result<_, _>>()?;
        needs.insert(
            name.clone(),
            parents.into_iter().filter(|p| p != name).collect(),
        );
    }
    let mut order: Vec<String> = Vec::new();
    while order.len() < names.len() {
        let ready: Vec<String> = names
            .iter()
            .filter(|n| !order.contains(n))
            .filter(|n| needs[*n].iter().all(|p| order.contains(p)))
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(DbError::Corrupt(
                "the SQLite schema's foreign keys form a cycle".into(),
            ));
        }
        order.extend(ready);
    }
    Ok(order)
}

/// Refuses a target that holds any row: a copy only ever starts from nothing.
async fn refuse_rows(
    target: &tokio_postgres::Transaction<'_>,
    tables: &[String],
) -> Result<(), DbError> {
    let mut full = Vec::new();
    for table in tables {
        let any: bool = target
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
            .await?
            .get(0);
        if any {
            full.push(table.as_str());
        }
    }
    if full.is_empty() {
        return Ok(());
    }
    Err(DbError::Conflict(format!(
        "the PostgreSQL database is not empty ({} hold rows); copy into a new database",
        full.join(", ")
    )))
}

/// Copies one table's rows with a binary COPY, typed by the target's columns.
async fn copy_table(
    source: &Connection,
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
) -> Result<i64, DbError> {
    let columns: Vec<(String, Type)> = tx
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1
             ORDER BY ordinal_position",
            &[&table],
        )
        .await?
        .into_iter()
        .map(|r| {
            let kind: String = r.get(1);
            let ty = match kind.as_str() {
                "bigint" => Ok(Type::INT8),
                "text" => Ok(Type::TEXT),
                "double precision" => Ok(Type::FLOAT8),
                "bytea" => Ok(Type::BYTEA),
                other => Err(DbError::Corrupt(format!(
                    "{table}.{}: no copy for PostgreSQL type {other}",
                    r.get::<_, String>(0)
                ))),
            };
            ty.map(|t| (r.get(0), t))
        })
        .collect::<Result<_, _>>()?;
    if columns.is_empty() {
        return Err(DbError::Corrupt(format!(
            "table {table} is missing in PostgreSQL"
        )));
    }
    let list = columns
        .iter()
        .map(|(c, _)| c.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let sink = tx
        .copy_in(&format!("COPY {table} ({list}) FROM STDIN BINARY"))
        .await?;
    let types: Vec<Type> = columns.iter().map(|(_, t)| t.clone()).collect();
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    let mut stmt = source.prepare(&format!("SELECT {list} FROM {table}"))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let mut cells = Vec::with_capacity(columns.len());
        for (i, (name, ty)) in columns.iter().enumerate() {
            cells.push(cell(table, name, ty, row.get_ref(i)?)?);
        }
        let values: Vec<&(dyn ToSql + Sync)> = cells.iter().map(Cell::as_sql).collect();
        writer
            .as_mut()
            .write(&values)
            .await
            .map_err(|e| refused(table, e))?;
    }
    let written = writer.finish().await.map_err(|e| refused(table, e))?;
    Ok(written as i64)
}

/// A stored SQLite value as the target column's type; a value of another kind (the file
/// was edited by hand) is refused with where it is.
fn cell(table: &str, column: &str, ty: &Type, value: ValueRef<'_>) -> Result<Cell, DbError> {
    let wrong = |found: &str| {
        DbError::Corrupt(format!(
            "{table}.{column} holds {found} where PostgreSQL wants {ty}; no rows were written"
        ))
    };
    Ok(match (ty, value) {
        (t, ValueRef::Null) if *t == Type::INT8 => Cell::Int(None),
        (t, ValueRef::Null) if *t == Type::TEXT => Cell::Text(None),
        (t, ValueRef::Null) if *t == Type::FLOAT8 => Cell::Real(None),
        (_, ValueRef::Null) => Cell::Bytes(None),
        (t, ValueRef::Integer(i)) if *t == Type::INT8 => Cell::Int(Some(i)),
        (t, ValueRef::Integer(i)) if *t == Type::FLOAT8 => Cell::Real(Some(i as f64)),
        (t, ValueRef::Real(r)) if *t == Type::FLOAT8 => Cell::Real(Some(r)),
        (t, ValueRef::Text(s)) if *t == Type::TEXT => Cell::Text(Some(
            String::from_utf8(s.to_vec()).map_err(|_| wrong("text that is not UTF-8"))?,
        )),
        (t, ValueRef::Blob(b)) if *t == Type::BYTEA => Cell::Bytes(Some(b.to_vec())),
        (_, ValueRef::Integer(_)) => return Err(wrong("an integer")),
        (_, ValueRef::Real(_)) => return Err(wrong("a real number")),
        (_, ValueRef::Text(_)) => return Err(wrong("text")),
        (_, ValueRef::Blob(_)) => return Err(wrong("a blob")),
    })
}

/// A COPY the target refused, with the table and, for the overlap rule, what it means.
fn refused(table: &str, e: tokio_postgres::Error) -> DbError {
    match super::code(&e) {
        Some(sqlstate::EXCLUSION_VIOLATION) => DbError::Corrupt(format!(
            "{table}: two appointments of one provider overlap in the SQLite file ({e}); no rows were written"
        )),
        _ => DbError::Corrupt(format!("copying {table} failed: {e}; no rows were written")),
    }
}

/// Moves every identity column's sequence past the ids its table holds, so new rows
/// continue after rows written with explicit ids (the copy; tests' seeds).
pub async fn continue_identities(tx: &impl tokio_postgres::GenericClient) -> Result<(), DbError> {
    let identities = tx
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND is_identity = 'YES'",
            &[],
        )
        .await?;
    for row in identities {
        let (table, column): (String, String) = (row.get(0), row.get(1));
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), max({column}))
                 FROM {table} HAVING max({column}) IS NOT NULL"
            ),
            &[&table, &column],
        )
        .await?;
    }
    Ok(())
}

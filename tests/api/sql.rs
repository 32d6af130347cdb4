//! SQL on the app's own database for tests that set up or check rows the API does not
//! reach, on whichever store the suite runs (SQLite or PostgreSQL). The statements must be
//! in the SQL both speak; `?N` placeholders take [`Arg`]s, written into the statement as
//! literals (test-only: the values are the tests' own).

use crate::helpers::TestApp;

/// A value for a `?N` placeholder.
#[derive(Debug, Clone)]
pub enum Arg {
    /// An integer (every number column is one on both stores).
    Int(i64),
    /// Text.
    Text(String),
    /// SQL NULL.
    Null,
}

/// [`Arg::Int`].
pub fn int(i: i64) -> Arg {
    Arg::Int(i)
}

/// [`Arg::Text`].
pub fn text(t: &str) -> Arg {
    Arg::Text(t.to_string())
}

impl Arg {
    fn literal(&self) -> String {
        match self {
            Arg::Int(i) => i.to_string(),
            Arg::Text(t) => format!("'{}'", t.replace('\'', "''")),
            Arg::Null => "NULL".into(),
        }
    }
}

/// `sql` with each `?N` replaced by the literal of `args[N - 1]`.
pub fn bind(sql: &str, args: &[Arg]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find('?') {
        out.push_str(&rest[..at]);
        let digits: String = rest[at + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let n: usize = digits
            .parse()
            .unwrap_or_else(|_| panic!("a bare ? in {sql:?}: number it (?1)"));
        let arg = args
            .get(n - 1)
            .unwrap_or_else(|| panic!("?{n} in {sql:?} has no argument"));
        out.push_str(&arg.literal());
        rest = &rest[at + 1 + digits.len()..];
    }
    out.push_str(rest);
    out
}

impl TestApp {
    /// Runs `sql` (one or more statements) with `args` on the app's database.
    pub async fn exec_sql(&self, sql: &str, args: &[Arg]) {
        let sql = bind(sql, args);
        match &self.db_url {
            Some(url) => {
                let client = slotline::db::postgres::connect(url).await.unwrap();
                client
                    .batch_execute(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            }
            None => self
                .state
                .db()
                .write(move |c| Ok(c.execute_batch(&sql)?))
                .await
                .unwrap(),
        }
    }

    /// Every row of `sql`, each value as text (`None` for NULL).
    pub async fn query_sql(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match &self.db_url {
            Some(url) => {
                let client = slotline::db::postgres::connect(url).await.unwrap();
                let messages = client
                    .simple_query(sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
                messages
                    .iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|i| row.get(i).map(str::to_string))
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect()
            }
            None => {
                let sql = sql.to_string();
                self.state
                    .db()
                    .run(move |c| {
                        let mut stmt = c.prepare(&sql)?;
                        let width = stmt.column_count();
                        let rows = stmt.query_map([], |r| {
                            (0..width)
                                .map(|i| {
                                    use rusqlite::types::ValueRef;
                                    Ok(match r.get_ref(i)? {
                                        ValueRef::Null => None,
                                        ValueRef::Integer(i) => Some(i.to_string()),
                                        ValueRef::Real(f) => Some(f.to_string()),
                                        ValueRef::Text(t) | ValueRef::Blob(t) => {
                                            Some(String::from_utf8_lossy(t).into_owned())
                                        }
                                    })
                                })
                                .collect()
                        })?;
                        Ok(rows.collect::<Result<Vec<_>, _>>()?)
                    })
                    .await
                    .unwrap()
            }
        }
    }

    /// The first column of every row of `sql`, as text ("NULL" for NULL).
    pub async fn column_sql(&self, sql: &str) -> Vec<String> {
        self.query_sql(sql)
            .await
            .into_iter()
            .map(|row| row[0].clone().unwrap_or_else(|| "NULL".into()))
            .collect()
    }

    /// The integers of the first row of `sql` (a count, a sum, ids).
    pub async fn ints_sql(&self, sql: &str) -> Vec<i64> {
        let rows = self.query_sql(sql).await;
        let row = rows.first().unwrap_or_else(|| panic!("{sql}: no row"));
        row.iter()
            .map(|v| {
                let v = v.as_deref().unwrap_or_else(|| panic!("{sql}: NULL"));
                v.parse()
                    .unwrap_or_else(|_| panic!("{sql}: {v:?} is not an integer"))
            })
            .collect()
    }

    /// The integer `sql` answers (its first row's first column).
    pub async fn int_sql(&self, sql: &str) -> i64 {
        self.ints_sql(sql).await[0]
    }
}

#[test]
fn placeholders_become_literals_and_quotes_are_doubled() {
    let sql = bind(
        "INSERT INTO t VALUES (?1, ?2, ?10, ?1 + 5)",
        &[
            int(7),
            text("O'Hara"),
            Arg::Null,
            Arg::Null,
            Arg::Null,
            Arg::Null,
            Arg::Null,
            Arg::Null,
            Arg::Null,
            int(-3),
        ],
    );
    assert_eq!(sql, "INSERT INTO t VALUES (7, 'O''Hara', -3, 7 + 5)");
}

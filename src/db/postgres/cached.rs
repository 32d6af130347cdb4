//! Statements prepared once per connection: the PostgreSQL arms run their fixed SQL
//! through these, so a statement is parsed and planned on the first use of each pooled
//! connection and only bound and executed after that (a `&str` query costs tokio-postgres
//! a prepare round trip and PostgreSQL a parse and plan every time). Only `'static` SQL is
//! cached, so SQL built at run time (which may differ call to call) cannot grow a
//! connection's cache without bound; it keeps the plain methods.

use std::future::Future;

use deadpool_postgres::GenericClient;
use tokio_postgres::{Error, Row, types::ToSql};

/// Parameters of a statement.
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The cached twins of `execute`, `query`, `query_one` and `query_opt`, for a pooled
/// connection or a transaction on one.
pub trait Cached: GenericClient {
    /// `execute` of the cached statement `sql`.
    fn execute_cached<'a>(
        &'a self,
        sql: &'static str,
        params: Params<'a>,
    ) -> impl Future<Output = Result<u64, Error>> + Send + 'a {
        async move {
            let statement = self.prepare_cached(sql).await?;
            self.execute(&statement, params).await
        }
    }

    /// `query` of the cached statement `sql`.
    fn query_cached<'a>(
        &'a self,
        sql: &'static str,
        params: Params<'a>,
    ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send + 'a {
        async move {
            let statement = self.prepare_cached(sql).await?;
            self.query(&statement, params).await
        }
    }

    /// `query_one` of the cached statement `sql`.
    fn query_one_cached<'a>(
        &'a self,
        sql: &'static str,
        params: Params<'a>,
    ) -> impl Future<Output = Result<Row, Error>> + Send + 'a {
        async move {
            let statement = self.prepare_cached(sql).await?;
            self.query_one(&statement, params).await
        }
    }

    /// `query_opt` of the cached statement `sql`.
    fn query_opt_cached<'a>(
        &'a self,
        sql: &'static str,
        params: Params<'a>,
    ) -> impl Future<Output = Result<Option<Row>, Error>> + Send + 'a {
        async move {
            let statement = self.prepare_cached(sql).await?;
            self.query_opt(&statement, params).await
        }
    }
}

impl<C: GenericClient + ?Sized> Cached for C {}

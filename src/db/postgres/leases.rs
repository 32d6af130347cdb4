//! Leases on PostgreSQL ([`crate::db::leases`] is the interface). The upsert is one
//! statement: of two nodes taking an expired lease at once, the second waits for the
//! first's row lock, then finds the lease live and gets nothing. Leases are measured on
//! the server's clock ([`crate::db::leases::Wall`]), read after the row's lock is had.

use super::Pg;
use super::cached::Cached;
use crate::db::{DbError, leases::Lease};

/// The database server's clock, Unix milliseconds: what every node's leases (and pacers)
/// are measured on, whatever the nodes' own clocks say.
pub(super) const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// An instant on the lease clock: the statement's parameter `param` when it is given (a
/// story told at times of its choosing), else now on the server's clock.
pub(super) fn lease_clock(param: &str) -> String {
    format!("COALESCE({param}::bigint, {NOW_MS})")
}

/// Takes or renews lease `name` for `holder` until `ttl_ms` after `now_ms` (`None`: now on
/// the server's clock, read again after waiting for another node's take of the row).
pub async fn acquire(
    pg: &Pg,
    name: &str,
    holder: &str,
    now_ms: Option<i64>,
    ttl_ms: i64,
) -> Result<Option<Lease>, DbError> {
    let now = lease_clock("$3");
    pg.write(async |tx| {
        let row = tx
            .query_opt(
                &format!(
                    "INSERT INTO leases (name, holder, epoch, expires_ms)
                     VALUES ($1, $2, 1, {now} + $4)
                     ON CONFLICT (name) DO UPDATE SET
                         epoch = CASE WHEN leases.holder = excluded.holder
                                      THEN leases.epoch ELSE leases.epoch + 1 END,
                         holder = excluded.holder,
                         expires_ms = {now} + $4
                     WHERE leases.holder = excluded.holder OR leases.expires_ms <= {now}
                     RETURNING epoch, expires_ms"
                ),
                &[&name, &holder, &now_ms, &ttl_ms],
            )
            .await?;
        Ok(row.map(|r| Lease {
            epoch: r.get(0),
            expires_ms: r.get(1),
        }))
    })
    .await
}

/// Gives lease `name` up if `holder` has it.
pub async fn release(pg: &Pg, name: &str, holder: &str) -> Result<(), DbError> {
    pg.write(async |tx| {
        tx.execute_cached(
            "DELETE FROM leases WHERE name = $1 AND holder = $2",
            &[&name, &holder],
        )
        .await?;
        Ok(())
    })
    .await
}

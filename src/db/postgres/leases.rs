//! Leases on PostgreSQL ([`crate::db::leases`] is the interface). The upsert is one
//! statement: of two nodes taking an expired lease at once, the second waits for the
//! first's row lock, then finds the lease live and gets nothing.

use super::Pg;
use crate::db::{DbError, leases::Lease};

/// Takes or renews lease `name` for `holder` until `until_ms`.
pub async fn acquire(
    pg: &Pg,
    name: &str,
    holder: &str,
    now_ms: i64,
    until_ms: i64,
) -> Result<Option<Lease>, DbError> {
    pg.write(async |tx| {
        let row = tx
            .query_opt(
                "INSERT INTO leases (name, holder, epoch, expires_ms) VALUES ($1, $2, 1, $4)
                 ON CONFLICT (name) DO UPDATE SET
                     epoch = CASE WHEN leases.holder = excluded.holder
                                  THEN leases.epoch ELSE leases.epoch + 1 END,
                     holder = excluded.holder,
                     expires_ms = excluded.expires_ms
                 WHERE leases.holder = excluded.holder OR leases.expires_ms <= $3
                 RETURNING epoch, expires_ms",
                &[&name, &holder, &now_ms, &until_ms],
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
        tx.execute(
            "DELETE FROM leases WHERE name = $1 AND holder = $2",
            &[&name, &holder],
        )
        .await?;
        Ok(())
    })
    .await
}

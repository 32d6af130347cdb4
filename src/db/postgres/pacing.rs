//! Pacing shared by every node (step 0016): a row of `pacers` per paced thing holds the
//! earliest instant its next request may go, on the database's clock, so the nodes'
//! clocks never meet. A request reserves its slot under the row's lock, inside the
//! transaction that records it as started: of two nodes sending from one sender at once,
//! the second waits for the first's commit and reserves the slot after it, so the slots
//! reserved for one pacer are at least one gap apart whichever nodes reserved them.

use super::cached::Cached;
use deadpool_postgres::GenericClient;

use super::leases::NOW_MS;
use crate::db::DbError;

/// What a reservation came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Reserved: the request goes at `at_ms` (the database's clock), `wait_ms` from now.
    At {
        /// The reserved instant.
        at_ms: i64,
        /// How long from now that is (0 when it is now).
        wait_ms: i64,
    },
    /// The next free slot is further away than the horizon: `wait_ms` from now. Nothing
    /// was reserved.
    Busy {
        /// How long until the next free slot.
        wait_ms: i64,
    },
}

/// Reserves the next slot of pacer `name` (slots `gap_ms` apart), if it is at most
/// `horizon_ms` away; in the caller's transaction, whose end releases the row.
pub(super) async fn reserve(
    tx: &impl GenericClient,
    name: &str,
    gap_ms: i64,
    horizon_ms: i64,
) -> Result<Slot, DbError> {
    // The upsert locks the row (waiting for another node's reservation to commit), and
    // the clock is read after the lock, so `now` is never older than the slot before.
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO pacers AS p (name, next_ms) VALUES ($1, 0)
                 ON CONFLICT (name) DO UPDATE SET next_ms = p.next_ms
                 RETURNING next_ms, {NOW_MS}"
            ),
            &[&name],
        )
        .await?;
    let (next, now): (i64, i64) = (row.get(0), row.get(1));
    let at = next.max(now);
    if at - now > horizon_ms {
        return Ok(Slot::Busy { wait_ms: at - now });
    }
    tx.execute_cached(
        "UPDATE pacers SET next_ms = $2 WHERE name = $1",
        &[&name, &(at + gap_ms.max(0))],
    )
    .await?;
    Ok(Slot::At {
        at_ms: at,
        wait_ms: at - now,
    })
}

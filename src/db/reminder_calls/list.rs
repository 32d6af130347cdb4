//! The tenant's call list (reminder-call attempts and inbound calls, newest first) and
//! the reminder-call figures of the stats.

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::db::DbError;

/// One call in the tenant's call list (outbound reminder attempts and inbound calls).
#[derive(Debug, Clone, Serialize)]
pub struct CallRow {
    /// `outbound` (a reminder call attempt) or `inbound`.
    pub direction: &'static str,
    /// Telnyx's call id, when known.
    pub call_sid: Option<String>,
    /// The other party's number.
    pub number: Option<String>,
    /// Unix seconds: dialled (outbound; the due time if never dialled) or started.
    pub at: i64,
    /// Row status (`queued`, `live`, `done`, ...; Telnyx's call status for inbound).
    pub status: String,
    /// For outbound: confirmed, cancelled, rescheduled, stopped, voicemail, no_answer,
    /// busy, failed, ...; for inbound, what the call's latest turn that settled something
    /// recorded (`db::calls::Outcome`: booked, held, moved, cancelled, question,
    /// alternatives, hand-off, ended, error), `null` while it settled nothing.
    pub outcome: Option<String>,
    /// The appointment (outbound).
    pub appointment_id: Option<i64>,
    /// 1 or 2 (outbound).
    pub attempt: Option<u32>,
    /// Why it was skipped, failed or waits (outbound).
    pub reason: Option<String>,
    /// Seconds, once ended.
    pub duration_seconds: Option<i64>,
    /// What the AMD said (outbound).
    pub answered_by: Option<String>,
    #[serde(skip)]
    /// Keyset id: outbound rows odd, inbound rows even, so the two tables interleave.
    pub key: i64,
}

/// The call list's query: each table read newest first along its index (`(at, k) < (?2,
/// ?3)` spelled so the index range applies) and cut at the page's size before the two are
/// merged, so a page costs the same with ten years of calls as with ten.
/// An inbound call's outcome is `call_outcome_sql!`, read only for the rows of the page.
const LIST: &str = concat!(
    "SELECT * FROM (
    SELECT * FROM (
      SELECT 'outbound' AS dir, call_sid, to_number, COALESCE(dialed_at, due_at) AS at, status,
             outcome, appointment_id, attempt, last_error, duration_seconds, answered_by,
             id * 2 + 1 AS k
      FROM reminder_calls
      WHERE tenant_id = ?1 AND COALESCE(dialed_at, due_at) <= ?2
        AND (COALESCE(dialed_at, due_at) < ?2 OR id * 2 + 1 < ?3)
      ORDER BY COALESCE(dialed_at, due_at) DESC, id DESC LIMIT ?4)
    UNION ALL
    SELECT * FROM (
      SELECT 'inbound', c.call_sid, c.from_number, c.started_at, c.status, ",
    crate::call_outcome_sql!(),
    ", NULL, NULL, NULL, c.duration_seconds, NULL, c.rowid * 2
      FROM calls c
      WHERE c.tenant_id = ?1 AND c.direction = 'inbound' AND c.started_at <= ?2
        AND (c.started_at < ?2 OR c.rowid * 2 < ?3)
      ORDER BY c.started_at DESC, c.rowid DESC LIMIT ?4))
  ORDER BY 4 DESC, 12 DESC LIMIT ?4"
);

/// The tenant's calls, newest first, one page of them (`before`: the keyset cursor).
pub fn list(
    conn: &Connection,
    tenant_id: i64,
    before: Option<(i64, i64)>,
    limit: usize,
) -> Result<Vec<CallRow>, DbError> {
    let (at, key) = before.unwrap_or((i64::MAX, i64::MAX));
    let mut stmt = conn.prepare_cached(LIST)?;
    let rows = stmt.query_map(params![tenant_id, at, key, limit as i64], |r| {
        let dir: String = r.get(0)?;
        Ok(CallRow {
            direction: if dir == "outbound" {
                "outbound"
            } else {
                "inbound"
            },
            call_sid: r.get(1)?,
            number: r.get(2)?,
            at: r.get(3)?,
            status: r.get(4)?,
            outcome: r.get(5)?,
            appointment_id: r.get(6)?,
            attempt: r.get(7)?,
            reason: r.get(8)?,
            duration_seconds: r.get(9)?,
            answered_by: r.get(10)?,
            key: r.get(11)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Outbound reminder calls dialled in `[from, to)`: how many, and how many ended in each
/// outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutboundCounts {
    /// Attempts placed (dry runs included).
    pub dialled: i64,
    /// Outcome → count.
    pub outcomes: std::collections::BTreeMap<String, i64>,
}

/// Counts the tenant's reminder calls dialled in `[from, to)`.
pub fn counts(
    conn: &Connection,
    tenant_id: i64,
    from: i64,
    to: i64,
) -> Result<OutboundCounts, DbError> {
    let mut out = OutboundCounts::default();
    let mut stmt = conn.prepare_cached(
        "SELECT COALESCE(outcome, status), COUNT(*) FROM reminder_calls
         WHERE tenant_id = ?1 AND dialed_at >= ?2 AND dialed_at < ?3 GROUP BY 1",
    )?;
    for row in stmt.query_map(params![tenant_id, from, to], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })? {
        let (outcome, n) = row?;
        out.dialled += n;
        out.outcomes.insert(outcome, n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_of_calls_reads_both_tables_along_an_index_in_order() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrations::apply(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {LIST}"))
            .unwrap()
            .query_map(params![1, 2, 3, 4], |r| r.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let plan = plan.join("\n");
        assert!(
            plan.contains("USING INDEX calls_by_tenant (tenant_id=? AND started_at<?)"),
            "{plan}"
        );
        assert!(
            plan.contains("USING INDEX reminder_calls_by_tenant_time"),
            "{plan}"
        );
        // Only the merge of the two cut lists is sorted.
        assert_eq!(plan.matches("TEMP B-TREE").count(), 1, "{plan}");
    }
}

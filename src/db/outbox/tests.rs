//! Outbox storage: queueing with a booking, cancel, re-plan, opt-outs, counts.

use super::*;
use crate::db::messaging::{is_opted_out, lift_opt_out, record_event, record_opt_out};
use crate::{
    db::{Db, appointments, tenants},
    domain::TenantSpec,
};

const CUSTOMER: &str = "+13125550199";

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A database with the demo tenant and one booked haircut (Mon 2026-11-23 10:00
/// Chicago) planned at Fri 2026-11-20 09:00, with its texts queued.
fn booked() -> (tempfile::TempDir, Db, i64) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("t.db")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(include_str!("../../../data/demo-tenant.json")).unwrap();
    let spec = TenantSpec::from_json(&json).unwrap();
    let id = db
        .run_blocking(|c| {
            let t = tenants::insert(c, &spec)?;
            let start = at("2026-11-23T16:00:00Z");
            let appt = appointments::NewAppointment {
                tenant_id: t.id,
                service_id: t.service_ids[0],
                provider_id: t.provider_ids[0],
                customer_name: "Maria".into(),
                customer_phone: Some(CUSTOMER.into()),
                start: start.as_second(),
                end: start.as_second() + 2700,
                blocked_until: start.as_second() + 2700,
                call_sid: None,
                hold_until: None,
                texts: reminders::plan_texts(
                    &t.spec,
                    None,
                    Some(CUSTOMER),
                    start,
                    at("2026-11-20T15:00:00Z"),
                ),
            };
            let now = at("2026-11-20T15:00:00Z").as_second();
            match appointments::book(c, &appt, None, now)? {
                appointments::BookOutcome::Booked(id) => Ok(id),
                other => panic!("{other:?}"),
            }
        })
        .unwrap();
    (dir, db, id)
}

fn rows(db: &Db) -> Vec<(String, String, i64)> {
    db.run_blocking(|c| {
        Ok(
            c.prepare("SELECT kind, status, due_at FROM outbox ORDER BY id")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?,
        )
    })
    .unwrap()
}

#[test]
fn booking_queues_the_confirmation_and_the_reminder_in_its_transaction() {
    let (_dir, db, _) = booked();
    let r = rows(&db);
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].0.as_str(), r[0].1.as_str()),
        ("confirmation", "queued")
    );
    assert_eq!(
        (r[1].0.as_str(), r[1].2),
        ("reminder", at("2026-11-22T16:00:00Z").as_second())
    );
}

#[test]
fn cancelling_an_appointment_withdraws_its_waiting_texts_and_frees_its_time() {
    let (_dir, db, id) = booked();
    assert!(
        db.run_blocking(|c| appointments::cancel_appointment(c, id))
            .unwrap()
    );
    assert!(
        !db.run_blocking(|c| appointments::cancel_appointment(c, id))
            .unwrap(),
        "only once"
    );
    assert!(rows(&db).iter().all(|r| r.1 == "cancelled"));
    let cells: i64 = db
        .run_blocking(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM appointment_cells", [], |r| r.get(0))?)
        })
        .unwrap();
    assert_eq!(cells, 0);
}

#[test]
fn a_moved_appointment_gets_its_reminders_planned_again() {
    let (_dir, db, id) = booked();
    let moved = at("2026-11-25T16:00:00Z").as_second();
    db.run_blocking(|c| {
        c.execute(
            "UPDATE appointments SET start_at = ?2, end_at = ?2 + 2700, blocked_until = ?2 + 2700 WHERE id = ?1",
            params![id, moved],
        )?;
        replan_texts_for(c, id, None, at("2026-11-20T15:00:00Z"))
    })
    .unwrap();
    let r = rows(&db);
    let reminders: Vec<_> = r.iter().filter(|r| r.0 == "reminder").collect();
    assert_eq!(reminders.len(), 2);
    assert_eq!(reminders[0].1, "cancelled");
    assert_eq!(
        (reminders[1].1.as_str(), reminders[1].2),
        ("queued", moved - 86_400)
    );
    // Moving it back re-queues the original time (a cancelled row does not block it).
    db.run_blocking(|c| {
        c.execute(
            "UPDATE appointments SET start_at = ?2, end_at = ?2 + 2700, blocked_until = ?2 + 2700 WHERE id = ?1",
            params![id, moved - 2 * 86_400],
        )?;
        replan_texts_for(c, id, None, at("2026-11-20T15:00:00Z"))
    })
    .unwrap();
    let queued: Vec<_> = rows(&db)
        .into_iter()
        .filter(|r| r.0 == "reminder" && r.1 == "queued")
        .collect();
    assert_eq!(queued.len(), 1);
}

#[test]
fn a_status_that_arrives_before_the_send_is_recorded_is_applied_then() {
    let (_dir, db, _) = booked();
    db.run_blocking(|c| {
        record_event(
            c,
            "evt-1",
            "message.finalized",
            Some("msg-1"),
            Some("delivered"),
            None,
            0,
        )?;
        let claimed = claim(c, 1, i64::MAX / 2, 0, 1000)?.expect("claimable");
        mark_sent(c, claimed.id, "msg-1")
    })
    .unwrap();
    assert_eq!(rows(&db)[0].1, "delivered");
}

#[test]
fn counts_group_a_tenants_texts_by_status() {
    let (_dir, db, id) = booked();
    db.run_blocking(|c| appointments::cancel_appointment(c, id))
        .unwrap();
    let c = db.run_blocking(|c| counts(c, 1, 0, i64::MAX)).unwrap();
    assert_eq!(
        c,
        OutboxCounts {
            cancelled: 2,
            ..OutboxCounts::default()
        }
    );
    let none = db.run_blocking(|c| counts(c, 1, 0, 1)).unwrap();
    assert_eq!(none, OutboxCounts::default());
}

#[test]
fn an_opt_out_blocks_queueing_and_start_lifts_it() {
    let (_dir, db, _) = booked();
    let skipped = db
        .run_blocking(|c| record_opt_out(c, CUSTOMER, Some("profile-a"), 0))
        .unwrap();
    assert_eq!(
        skipped, 2,
        "queued texts with an unknown profile are skipped"
    );
    db.run_blocking(|c| {
        assert!(is_opted_out(c, CUSTOMER, None)?, "unknown profile: blocked");
        assert!(is_opted_out(c, CUSTOMER, Some("profile-a"))?);
        assert!(
            !is_opted_out(c, CUSTOMER, Some("profile-b"))?,
            "another profile is not"
        );
        lift_opt_out(c, CUSTOMER, Some("profile-a"))?;
        assert!(!is_opted_out(c, CUSTOMER, None)?);
        Ok(())
    })
    .unwrap();
}

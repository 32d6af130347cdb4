//! Outbox storage: queueing with a booking, cancel, re-plan, opt-outs, counts.

use super::*;
use crate::db::messaging::{is_opted_out, lift_opt_out, record_event, record_opt_out};
use crate::db::sqlite::outbox::*;
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
                caller_number: None,
                start: start.as_second(),
                end: start.as_second() + 2700,
                blocked_until: start.as_second() + 2700,
                call_sid: None,
                hold_until: None,
                cap: None,
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

#[test]
fn more_texts_than_one_insert_takes_are_all_queued_once_and_none_to_an_opted_out_number() {
    let (_dir, db, id) = booked();
    let (tenant, queued) = db
        .run_blocking(move |c| {
            let tenant: i64 = c.query_row(
                "SELECT tenant_id FROM appointments WHERE id = ?1",
                [id],
                |r| r.get(0),
            )?;
            record_opt_out(c, "+13125550177", None, 0)?;
            let text = |to: &str, due_at: i64| PlannedText {
                kind: Kind::Reminder,
                due_at,
                to: to.into(),
                from: "+13125550100".into(),
                messaging_profile_id: None,
            };
            // Seven reminders (two statements), one of them twice, one to an opted-out number.
            let mut texts: Vec<PlannedText> = (1..=7).map(|i| text(CUSTOMER, 1_000 + i)).collect();
            texts.push(text(CUSTOMER, 1_003));
            texts.push(text("+13125550177", 1_009));
            let queued = queue_planned(c, tenant, id, &texts, 5)?;
            Ok((tenant, queued))
        })
        .unwrap();
    assert_eq!(queued, 7, "the repeated text is not queued twice");
    let r = rows(&db);
    let reminders: Vec<i64> = r
        .iter()
        .filter(|(kind, _, due)| kind == "reminder" && *due < 2_000)
        .map(|(_, _, due)| *due)
        .collect();
    assert_eq!(reminders, (1_001..=1_007).collect::<Vec<_>>());
    let to_opted_out: i64 = db
        .run_blocking(move |c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM outbox WHERE tenant_id = ?1 AND to_number = '+13125550177'",
                [tenant],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(to_opted_out, 0);
}

const LATER: i64 = i64::MAX / 2;

/// Claims the confirmation (row 1) at wall-clock `now_ms` with a 1 s lease.
fn claim_confirmation(db: &Db, now_ms: i64) -> Claimed {
    db.run_blocking(|c| claim(c, 1, LATER, now_ms, 1000))
        .unwrap()
        .expect("claimable")
}

fn listed_status(db: &Db) -> String {
    db.run_blocking(|c| {
        list(
            c,
            1,
            &ListQuery {
                limit: 10,
                ..Default::default()
            },
        )
    })
    .unwrap()
    .into_iter()
    .find(|r| r.id == 1)
    .unwrap()
    .status
}

#[test]
fn a_lease_that_ran_out_after_the_request_started_holds_the_text_instead_of_resending() {
    let (_dir, db, _) = booked();
    let row = claim_confirmation(&db, 0);
    db.run_blocking(|c| begin_send(c, row.id, "hi", &row.from, None, 10))
        .unwrap();
    let swept = db
        .run_blocking(|c| sweep_leases(c, 5_000, 60_000, 3))
        .unwrap();
    assert_eq!(swept.held, 1);
    assert_eq!(listed_status(&db), "unknown");
    let due = db
        .run_blocking(|c| candidates(c, LATER, 5_000, &[], 4, 32))
        .unwrap();
    assert!(
        due.iter().all(|c| c.id != 1),
        "a held text is not sent again"
    );
}

#[test]
fn a_lease_that_ran_out_before_the_request_is_requeued_a_few_times_then_failed() {
    let (_dir, db, _) = booked();
    for round in 0..3 {
        let t = round * 10_000;
        claim_confirmation(&db, t);
        let swept = db
            .run_blocking(move |c| sweep_leases(c, t + 2_000, 60_000, 3))
            .unwrap();
        assert_eq!(swept.requeued, 1, "round {round}");
        assert_eq!(listed_status(&db), "queued");
    }
    claim_confirmation(&db, 40_000);
    let swept = db
        .run_blocking(|c| sweep_leases(c, 42_000, 60_000, 3))
        .unwrap();
    assert_eq!(swept.failed, 1);
    let row = db
        .run_blocking(|c| {
            list(
                c,
                1,
                &ListQuery {
                    limit: 10,
                    ..Default::default()
                },
            )
        })
        .unwrap();
    let row = row.iter().find(|r| r.id == 1).unwrap();
    assert_eq!(row.status, "failed");
    assert!(row.last_error.as_deref().unwrap().contains("4 times"));
}

#[test]
fn a_held_text_fails_after_the_hold_and_is_never_requeued() {
    let (_dir, db, _) = booked();
    let row = claim_confirmation(&db, 0);
    db.run_blocking(|c| {
        begin_send(c, row.id, "hi", &row.from, None, 10)?;
        hold_unknown(c, row.id, 20, "outcome unknown (reset)")
    })
    .unwrap();
    let early = db
        .run_blocking(|c| sweep_leases(c, 30_000, 60_000, 3))
        .unwrap();
    assert_eq!(early, Swept::default(), "still within the hold");
    let late = db
        .run_blocking(|c| sweep_leases(c, 60_021, 60_000, 3))
        .unwrap();
    assert_eq!(late.failed, 1);
    let row = db
        .run_blocking(|c| {
            list(
                c,
                1,
                &ListQuery {
                    limit: 10,
                    ..Default::default()
                },
            )
        })
        .unwrap();
    let row = row.iter().find(|r| r.id == 1).unwrap();
    assert_eq!(row.status, "failed");
    let reason = row.last_error.as_deref().unwrap();
    assert!(
        reason.contains("not re-sent") && reason.contains("reset"),
        "{reason}"
    );
}

#[test]
fn a_delivery_webhook_settles_a_held_text_with_the_same_numbers_and_words() {
    let (_dir, db, _) = booked();
    let row = claim_confirmation(&db, 0);
    let from = row.from.clone();
    db.run_blocking(move |c| {
        begin_send(c, 1, "hi", &from, None, 10)?;
        hold_unknown(c, 1, 20, "outcome unknown")?;
        assert!(!adopt_held(c, "msg-9", CUSTOMER, &from, "other words")?);
        assert!(!adopt_held(c, "msg-9", "+13125550777", &from, "hi")?);
        assert!(adopt_held(c, "msg-9", CUSTOMER, &from, "hi")?);
        assert!(
            !adopt_held(c, "msg-10", CUSTOMER, &from, "hi")?,
            "only once"
        );
        Ok(())
    })
    .unwrap();
    let rows = db
        .run_blocking(|c| {
            list(
                c,
                1,
                &ListQuery {
                    limit: 10,
                    ..Default::default()
                },
            )
        })
        .unwrap();
    let row = rows.iter().find(|r| r.id == 1).unwrap();
    assert_eq!(row.status, "sent");
    assert_eq!(row.telnyx_message_id.as_deref(), Some("msg-9"));
}

#[test]
fn a_paused_scope_shows_on_queued_texts_until_lifted() {
    let (_dir, db, _) = booked();
    db.run_blocking(|c| set_pause(c, "", "paused: 401", 0))
        .unwrap();
    let rows = db
        .run_blocking(|c| {
            list(
                c,
                1,
                &ListQuery {
                    limit: 10,
                    ..Default::default()
                },
            )
        })
        .unwrap();
    assert!(rows.iter().all(|r| r.status == "paused"), "{rows:?}");
    assert_eq!(rows[0].last_error.as_deref(), Some("paused: 401"));
    assert!(db.run_blocking(|c| lift_pause(c, "")).unwrap());
    assert_eq!(listed_status(&db), "queued");
}

#[test]
fn a_sender_that_is_ahead_gets_no_candidates() {
    let (_dir, db, _) = booked();
    let all = db
        .run_blocking(|c| candidates(c, LATER, 0, &[], 4, 32))
        .unwrap();
    assert_eq!(all.len(), 2);
    let sender = all[0].from.clone();
    let none = db
        .run_blocking(move |c| candidates(c, LATER, 0, &[sender], 4, 32))
        .unwrap();
    assert!(none.is_empty());
    let one = db
        .run_blocking(|c| candidates(c, LATER, 0, &[], 1, 32))
        .unwrap();
    assert_eq!(one.len(), 1, "at most one per sender when asked");
}

//! Webhook storage: events written with the change, ordering per appointment, retries and
//! the 3-day disable.

use super::*;
use crate::db::sqlite::webhooks::{create_endpoint, enable_endpoint};
use crate::{
    db::{Db, appointments, tenants},
    domain::TenantSpec,
};
use serde_json::Value;

const NOW: i64 = 1_795_186_800; // 2026-11-20T15:00:00Z
const DAY_MS: i64 = 86_400_000;

/// A database with the demo tenant and one endpoint subscribed to `events`.
fn with_endpoint(events: &[&str]) -> (tempfile::TempDir, Db, tenants::Tenant, i64) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("t.db")).unwrap();
    let json: Value = serde_json::from_str(include_str!("../../../data/demo-tenant.json")).unwrap();
    let spec = TenantSpec::from_json(&json).unwrap();
    let events: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    let (tenant, endpoint) = db
        .run_blocking(|c| {
            let t = tenants::insert(c, &spec)?;
            let e = create_endpoint(
                c,
                t.id,
                "https://hooks.example.com/x",
                &events,
                "whsec_a",
                NOW,
            )?;
            Ok((t, e.id))
        })
        .unwrap();
    (dir, db, tenant, endpoint)
}

fn book(db: &Db, t: &tenants::Tenant, start: i64) -> i64 {
    let appt = appointments::NewAppointment {
        tenant_id: t.id,
        service_id: t.service_ids[0],
        provider_id: t.provider_ids[0],
        customer_name: "Maria Lopez".into(),
        customer_phone: None,
        caller_number: None,
        start,
        end: start + 1800,
        blocked_until: start + 1800,
        call_sid: None,
        hold_until: None,
        cap: None,
        texts: Vec::new(),
    };
    match db
        .run_blocking(|c| appointments::book(c, &appt, None, NOW))
        .unwrap()
    {
        appointments::BookOutcome::Booked(id) => id,
        other => panic!("{other:?}"),
    }
}

/// Claims the next due delivery at `at_ms` and records one attempt with this result (no
/// retry); whether the endpoint was disabled by it.
fn attempt_next(db: &Db, at_ms: i64, http_status: Option<u16>, error: Option<&str>) -> bool {
    let due = db.run_blocking(|c| candidates(c, at_ms, &[], 10)).unwrap();
    let claimed = db
        .run_blocking(|c| claim(c, due[0].id, at_ms, at_ms + 60_000))
        .unwrap()
        .unwrap();
    let attempt = Attempt {
        at_ms,
        http_status,
        error: error.map(str::to_string),
        duration_ms: 1,
    };
    db.run_blocking(|c| record_attempt(c, claimed.id, &attempt, Then::GiveUp, 3 * DAY_MS, NOW))
        .unwrap()
}

fn event_types(db: &Db) -> Vec<String> {
    db.run_blocking(|c| {
        Ok(c.prepare("SELECT type FROM webhook_events ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?)
    })
    .unwrap()
}

#[test]
fn a_booking_and_its_cancellation_each_queue_one_event_for_a_subscribed_endpoint() {
    let (_dir, db, t, _) = with_endpoint(&["appointment.booked", "appointment.cancelled"]);
    let id = book(&db, &t, NOW + 86_400);
    db.run_blocking(|c| appointments::cancel(c, t.id, id, None, NOW + 60))
        .unwrap();
    db.run_blocking(|c| appointments::cancel(c, t.id, id, None, NOW + 120))
        .unwrap();
    assert_eq!(
        event_types(&db),
        ["appointment.booked", "appointment.cancelled"],
        "cancelling twice announces once"
    );
    let payload: Value = db
        .run_blocking(|c| {
            let p: String = c.query_row(
                "SELECT payload FROM webhook_events ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )?;
            Ok(serde_json::from_str(&p).unwrap())
        })
        .unwrap();
    assert_eq!(payload["tenant"], t.spec.slug.as_str());
    assert_eq!(payload["data"]["appointment"]["id"], id);
    assert_eq!(
        payload["data"]["appointment"]["customer_name"],
        "Maria Lopez"
    );
    assert!(payload["id"].as_str().unwrap().starts_with("evt_"));
}

#[test]
fn nothing_is_queued_for_events_no_endpoint_wants() {
    let (_dir, db, t, _) = with_endpoint(&["call.completed"]);
    book(&db, &t, NOW + 86_400);
    assert!(event_types(&db).is_empty());
}

#[test]
fn a_later_event_of_the_same_appointment_waits_for_the_earlier_one() {
    let (_dir, db, t, endpoint) = with_endpoint(&["appointment.booked", "appointment.cancelled"]);
    let first = book(&db, &t, NOW + 86_400);
    db.run_blocking(|c| appointments::cancel(c, t.id, first, None, NOW + 60))
        .unwrap();
    let now_ms = wall_ms() + 1000;
    let due = db.run_blocking(|c| candidates(c, now_ms, &[], 10)).unwrap();
    assert_eq!(due.len(), 1, "one per endpoint at a time");
    let claimed = db
        .run_blocking(|c| claim(c, due[0].id, now_ms, now_ms + 60_000))
        .unwrap()
        .unwrap();
    assert!(claimed.payload.contains("appointment.booked"));
    // Leased: neither it nor the cancellation behind it is offered.
    assert!(
        db.run_blocking(|c| candidates(c, now_ms, &[], 10))
            .unwrap()
            .is_empty()
    );
    let failed = Attempt {
        at_ms: now_ms,
        http_status: Some(503),
        error: None,
        duration_ms: 5,
    };
    db.run_blocking(|c| {
        record_attempt(
            c,
            claimed.id,
            &failed,
            Then::RetryAt(now_ms + 1000),
            3 * DAY_MS,
            NOW,
        )
    })
    .unwrap();
    assert!(
        db.run_blocking(|c| candidates(c, now_ms + 10, &[], 10))
            .unwrap()
            .is_empty(),
        "the cancellation must not overtake the booking while it waits for its retry"
    );
    let again = db
        .run_blocking(|c| candidates(c, now_ms + 1000, &[], 10))
        .unwrap();
    assert_eq!(
        again,
        vec![Candidate {
            id: claimed.id,
            endpoint
        }]
    );
    let list = db
        .run_blocking(|c| deliveries(c, t.id, endpoint, 10))
        .unwrap();
    let booked = list.iter().find(|d| d.id == claimed.id).unwrap();
    assert_eq!(booked.history.len(), 1);
    assert_eq!(booked.history[0].http_status, Some(503));
    assert_eq!(booked.last_error.as_deref(), Some("answered HTTP 503"));
}

#[test]
fn an_endpoint_failing_for_three_days_is_disabled_with_the_reason() {
    let (_dir, db, t, endpoint) = with_endpoint(&["appointment.booked"]);
    let start_ms = wall_ms() + 1000;
    for (n, at_ms) in [start_ms, start_ms + DAY_MS, start_ms + 3 * DAY_MS]
        .into_iter()
        .enumerate()
    {
        book(&db, &t, NOW + 86_400 * (n as i64 + 1));
        let disabled = attempt_next(&db, at_ms, None, Some("connection refused"));
        assert_eq!(disabled, n == 2, "attempt {n}");
    }
    let e = db
        .run_blocking(|c| get_endpoint(c, t.id, endpoint))
        .unwrap();
    assert!(e.disabled_at.is_some());
    let reason = e.disabled_reason.unwrap();
    assert!(reason.contains("connection refused"), "{reason}");
    // A disabled endpoint is sent nothing and queues nothing new.
    book(&db, &t, NOW + 86_400 * 9);
    let later = wall_ms() + 10 * DAY_MS;
    assert!(
        db.run_blocking(|c| candidates(c, later, &[], 10))
            .unwrap()
            .is_empty()
    );
    // Enabled again, it is sent what is still pending and queued again.
    let e = db
        .run_blocking(|c| enable_endpoint(c, t.id, endpoint))
        .unwrap();
    assert!(e.disabled_at.is_none() && e.failing_since_ms.is_none());
    book(&db, &t, NOW + 86_400 * 10);
    assert_eq!(
        db.run_blocking(|c| candidates(c, later, &[], 10))
            .unwrap()
            .len(),
        1
    );
    let queued: i64 = db
        .run_blocking(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(queued, 1, "only the booking after enabling was queued");
}

#[test]
fn a_success_ends_the_failure_streak() {
    let (_dir, db, t, endpoint) = with_endpoint(&["appointment.booked"]);
    let now_ms = wall_ms() + 1000;
    for (n, (ok, at_ms)) in [
        (false, now_ms),
        (true, now_ms + 2 * DAY_MS),
        (false, now_ms + 4 * DAY_MS),
    ]
    .into_iter()
    .enumerate()
    {
        book(&db, &t, NOW + 86_400 * (n as i64 + 1));
        let disabled = attempt_next(&db, at_ms, Some(if ok { 204 } else { 500 }), None);
        assert!(!disabled);
    }
    let e = db
        .run_blocking(|c| get_endpoint(c, t.id, endpoint))
        .unwrap();
    assert_eq!(e.failing_since_ms, Some(now_ms + 4 * DAY_MS));
}

#[test]
fn a_hold_is_announced_only_once_confirmed() {
    let (_dir, db, t, _) = with_endpoint(&["appointment.booked", "appointment.cancelled"]);
    let hold = |sid: &str, start: i64| appointments::NewAppointment {
        tenant_id: t.id,
        service_id: t.service_ids[0],
        provider_id: t.provider_ids[0],
        customer_name: "Maria Lopez".into(),
        customer_phone: None,
        caller_number: None,
        start,
        end: start + 1800,
        blocked_until: start + 1800,
        call_sid: Some(sid.into()),
        hold_until: Some(NOW + 300),
        cap: None,
        texts: Vec::new(),
    };
    let dropped = hold("v3:dropped", NOW + 86_400);
    let kept = hold("v3:kept", NOW + 2 * 86_400);
    let dropped_id = match db
        .run_blocking(|c| appointments::book(c, &dropped, None, NOW))
        .unwrap()
    {
        appointments::BookOutcome::Booked(id) => id,
        other => panic!("{other:?}"),
    };
    db.run_blocking(|c| appointments::book(c, &kept, None, NOW))
        .unwrap();
    assert!(event_types(&db).is_empty(), "a hold is not a booking yet");
    db.run_blocking(|c| appointments::cancel(c, t.id, dropped_id, None, NOW))
        .unwrap();
    assert!(event_types(&db).is_empty(), "nor is its end a cancellation");
    db.run_blocking(|c| {
        appointments::confirm_hold(
            c,
            &crate::db::calls::Answer::bare("v3:kept", "s1", "<Response/>"),
            &[],
            NOW,
        )
    })
    .unwrap();
    assert_eq!(event_types(&db), ["appointment.booked"]);
}

#[test]
fn a_claim_left_by_a_stopped_worker_is_taken_again_once_its_lease_ends() {
    let (_dir, db, t, _) = with_endpoint(&["appointment.booked"]);
    book(&db, &t, NOW + 86_400);
    let at = wall_ms() + 1000;
    let due = db.run_blocking(|c| candidates(c, at, &[], 10)).unwrap();
    let first = db
        .run_blocking(|c| claim(c, due[0].id, at, at + 40_000))
        .unwrap();
    assert!(first.is_some());
    // The worker that claimed it stopped before recording anything.
    assert!(
        db.run_blocking(|c| claim(c, due[0].id, at + 39_000, at + 79_000))
            .unwrap()
            .is_none(),
        "still leased"
    );
    assert!(
        db.run_blocking(|c| candidates(c, at + 39_000, &[], 10))
            .unwrap()
            .is_empty()
    );
    let again = db
        .run_blocking(|c| candidates(c, at + 40_000, &[], 10))
        .unwrap();
    assert_eq!(again, due);
    let retaken = db
        .run_blocking(|c| claim(c, due[0].id, at + 40_000, at + 80_000))
        .unwrap()
        .expect("taken again after the lease");
    assert_eq!(retaken.event_id, first.unwrap().event_id);
}

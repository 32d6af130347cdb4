//! The appointments aggregate's contract (issue 16): bookings, holds, moves and
//! cancellations write the same rows on SQLite and PostgreSQL, and the overlap guard and
//! the per-caller cap hold when bookings race, even from two nodes.

use slotline::{
    db::{
        appointments::{
            BookOutcome, ChangeOutcome, ConfirmOutcome, ListQuery, Move, NewAppointment, Notify,
        },
        calls::{Answer, Outcome},
        postgres::Pg,
        reminder_calls::Settled,
        store::Store,
    },
    sms::{Kind, PlannedText},
};

use crate::store::{done, second_node, stores};

/// Wednesday 2026-12-02 10:00 Chicago (16:00Z): when every booking here is made.
const NOW: i64 = 1_796_227_200;
/// Thursday 2026-12-10 15:00 Chicago: the slot the stories book.
const START: i64 = 1_796_936_400;
const HALF_HOUR: i64 = 1_800;
const JANE: &str = "+13125550199";
const LINE: &str = "+13125550100";

/// Reminder calls on for the tenant, an endpoint wanting every appointment event, and a
/// number that stopped texts.
const EXTRA: &str = "
    UPDATE tenants SET reminder_calls = '{\"hours_before\": [24]}' WHERE id = 1;
    INSERT INTO sms_opt_outs (number, messaging_profile_id, opted_out_at) VALUES ('+13125550197', '', 1);
    INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret, created_at)
    VALUES (1, 1, 'https://a.example/hook',
        '[\"appointment.booked\",\"appointment.rescheduled\",\"appointment.cancelled\"]', 'whsec_x', 1);
";

/// A booking of service 1 with `provider` at `start` for half an hour, by `phone`.
fn booking(provider: i64, start: i64, phone: &str, call: &str) -> NewAppointment {
    NewAppointment {
        tenant_id: 1,
        service_id: 1,
        provider_id: provider,
        customer_name: "Jane Doe".into(),
        customer_phone: Some(phone.into()),
        caller_number: Some(phone.into()),
        start,
        end: start + HALF_HOUR,
        blocked_until: start + HALF_HOUR,
        call_sid: Some(call.into()),
        hold_until: None,
        cap: None,
        texts: texts(phone, start),
    }
}

/// Books `booking(provider, start, phone, call)` without an answer.
async fn book(store: &Store, provider: i64, start: i64, phone: &str, call: &str) {
    let appt = booking(provider, start, phone, call);
    let booked = store.appointments().book(appt, None, NOW).await.unwrap();
    assert!(matches!(booked, BookOutcome::Booked(_)), "{booked:?}");
}

/// Half an hour with `provider` from `start`.
fn half_hour(provider: i64, start: i64) -> Move {
    Move {
        provider_id: provider,
        start,
        end: start + HALF_HOUR,
        blocked_until: start + HALF_HOUR,
    }
}

/// What each backend's story left behind is the same.
fn assert_alike(seen: &[Vec<Vec<String>>]) {
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:#?}");
}

/// The confirmation now and a reminder a day before `start`.
fn texts(phone: &str, start: i64) -> Vec<PlannedText> {
    [(Kind::Confirmation, NOW), (Kind::Reminder, start - 86_400)]
        .into_iter()
        .map(|(kind, due_at)| PlannedText {
            kind,
            due_at,
            to: phone.into(),
            from: LINE.into(),
            messaging_profile_id: None,
        })
        .collect()
}

fn answer(call: &str, step: &str, texml: &str, outcome: Option<Outcome>) -> Answer {
    Answer {
        outcome,
        said: format!("said {texml}"),
        ..Answer::bare(call, step, texml)
    }
}

fn notify() -> Notify {
    Notify {
        to: JANE.into(),
        from: LINE.into(),
        profile: None,
    }
}

/// The rows of `sql` (every column cast to TEXT in the query), each as its columns joined
/// with `|`, NULL as `-`, in the query's order.
async fn rows(store: &Store, sql: &'static str) -> Vec<String> {
    match store {
        Store::Sqlite(db) => db
            .run(move |c| {
                let mut stmt = c.prepare(sql)?;
                let n = stmt.column_count();
                let rows = stmt.query_map([], |r| {
                    (0..n)
                        .map(|i| Ok(r.get::<_, Option<String>>(i)?.unwrap_or("-".into())))
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map(|v| v.join("|"))
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
            .unwrap(),
        Store::Postgres(pg) => pg
            .run(async |c| {
                let rows = c.query(sql, &[]).await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| r.get::<_, Option<String>>(i).unwrap_or("-".into()))
                            .collect::<Vec<_>>()
                            .join("|")
                    })
                    .collect())
            })
            .await
            .unwrap(),
    }
}

/// What a booking's transaction leaves behind, ids and all, without the times the
/// database stamps itself.
async fn written(store: &Store) -> Vec<Vec<String>> {
    vec![
        rows(store, "SELECT CAST(id AS TEXT), CAST(provider_id AS TEXT), CAST(start_at AS TEXT), status, CAST(sequence AS TEXT), call_sid, caller_number, reminder_calls FROM appointments ORDER BY id").await,
        rows(store, "SELECT CAST(appointment_id AS TEXT), CAST(MIN(cell) AS TEXT), CAST(MAX(cell) AS TEXT), CAST(COUNT(*) AS TEXT) FROM appointment_cells GROUP BY appointment_id ORDER BY appointment_id").await,
        rows(store, "SELECT CAST(appointment_id AS TEXT), kind, to_number, status, CAST(due_at AS TEXT) FROM outbox ORDER BY appointment_id, kind, due_at, status").await,
        rows(store, "SELECT CAST(appointment_id AS TEXT), CAST(for_start AS TEXT), CAST(hours_before AS TEXT), CAST(attempt AS TEXT), status, outcome FROM reminder_calls ORDER BY id").await,
        rows(store, "SELECT type, CAST(appointment_id AS TEXT) FROM webhook_events ORDER BY id").await,
        rows(store, "SELECT call_sid, step, answer FROM callback_answers ORDER BY call_sid, step").await,
        rows(store, "SELECT call_sid, step, CAST(seq AS TEXT), said, outcome FROM call_turns ORDER BY call_sid, seq").await,
    ]
}

#[tokio::test]
async fn store_a_booking_writes_its_appointment_cells_texts_calls_event_and_answer_alike() {
    let stores = stores(EXTRA).await;
    let mut seen = Vec::new();
    for (backend, store, _, _) in &stores {
        let appointments = store.appointments();
        let booked = appointments
            .book(
                booking(1, START, JANE, "CA1"),
                Some(answer("CA1", "g1", "<Booked/>", Some(Outcome::Booked))),
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(booked, BookOutcome::Booked(1), "{backend}");
        // The same callback again gets the stored answer and books nothing more.
        let again = appointments
            .book(
                booking(2, START, JANE, "CA1"),
                Some(answer("CA1", "g1", "<Other/>", Some(Outcome::Booked))),
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(
            again,
            BookOutcome::AlreadyAnswered("<Booked/>".into()),
            "{backend}"
        );
        // A number that stopped texts is booked without any.
        let stopped = booking(2, START + 86_400, "+13125550197", "CA3");
        assert_eq!(
            appointments.book(stopped, None, NOW).await.unwrap(),
            BookOutcome::Booked(2),
            "{backend}"
        );
        // Another call for the same provider and time finds it taken (on
        // PostgreSQL its id is used up all the same: it is booked last here).
        let taken = appointments
            .book(booking(1, START + 600, "+13125550198", "CA2"), None, NOW)
            .await
            .unwrap();
        assert_eq!(taken, BookOutcome::Taken, "{backend}");
        let row = appointments.get(1, 1).await.unwrap();
        assert_eq!(
            (row.status.as_str(), row.provider.as_str(), row.start_at),
            ("booked", "Anna", START),
            "{backend}"
        );
        assert_eq!(appointments.refs(1, 1).await.unwrap(), (1, 1), "{backend}");
        let w = written(store).await;
        assert_eq!(w[1][0], "1|5989788|5989793|6", "{backend}: six cells");
        assert_eq!(
            w[2].len(),
            2,
            "{backend}: confirmation and reminder {:?}",
            w[2]
        );
        // Stopping texts does not stop calls: each booking has its reminder call.
        assert_eq!(w[3].len(), 2, "{backend}: {:?}", w[3]);
        assert_eq!(
            w[4],
            ["appointment.booked|1", "appointment.booked|2"],
            "{backend}"
        );
        seen.push(w);
    }
    assert_alike(&seen);
    done(stores).await;
}

#[tokio::test]
async fn store_sixteen_bookings_of_one_slot_at_once_from_two_nodes_make_one_booking_and_fifteen_taken()
 {
    let stores = stores("").await;
    for (backend, store, scratch, _) in &stores {
        let other = second_node(store, scratch).await;
        // Each asks for a slightly different stretch of Anna's afternoon that overlaps all
        // the others, from its own number and call.
        let bookings = (0..16).map(|i| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            async move {
                let phone = format!("+131255502{i:02}");
                let mut appt = booking(1, START + (i % 4) * 300, &phone, &format!("CA{i}"));
                appt.cap = Some(3);
                let said = answer(&format!("CA{i}"), "g1", "<Booked/>", None);
                node.appointments()
                    .book(appt, Some(said), NOW)
                    .await
                    .unwrap()
            }
        });
        let outcomes = futures_util::future::join_all(bookings).await;
        let booked = outcomes
            .iter()
            .filter(|o| matches!(o, BookOutcome::Booked(_)))
            .count();
        let taken = outcomes
            .iter()
            .filter(|o| **o == BookOutcome::Taken)
            .count();
        assert_eq!((booked, taken), (1, 15), "{backend}: {outcomes:?}");
        let intervals = store.appointments().booked_intervals(1).await.unwrap();
        assert_eq!(intervals.len(), 1, "{backend}");
        let cells = rows(
            store,
            "SELECT CAST(COUNT(*) AS TEXT) FROM appointment_cells",
        )
        .await;
        assert_eq!(cells, ["6"], "{backend}: only the winner's cells");
        let answers = rows(store, "SELECT CAST(COUNT(*) AS TEXT) FROM callback_answers").await;
        assert_eq!(answers, ["1"], "{backend}: only the winner's answer");
    }
    done(stores).await;
}

#[tokio::test]
async fn store_the_per_caller_cap_holds_for_bookings_from_one_number_at_once_even_from_two_nodes() {
    let stores = stores("").await;
    for (backend, store, scratch, _) in &stores {
        let other = second_node(store, scratch).await;
        // Eight free slots, one number, a cap of two: two book, six are over the cap.
        let bookings = (0..8).map(|i| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            async move {
                let mut appt = booking(1 + i % 2, START + i * 3_600, JANE, &format!("CA{i}"));
                appt.cap = Some(2);
                node.appointments().book(appt, None, NOW).await.unwrap()
            }
        });
        let outcomes = futures_util::future::join_all(bookings).await;
        let booked = outcomes
            .iter()
            .filter(|o| matches!(o, BookOutcome::Booked(_)))
            .count();
        let over = outcomes
            .iter()
            .filter(|o| **o == BookOutcome::OverCap(2))
            .count();
        assert_eq!((booked, over), (2, 6), "{backend}: {outcomes:?}");
        let (held, _) = store
            .appointments()
            .cap_and_busy(1, Some(JANE.into()), None, None, NOW)
            .await
            .unwrap();
        assert_eq!(held, Some(2), "{backend}");
    }
    done(stores).await;
}

#[tokio::test]
async fn store_a_hold_is_confirmed_declined_or_swept_and_texts_only_once_confirmed_alike() {
    let stores = stores(EXTRA).await;
    let mut seen = Vec::new();
    for (backend, store, _, _) in &stores {
        let appointments = store.appointments();
        let mut held = booking(1, START, JANE, "CA1");
        held.hold_until = Some(NOW + 120);
        let texts = std::mem::take(&mut held.texts);
        let answer_held = answer("CA1", "g1", "<Shall/>", Some(Outcome::Held));
        assert_eq!(
            appointments
                .book(held, Some(answer_held), NOW)
                .await
                .unwrap(),
            BookOutcome::Booked(1),
            "{backend}"
        );
        assert!(
            written(store).await[2].is_empty(),
            "{backend}: a hold texts nobody"
        );
        let row = appointments
            .held_for_call(1, "CA1".into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((row.id, row.status.as_str()), (1, "held"), "{backend}");
        // Confirmed (past its expiry: nobody booked over it), with its texts and event.
        let yes = answer("CA1", "c1", "<Booked/>", Some(Outcome::Booked));
        let confirmed = appointments
            .confirm_hold(yes.clone(), texts.clone(), NOW + 300)
            .await
            .unwrap();
        assert_eq!(confirmed, ConfirmOutcome::Confirmed(1), "{backend}");
        let again = appointments
            .confirm_hold(yes, texts.clone(), NOW + 301)
            .await
            .unwrap();
        assert_eq!(
            again,
            ConfirmOutcome::AlreadyAnswered("<Booked/>".into()),
            "{backend}"
        );
        assert!(
            appointments
                .held_for_call(1, "CA1".into())
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
        // A second call's hold is declined: released, with the answer stored once.
        let mut second = booking(2, START, "+13125550198", "CA2");
        second.hold_until = Some(NOW + 120);
        appointments.book(second, None, NOW).await.unwrap();
        let no = answer("CA2", "c1", "<NoProblem/>", None);
        assert_eq!(
            appointments.decline_hold(no.clone()).await.unwrap(),
            "<NoProblem/>"
        );
        let late = answer("CA2", "c1", "<Late/>", None);
        assert_eq!(
            appointments.decline_hold(late).await.unwrap(),
            "<NoProblem/>"
        );
        // A third hold lapses and is swept; a fourth, still live, is kept.
        for (call, until) in [("CA3", NOW + 10), ("CA4", NOW + 900)] {
            let mut hold = booking(2, START + 7_200 + (until - NOW) * 10, JANE, call);
            hold.hold_until = Some(until);
            appointments.book(hold, None, NOW).await.unwrap();
        }
        assert_eq!(
            appointments.sweep_expired_holds(NOW + 60).await.unwrap(),
            1,
            "{backend}"
        );
        let busy = appointments
            .busy(1, START - 86_400, START + 86_400, NOW + 60)
            .await
            .unwrap();
        assert_eq!(
            busy.len(),
            2,
            "{backend}: the booking and the live hold {busy:?}"
        );
        // SQLite gives a deleted hold's id to the next appointment, PostgreSQL's identity
        // never does: the holds' rows are compared without their ids.
        let mut w = written(store).await;
        for row in w[..2].iter_mut().flatten() {
            *row = row
                .split_once('|')
                .map_or_else(String::new, |(_, rest)| rest.into());
        }
        seen.push(w);
    }
    assert_alike(&seen);
    done(stores).await;
}

#[tokio::test]
async fn store_a_caller_moves_and_cancels_with_texts_replanned_and_events_queued_alike() {
    let stores = stores(EXTRA).await;
    let mut seen = Vec::new();
    for (backend, store, _, _) in &stores {
        let appointments = store.appointments();
        book(store, 1, START, JANE, "CA1").await;
        book(store, 2, START + 3_600, "+13125550198", "CA2").await;
        // Onto Bo's booked time: taken, nothing changes.
        let onto = half_hour(2, START + 3_600);
        let a = answer("CA9", "m1", "<Moved/>", Some(Outcome::Moved));
        let taken = appointments
            .move_for_call(1, 1, onto, None, Some(notify()), a.clone(), NOW)
            .await
            .unwrap();
        assert_eq!(taken, ChangeOutcome::Taken, "{backend}");
        assert_eq!(
            appointments.get(1, 1).await.unwrap().start_at,
            START,
            "{backend}"
        );
        // A day later with Bo: moved, reminders follow, a moved text, the event.
        let later = half_hour(2, START + 86_400);
        let moved = appointments
            .move_for_call(1, 1, later, None, Some(notify()), a.clone(), NOW)
            .await
            .unwrap();
        assert_eq!(moved, ChangeOutcome::Done, "{backend}");
        let again = appointments
            .move_for_call(1, 1, later, None, Some(notify()), a, NOW)
            .await
            .unwrap();
        assert_eq!(
            again,
            ChangeOutcome::AlreadyAnswered("<Moved/>".into()),
            "{backend}"
        );
        let upcoming = appointments.upcoming_of(1, JANE.into(), NOW).await.unwrap();
        assert_eq!(
            upcoming
                .iter()
                .map(|(r, s, p)| (r.start_at, *s, *p))
                .collect::<Vec<_>>(),
            [(START + 86_400, 1, 2)],
            "{backend}"
        );
        // Cancelled by the caller: its time freed, texts withdrawn, a cancellation text.
        let c = answer("CA9", "x1", "<Cancelled/>", Some(Outcome::Cancelled));
        let cancelled = appointments
            .cancel_for_call(1, 1, Some(notify()), c.clone(), NOW + 10)
            .await
            .unwrap();
        assert_eq!(cancelled, ChangeOutcome::Done, "{backend}");
        let c2 = answer("CA9", "x2", "<Cancelled/>", Some(Outcome::Cancelled));
        let twice = appointments
            .cancel_for_call(1, 1, Some(notify()), c2, NOW + 11)
            .await
            .unwrap();
        assert_eq!(twice, ChangeOutcome::NotBooked, "{backend}");
        assert!(
            appointments
                .upcoming_of(1, JANE.into(), NOW)
                .await
                .unwrap()
                .is_empty()
        );
        let w = written(store).await;
        assert_eq!(
            w[4],
            [
                "appointment.booked|1",
                "appointment.booked|2",
                "appointment.rescheduled|1",
                "appointment.cancelled|1"
            ],
            "{backend}"
        );
        seen.push(w);
    }
    assert_alike(&seen);
    done(stores).await;
}

#[tokio::test]
async fn store_an_operator_reschedules_and_cancels_with_the_customer_texted_alike() {
    let stores = stores(EXTRA).await;
    let mut seen = Vec::new();
    for (backend, store, _, _) in &stores {
        let appointments = store.appointments();
        book(store, 1, START, JANE, "CA1").await;
        book(store, 1, START + 3_600, "+13125550198", "CA2").await;
        let onto = half_hour(1, START + 3_000);
        assert!(
            !appointments
                .reschedule(1, 1, onto, None, Some(notify()), NOW)
                .await
                .unwrap(),
            "{backend}: overlaps the other booking"
        );
        let free = half_hour(1, START + 7_200);
        assert!(
            appointments
                .reschedule(1, 1, free, Some("prof".into()), Some(notify()), NOW)
                .await
                .unwrap(),
            "{backend}"
        );
        let row = appointments
            .cancel(1, 1, Some(notify()), NOW + 5)
            .await
            .unwrap();
        assert_eq!(row.status, "cancelled", "{backend}");
        let twice = appointments
            .cancel(1, 1, Some(notify()), NOW + 6)
            .await
            .unwrap();
        assert_eq!(twice.status, "cancelled", "{backend}");
        assert!(matches!(
            appointments.cancel(2, 1, None, NOW).await,
            Err(slotline::db::DbError::NotFound)
        ));
        assert!(matches!(
            appointments.reschedule(1, 1, free, None, None, NOW).await,
            Err(slotline::db::DbError::Conflict(_))
        ));
        seen.push(written(store).await);
    }
    assert_alike(&seen);
    done(stores).await;
}

#[tokio::test]
async fn store_the_agenda_lists_pages_and_counts_appointments_alike() {
    let stores = stores("").await;
    for (backend, store, _, _) in &stores {
        let appointments = store.appointments();
        for i in 0..5 {
            let phone = format!("+1312555030{i}");
            let appt = booking(1 + i % 2, START + i * 3_600, &phone, &format!("CA{i}"));
            appointments.book(appt, None, NOW).await.unwrap();
        }
        let mut lapsed = booking(1, START + 86_400, JANE, "CAH");
        lapsed.hold_until = Some(NOW - 1);
        appointments.book(lapsed, None, NOW - 100).await.unwrap();
        appointments.cancel(1, 2, None, NOW).await.unwrap();
        // Two at a time, in start order, past the cursor; the lapsed hold never shows.
        let mut q = ListQuery {
            limit: 2,
            ..ListQuery::default()
        };
        let mut ids = Vec::new();
        loop {
            let page = appointments.list(1, NOW, q.clone()).await.unwrap();
            let Some(last) = page.last() else { break };
            q.after = Some((last.start_at, last.id));
            ids.extend(page.iter().map(|r| r.id));
        }
        assert_eq!(ids, [1, 2, 3, 4, 5], "{backend}");
        let by_call = ListQuery {
            call_sid: Some("CA3".into()),
            from: Some(START),
            to: Some(START + 86_400),
            limit: 10,
            ..ListQuery::default()
        };
        let rows = appointments.list(1, NOW, by_call).await.unwrap();
        assert_eq!(
            rows.iter().map(|r| r.id).collect::<Vec<_>>(),
            [4],
            "{backend}"
        );
        let agenda = appointments
            .agenda(1, START, START + 2 * 86_400, NOW)
            .await
            .unwrap();
        assert_eq!(
            agenda
                .iter()
                .map(|a| (a.id, a.status.as_str(), a.reminded))
                .collect::<Vec<_>>(),
            [
                (1, "booked", false),
                (2, "cancelled", false),
                (3, "booked", false),
                (4, "booked", false),
                (5, "booked", false)
            ],
            "{backend}"
        );
        let counts = appointments
            .day_counts(vec![(1, START, START + 86_400), (2, START, START + 86_400)])
            .await
            .unwrap();
        let bookings: Vec<i64> = counts.iter().map(|c| c.bookings).collect();
        assert_eq!(bookings, [4, 0], "{backend}");
        assert_eq!(
            appointments.booked_intervals(1).await.unwrap().len(),
            5,
            "{backend}: four booked and the lapsed hold, until it is swept"
        );
    }
    done(stores).await;
}

#[tokio::test]
async fn store_a_reminder_calls_answers_and_final_status_are_recorded_once_alike() {
    let stores = stores(EXTRA).await;
    let mut seen = Vec::new();
    for (backend, store, _, _) in &stores {
        let appointments = store.appointments();
        book(store, 1, START, JANE, "CA1").await;
        let facts = appointments
            .reminder_call_facts(1, 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                facts.appointment_id,
                facts.hours_before,
                facts.attempt,
                facts.service.as_str()
            ),
            (1, 24, 1, "Cut"),
            "{backend}"
        );
        assert!(
            appointments
                .reminder_call_facts(2, 1)
                .await
                .unwrap()
                .is_none()
        );
        // The dialer's part, as the dialer would leave it.
        match store {
            Store::Sqlite(db) => db
                .write(|c| {
                    Ok(c.execute("UPDATE reminder_calls SET status = 'live' WHERE id = 1", [])?)
                })
                .await
                .map(drop)
                .unwrap(),
            Store::Postgres(pg) => pg
                .write(async |tx| {
                    Ok(tx
                        .execute(
                            "UPDATE reminder_calls SET status = 'live' WHERE id = 1",
                            &[],
                        )
                        .await?)
                })
                .await
                .map(drop)
                .unwrap(),
        }
        appointments
            .note_reminder_call(1, Some("CAR".into()), Some("human".into()), NOW + 1)
            .await
            .unwrap();
        appointments
            .set_reminder_outcome(1, "confirmed", NOW + 2)
            .await
            .unwrap();
        appointments
            .set_reminder_outcome(1, "cancelled", NOW + 3)
            .await
            .unwrap();
        let settled = appointments
            .settle_reminder_call(1, "completed".into(), None, Some(42), NOW + 4)
            .await
            .unwrap();
        assert_eq!(settled, Settled::Ended { retry: None }, "{backend}");
        let twice = appointments
            .settle_reminder_call(1, "completed".into(), None, Some(42), NOW + 5)
            .await
            .unwrap();
        assert_eq!(twice, Settled::Nothing, "{backend}");
        appointments
            .stop_reminder_calls(1, JANE.into(), NOW + 6)
            .await
            .unwrap();
        let row = appointments.get(1, 1).await.unwrap();
        assert_eq!(
            row.reminder_calls,
            serde_json::json!([{"attempt": 1, "hours_before": 24, "outcome": "confirmed", "at": NOW + 2}]),
            "{backend}"
        );
        let mut w = written(store).await;
        w.push(rows(store, "SELECT call_sid, answered_by, CAST(duration_seconds AS TEXT) FROM reminder_calls ORDER BY id").await);
        w.push(rows(store, "SELECT number FROM call_opt_outs").await);
        // The appointment's list of outcomes is compared as JSON above.
        w[0].clear();
        seen.push(w);
    }
    assert_alike(&seen);
    done(stores).await;
}

#[tokio::test]
async fn store_answers_are_remembered_once_and_read_back_alike() {
    let stores = stores("").await;
    for (backend, store, _, _) in &stores {
        let appointments = store.appointments();
        let first = answer("CA1", "g1", "<First/>", Some(Outcome::Question));
        let second = answer("CA1", "g1", "<Second/>", None);
        let both = futures_util::future::join(
            appointments.remember_answer(first),
            appointments.remember_answer(second),
        )
        .await;
        let (a, b) = (both.0.unwrap(), both.1.unwrap());
        assert_eq!(a, b, "{backend}: both answer with the one stored");
        assert_eq!(
            appointments
                .callback_answer("CA1".into(), "g1".into())
                .await
                .unwrap(),
            Some(a),
            "{backend}"
        );
        assert_eq!(
            appointments
                .callback_answer("CA1".into(), "g2".into())
                .await
                .unwrap(),
            None
        );
        let turns = rows(store, "SELECT step, CAST(seq AS TEXT) FROM call_turns").await;
        assert_eq!(turns, ["g1|1"], "{backend}");
    }
    done(stores).await;
}

#[tokio::test]
async fn store_bookings_racing_over_lapsed_holds_from_two_nodes_still_make_exactly_one_booking() {
    let stores = stores("").await;
    for (backend, store, scratch, _) in &stores {
        // Three holds on Anna's afternoon, made earlier and lapsed by NOW: each booking
        // deletes those in its way, so bookings of different stretches meet in them.
        for i in 0..3 {
            let mut hold = booking(1, START + i * HALF_HOUR, JANE, &format!("CH{i}"));
            hold.hold_until = Some(NOW - 1);
            let held = store
                .appointments()
                .book(hold, None, NOW - 600)
                .await
                .unwrap();
            assert!(matches!(held, BookOutcome::Booked(_)), "{backend}");
        }
        let other = second_node(store, scratch).await;
        let bookings = (0..16).map(|i| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            async move {
                let phone = format!("+131255504{i:02}");
                let mut appt = booking(1, START + (i % 3) * 900, &phone, &format!("CA{i}"));
                appt.blocked_until = appt.start + 2 * HALF_HOUR;
                node.appointments().book(appt, None, NOW).await.unwrap()
            }
        });
        let outcomes = futures_util::future::join_all(bookings).await;
        let booked = outcomes
            .iter()
            .filter(|o| matches!(o, BookOutcome::Booked(_)))
            .count();
        assert_eq!(booked, 1, "{backend}: {outcomes:?}");
        let live = store
            .appointments()
            .busy(1, START - 86_400, START + 86_400, NOW)
            .await
            .unwrap();
        assert_eq!(live.len(), 1, "{backend}: {live:?}");
    }
    done(stores).await;
}

#[tokio::test]
async fn store_two_operators_moving_two_appointments_into_one_free_time_from_two_nodes_move_one() {
    let stores = stores("").await;
    for (backend, store, scratch, _) in &stores {
        let appointments = store.appointments();
        for (i, phone) in [JANE, "+13125550198"].into_iter().enumerate() {
            let appt = booking(1, START + i as i64 * 3_600, phone, &format!("CA{i}"));
            appointments.book(appt, None, NOW).await.unwrap();
        }
        let other = second_node(store, scratch).await;
        let free = half_hour(2, START + 7_200);
        let (a, b) = futures_util::future::join(
            store.appointments().reschedule(1, 1, free, None, None, NOW),
            other.appointments().reschedule(1, 2, free, None, None, NOW),
        )
        .await;
        let mut moved = [a.unwrap(), b.unwrap()];
        moved.sort();
        assert_eq!(moved, [false, true], "{backend}");
        let on_bo = appointments
            .busy(1, START, START + 86_400, NOW)
            .await
            .unwrap();
        assert_eq!(
            on_bo.iter().filter(|(p, _, _)| *p == 2).count(),
            1,
            "{backend}: {on_bo:?}"
        );
    }
    done(stores).await;
}

#[tokio::test]
async fn store_postgres_a_transaction_broken_off_as_a_deadlock_runs_again_at_most_three_times() {
    let Some(scratch) = crate::postgres::Scratch::new().await else {
        return;
    };
    let pg = Pg::open(&scratch.url).await.unwrap();
    let runs = std::sync::atomic::AtomicU32::new(0);
    // Broken off twice, then through: the third run's write is the one that stays.
    let written = pg
        .write_retry(|| {
            async |tx| {
                let run = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                tx.batch_execute("CREATE TABLE IF NOT EXISTS t (run BIGINT)")
                    .await?;
                tx.execute("INSERT INTO t VALUES ($1)", &[&i64::from(run)])
                    .await?;
                if run < 3 {
                    tx.batch_execute(
                        "DO $$ BEGIN RAISE EXCEPTION 'broken off' USING ERRCODE = '40P01'; END $$",
                    )
                    .await?;
                }
                Ok(run)
            }
        })
        .await
        .unwrap();
    assert_eq!(written, 3);
    let rows: Vec<i64> = pg
        .run(async |c| {
            let rows = c.query("SELECT run FROM t", &[]).await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
        .await
        .unwrap();
    assert_eq!(rows, [3], "the broken-off runs wrote nothing");
    // One that never gets through is given up after three more runs, with its error.
    runs.store(0, std::sync::atomic::Ordering::SeqCst);
    let gave_up = pg
        .write_retry(|| {
            async |tx| {
                runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tx.batch_execute(
                    "DO $$ BEGIN RAISE EXCEPTION 'broken off' USING ERRCODE = '40001'; END $$",
                )
                .await?;
                Ok(())
            }
        })
        .await;
    assert!(
        matches!(&gave_up, Err(slotline::db::DbError::Postgres(e))
            if slotline::db::postgres::code(e) == Some("40001")),
        "{gave_up:?}"
    );
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 4);
    drop(pg);
    scratch.drop_database().await;
}

#[tokio::test]
async fn store_a_lapsed_hold_confirmed_while_another_node_books_over_it_goes_to_exactly_one() {
    let stores = stores("").await;
    for (backend, store, scratch, _) in &stores {
        let other = second_node(store, scratch).await;
        for round in 0..6 {
            let (start, call) = (START + round * 7_200, format!("CH{round}"));
            let mut hold = booking(1, start, JANE, &call);
            hold.hold_until = Some(NOW - 1);
            store
                .appointments()
                .book(hold, None, NOW - 600)
                .await
                .unwrap();
            let yes = answer(&call, "c1", "<Booked/>", Some(Outcome::Booked));
            let over = booking(1, start + 900, "+13125550198", &format!("CA{round}"));
            let (confirmed, booked) = futures_util::future::join(
                store.appointments().confirm_hold(yes, Vec::new(), NOW),
                other.appointments().book(over, None, NOW),
            )
            .await;
            let outcome = (confirmed.unwrap(), booked.unwrap());
            let one = matches!(
                &outcome,
                (ConfirmOutcome::Confirmed(_), BookOutcome::Taken)
                    | (ConfirmOutcome::Gone, BookOutcome::Booked(_))
            );
            assert!(one, "{backend}, round {round}: {outcome:?}");
        }
        let live = store.appointments().booked_intervals(1).await.unwrap();
        assert_eq!(live.len(), 6, "{backend}: one appointment a round {live:?}");
    }
    done(stores).await;
}

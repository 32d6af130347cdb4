//! Webhook events read alike on both backends (issue 16): each kind of event, queued
//! inside a transaction for the same rows, carries the same payload and is queued for
//! the same endpoints, whichever store wrote it.

use serde_json::Value;
use slotline::db::{postgres, store::Store, webhooks};

use crate::store::{done, stores};

/// An appointment (7) booked on call `CA1`, its confirmation sent as `msg-1`, the call
/// ended, a reminder call attempt about it, and three endpoints: two wanting every kind
/// asked here, one disabled.
const ROWS: &str = "
    INSERT INTO appointments (id, tenant_id, service_id, provider_id, customer_name, customer_phone,
        start_at, end_at, blocked_until, status, call_sid, created_at, reminder_calls)
    VALUES (7, 1, 1, 2, 'Jane Doe', '+13125550199', 1800000000, 1800001800, 1800001800,
        'booked', 'CA1', 100, '[]');
    INSERT INTO outbox (id, tenant_id, appointment_id, kind, to_number, from_number, due_at,
        status, telnyx_message_id, created_at, updated_at)
    VALUES (3, 1, 7, 'confirmation', '+13125550199', '+13125550100', 100, 'sent', 'msg-1', 100, 100);
    INSERT INTO calls (call_sid, tenant_id, from_number, to_number, status, started_at, ended_at, duration_seconds)
    VALUES ('CA1', 1, '+13125550199', '+13125550100', 'completed', 90, 150, 60),
           ('CA2', 1, '+13125550198', '+13125550100', 'completed', 95, 99, 4);
    INSERT INTO reminder_calls (id, tenant_id, appointment_id, for_start, hours_before, attempt,
        to_number, status, due_at, call_sid, outcome, duration_seconds, created_at, updated_at)
    VALUES (5, 1, 7, 1800000000, 24, 2, '+13125550199', 'done', 200, 'CA9', 'confirmed', 31, 100, 100);
    INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret, created_at, disabled_at)
    VALUES (1, 1, 'https://a.example/hook', '[\"appointment.booked\",\"message.delivered\",\"call.completed\"]', 'whsec_x', 1, NULL),
           (2, 1, 'https://b.example/hook', '[\"call.completed\",\"appointment.booked\",\"message.delivered\"]', 'whsec_y', 1, NULL),
           (3, 1, 'https://c.example/hook', '[\"appointment.booked\",\"message.delivered\",\"call.completed\"]', 'whsec_z', 1, 5),
           (4, 2, 'https://d.example/hook', '[\"appointment.booked\",\"message.delivered\",\"call.completed\"]', 'whsec_w', 1, NULL);
";

/// Which event to queue.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Appointment,
    Message,
    Call,
    CallWithoutBooking,
    ReminderCall,
    NotWanted,
}

const NOW: i64 = 1_790_000_000;

async fn queue(store: &Store, kind: Kind) -> usize {
    match store {
        Store::Sqlite(db) => db
            .write(move |c| match kind {
                Kind::Appointment => webhooks::appointment_event(c, 1, 7, "booked", NOW),
                Kind::Message => webhooks::message_event(c, "msg-1", "delivered", None, NOW),
                Kind::Call => webhooks::call_event(c, "CA1", NOW),
                Kind::CallWithoutBooking => webhooks::call_event(c, "CA2", NOW),
                Kind::ReminderCall => webhooks::reminder_call_event(c, 5, NOW),
                Kind::NotWanted => webhooks::appointment_event(c, 1, 7, "cancelled", NOW),
            })
            .await
            .unwrap(),
        Store::Postgres(pg) => pg
            .write(async move |tx| match kind {
                Kind::Appointment => {
                    postgres::events::appointment_event(tx, 1, 7, "booked", NOW).await
                }
                Kind::Message => {
                    postgres::events::message_event(tx, "msg-1", "delivered", None, NOW).await
                }
                Kind::Call => postgres::events::call_event(tx, "CA1", NOW).await,
                Kind::CallWithoutBooking => postgres::events::call_event(tx, "CA2", NOW).await,
                Kind::ReminderCall => postgres::events::reminder_call_event(tx, 5, NOW).await,
                Kind::NotWanted => {
                    postgres::events::appointment_event(tx, 1, 7, "cancelled", NOW).await
                }
            })
            .await
            .unwrap(),
    }
}

/// Every queued event's payload with its random id taken out, oldest first, and the
/// endpoints each was queued for.
async fn queued(store: &Store) -> Vec<(Value, Vec<i64>)> {
    let rows: Vec<(String, String)> = match store {
        Store::Sqlite(db) => db
            .run(|c| {
                let mut stmt = c.prepare(
                    "SELECT e.payload, (SELECT group_concat(endpoint_id) FROM
                         (SELECT endpoint_id FROM webhook_deliveries d WHERE d.event_id = e.id ORDER BY endpoint_id))
                     FROM webhook_events e ORDER BY e.id",
                )?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await
            .unwrap(),
        Store::Postgres(pg) => pg
            .run(async |c| {
                Ok(c.query(
                    "SELECT e.payload, (SELECT string_agg(endpoint_id::text, ',' ORDER BY endpoint_id)
                         FROM webhook_deliveries d WHERE d.event_id = e.id)
                     FROM webhook_events e ORDER BY e.id",
                    &[],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
            })
            .await
            .unwrap(),
    };
    rows.into_iter()
        .map(|(payload, endpoints)| {
            let mut payload: Value = serde_json::from_str(&payload).unwrap();
            let id = payload["id"].take();
            assert!(id.as_str().unwrap().starts_with("evt_"), "{id}");
            let endpoints = endpoints.split(',').map(|e| e.parse().unwrap()).collect();
            (payload, endpoints)
        })
        .collect()
}

#[tokio::test]
async fn store_every_kind_of_webhook_event_carries_the_same_payload_to_the_same_endpoints_alike() {
    let stores = stores(ROWS).await;
    let kinds = [
        Kind::Appointment,
        Kind::Message,
        Kind::Call,
        Kind::CallWithoutBooking,
        Kind::ReminderCall,
        Kind::NotWanted,
    ];
    let mut seen = Vec::new();
    for (backend, store, _, _) in &stores {
        let counts: Vec<usize> = {
            let mut counts = Vec::new();
            for kind in kinds {
                counts.push(queue(store, kind).await);
            }
            counts
        };
        assert_eq!(
            counts,
            [2, 2, 2, 2, 2, 0],
            "{backend}: two live endpoints want each kind but appointment.cancelled"
        );
        let events = queued(store).await;
        assert_eq!(events.len(), 5, "{backend}");
        for (payload, endpoints) in &events {
            assert_eq!(endpoints, &[1, 2], "{backend}: {payload}");
            assert_eq!(payload["tenant"], "acme", "{backend}");
        }
        let call = &events[2].0["data"];
        assert_eq!(call["outcome"], "booked", "{backend}");
        assert_eq!(call["appointment"]["id"], 7, "{backend}");
        assert_eq!(call["appointment"]["provider"], "Bo", "{backend}");
        assert_eq!(events[3].0["data"]["outcome"], "no_booking", "{backend}");
        assert_eq!(events[4].0["data"]["call"]["attempt"], 2, "{backend}");
        assert_eq!(
            events[1].0["data"]["message"]["kind"], "confirmation",
            "{backend}"
        );
        seen.push((backend, events));
    }
    if let [(_, sqlite), (_, postgres)] = &seen[..] {
        assert_eq!(sqlite, postgres, "both backends queue the same events");
    }
    done(stores).await;
}

//! Inbound texts behind the store (issue 16): a `C` reply cancels the customer's next
//! appointment and queues the cancellation text, STOP and START change the opt-out, an
//! event handled before changes nothing, and a delivery webhook moves its text forward,
//! alike on SQLite and on PostgreSQL.

use slotline::{
    db::{
        messaging::{Event, Inbound, Received, ReplyPlan},
        store::Store,
        tenants::Tenant,
    },
    domain::PhoneNumber,
};

use crate::store::{column, done, stores};

const CUSTOMER: &str = "+13125550199";
const NOW: i64 = 1_790_000_000;

/// Two booked appointments of the customer to come (the sooner is 8), and a confirmation
/// of it sent as `msg-8`.
const ROWS: &str = "
    INSERT INTO appointments (id, tenant_id, service_id, provider_id, customer_name, customer_phone,
        start_at, end_at, blocked_until, status, created_at)
    VALUES (8, 1, 1, 1, 'Jane', '+13125550199', 1800000000, 1800001800, 1800001800, 'booked', 1),
           (9, 1, 1, 2, 'Jane', '+13125550199', 1800090000, 1800091800, 1800091800, 'booked', 1);
    INSERT INTO outbox (id, tenant_id, appointment_id, kind, to_number, from_number, due_at,
        status, telnyx_message_id, created_at, updated_at)
    VALUES (1, 1, 8, 'confirmation', '+13125550199', '+13125550100', 100, 'sent', 'msg-8', 100, 100);
";

fn text(words_cancel: bool, keyword: Option<&str>) -> Option<Inbound> {
    Some(Inbound {
        line: PhoneNumber::parse("+13125550100").unwrap(),
        customer: CUSTOMER.into(),
        keyword: keyword.map(str::to_owned),
        wants_cancel: words_cancel,
        profile: None,
    })
}

fn plan(t: &Tenant) -> ReplyPlan {
    ReplyPlan {
        from: t.spec.phone_number.as_str().to_owned(),
        profile: None,
        no_booking: format!("{} has no booking for you", t.spec.name),
    }
}

async fn received(store: &Store, id: &str, text: Option<Inbound>) -> Received {
    store
        .messaging()
        .received(id.into(), "message.received".into(), text, NOW, plan)
        .await
        .unwrap()
}

/// Appointment statuses by id, and the queued texts as `kind:appointment`.
async fn state(store: &Store) -> (Vec<String>, Vec<String>) {
    let q1 = "SELECT id || ':' || status FROM appointments ORDER BY id";
    let q2 = "SELECT kind || ':' || COALESCE(CAST(appointment_id AS TEXT), '-') || ':' || status
              FROM outbox WHERE id > 1 ORDER BY id";
    (column(store, q1).await, column(store, q2).await)
}

#[tokio::test]
async fn store_a_c_reply_stop_start_and_a_delivery_status_are_handled_once_alike() {
    let stores = stores(ROWS).await;
    let mut seen = Vec::new();
    for (backend, store, _, _) in &stores {
        assert_eq!(
            received(store, "e1", text(true, None)).await,
            Received::Cancelled(8),
            "{backend}"
        );
        assert_eq!(
            received(store, "e1", text(true, None)).await,
            Received::Duplicate,
            "{backend}"
        );
        assert_eq!(
            received(store, "e2", text(true, None)).await,
            Received::Cancelled(9),
            "{backend}"
        );
        assert_eq!(
            received(store, "e3", text(true, None)).await,
            Received::NoBooking,
            "{backend}"
        );
        assert_eq!(
            received(store, "e4", None).await,
            Received::Ignored,
            "{backend}: no line"
        );
        assert_eq!(
            received(store, "e5", text(false, Some("STOP"))).await,
            Received::OptedOut,
            "{backend}"
        );
        let messaging = store.messaging();
        assert!(messaging.is_opted_out(CUSTOMER.into(), None).await.unwrap());
        assert_eq!(
            received(store, "e6", text(false, Some("START"))).await,
            Received::OptedIn,
            "{backend}"
        );
        assert!(!messaging.is_opted_out(CUSTOMER.into(), None).await.unwrap());

        let delivered = |id: &str| Event {
            id: id.into(),
            kind: "message.finalized".into(),
            message_id: Some("msg-8".into()),
            status: Some("delivered".into()),
            detail: None,
        };
        assert_eq!(
            messaging
                .delivery(delivered("d1"), None, NOW)
                .await
                .unwrap(),
            Some(true)
        );
        assert_eq!(
            messaging
                .delivery(delivered("d1"), None, NOW)
                .await
                .unwrap(),
            None,
            "{backend}: handled before"
        );
        assert_eq!(
            messaging
                .delivery(delivered("d2"), None, NOW)
                .await
                .unwrap(),
            Some(false),
            "{backend}: nothing left to move"
        );
        let (appointments, texts) = state(store).await;
        assert_eq!(appointments, ["8:cancelled", "9:cancelled"], "{backend}");
        assert_eq!(
            texts,
            [
                "cancelled:8:skipped",
                "cancelled:9:skipped",
                "reply:-:skipped"
            ],
            "{backend}: STOP skipped what was still queued to the number"
        );
        seen.push((appointments, texts));
    }
    if let [sqlite, postgres] = &seen[..] {
        assert_eq!(sqlite, postgres);
    }
    done(stores).await;
}

//! Tenant storage: where replies are routed.

use super::*;
use crate::db::{Db, appointments, outbox};

const CUSTOMER: &str = "+13125550199";
const NOW: i64 = 1_795_186_800; // 2026-11-20T15:00:00Z

fn spec(slug: &str, line: &str, sms_from: &str) -> TenantSpec {
    let mut json: serde_json::Value =
        serde_json::from_str(include_str!("../../../../data/demo-tenant.json")).unwrap();
    json["slug"] = slug.into();
    json["phone_number"] = line.into();
    json["sms_from"] = sms_from.into();
    TenantSpec::from_json(&json).unwrap()
}

fn replying(db: &Db, number: &str) -> Option<String> {
    let number = PhoneNumber::parse(number).unwrap();
    db.run_blocking(|c| for_reply(c, &number, CUSTOMER, NOW))
        .unwrap()
        .map(|t| t.spec.slug)
}

#[test]
fn a_reply_goes_to_who_texted_last_else_to_who_has_a_booking_else_to_the_lines_owner() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("t.db")).unwrap();
    let line = "+13125550100";
    let (a, b) = db
        .run_blocking(|c| {
            Ok((
                insert(c, &spec("a", line, line))?,
                insert(c, &spec("b", "+13125550140", line))?,
            ))
        })
        .unwrap();
    assert_eq!(
        replying(&db, line).as_deref(),
        Some("a"),
        "the line's owner"
    );
    assert_eq!(replying(&db, "+13125550140").as_deref(), Some("b"));
    assert_eq!(replying(&db, "+13125550170"), None);

    let start = NOW + 3 * 86_400;
    db.run_blocking(|c| {
        let appt = appointments::NewAppointment {
            tenant_id: b.id,
            service_id: b.service_ids[0],
            provider_id: b.provider_ids[0],
            customer_name: "Maria".into(),
            customer_phone: Some(CUSTOMER.into()),
            caller_number: None,
            start,
            end: start + 2700,
            blocked_until: start + 2700,
            call_sid: None,
            hold_until: None,
            cap: None,
            texts: Vec::new(),
        };
        appointments::book(c, &appt, None, NOW).map(drop)
    })
    .unwrap();
    assert_eq!(
        replying(&db, line).as_deref(),
        Some("b"),
        "the one with a booking"
    );

    db.run_blocking(|c| {
        let sms = crate::sms::Kind::Reply;
        assert!(outbox::queue_one(
            c,
            a.id,
            None,
            sms,
            CUSTOMER,
            line,
            None,
            Some("hi"),
            NOW
        )?);
        assert_eq!(
            replying(&db, line).as_deref(),
            Some("b"),
            "a queued text is not sent yet"
        );
        c.execute(
            "UPDATE outbox SET status = 'sent' WHERE tenant_id = ?1",
            [a.id],
        )?;
        Ok(())
    })
    .unwrap();
    assert_eq!(
        replying(&db, line).as_deref(),
        Some("a"),
        "the one that texted"
    );
}

//! The call log on both backends (issue 16, docs/storage.md): batched starts meeting the
//! marks that came before them, status callbacks from several nodes, and the stats
//! endpoint's figures, each story on SQLite and on PostgreSQL.

use slotline::{
    calllog::CallStart,
    db::{calls::StatusUpdate, store::Store},
};

use crate::postgres::Scratch;
use crate::store::{done, second_node, stores};

/// A call's row: sid, tenant, started, gathered, offered, first said, caller, status,
/// ended.
type CallRow = (
    String,
    Option<i64>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
    Option<i64>,
);

const ROW: &str = "SELECT call_sid, tenant_id, started_at, gathered_at, offered_at, first_said,
    from_number, status, ended_at FROM calls ORDER BY call_sid";

async fn calls(store: &Store, scratch: &Option<Scratch>) -> Vec<CallRow> {
    match (store, scratch) {
        (Store::Sqlite(db), _) => db
            .run_blocking(|c| {
                let mut stmt = c.prepare(ROW)?;
                let rows = stmt.query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                    ))
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .unwrap(),
        (Store::Postgres(_), Some(s)) => s
            .client()
            .await
            .query(ROW, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                    r.get(7),
                    r.get(8),
                )
            })
            .collect(),
        _ => unreachable!(),
    }
}

/// How many `call.completed` events were queued.
async fn completed_events(store: &Store, scratch: &Option<Scratch>) -> i64 {
    let sql = "SELECT COUNT(*) FROM webhook_events WHERE type = 'call.completed'";
    match (store, scratch) {
        (Store::Sqlite(db), _) => db
            .run_blocking(|c| Ok(c.query_row(sql, [], |r| r.get(0))?))
            .unwrap(),
        (Store::Postgres(_), Some(s)) => s.client().await.query_one(sql, &[]).await.unwrap().get(0),
        _ => unreachable!(),
    }
}

fn start(sid: &str, from: &str, at: i64) -> CallStart {
    CallStart {
        call_sid: sid.into(),
        tenant_id: 1,
        from: Some(from.into()),
        to: Some("+13125550100".into()),
        at,
        said: "Hello.".into(),
        documents: None,
    }
}

#[tokio::test]
async fn store_a_batch_of_starts_fills_in_the_marks_that_came_first_and_a_second_start_changes_nothing_alike()
 {
    // v3:b was gathered (its answer is in) and offered alternatives before its start was
    // written; v3:c heard the apology first; v3:d was ended by a status callback that
    // found its tenant by number.
    let stores = stores(
        "INSERT INTO callback_answers (call_sid, step, answer, created_at)
         VALUES ('v3:b', 'g1', '<Response/>', 105);",
    )
    .await;
    for (backend, store, scratch, _) in &stores {
        let log = store.calls();
        log.mark_offered("v3:b".into(), 106).await.unwrap();
        log.mark_offered("v3:b".into(), 107).await.unwrap();
        log.record_error("v3:c".into(), "Sorry.".into(), 99)
            .await
            .unwrap();
        let ended = StatusUpdate {
            call_sid: "v3:d".into(),
            status: "completed".into(),
            duration_seconds: Some(30),
            to: Some("+13125550100".into()),
            ..StatusUpdate::default()
        };
        log.record_status(ended, 98).await.unwrap();
        log.record_starts(vec![
            start("v3:a", "+13125550199", 100),
            start("v3:b", "+13125550198", 100),
            start("v3:a", "+10000000000", 90),
            start("v3:c", "+13125550197", 100),
            start("v3:d", "+13125550196", 90),
        ])
        .await
        .unwrap();
        log.record_starts(vec![start("v3:b", "+10000000000", 50)])
            .await
            .unwrap();
        let said = Some("Hello.".to_string());
        assert_eq!(
            calls(store, scratch).await,
            [
                (
                    "v3:a".into(),
                    Some(1),
                    100,
                    None,
                    None,
                    said.clone(),
                    Some("+13125550199".into()),
                    "in-progress".into(),
                    None
                ),
                (
                    "v3:b".into(),
                    Some(1),
                    100,
                    Some(105),
                    Some(106),
                    said.clone(),
                    Some("+13125550198".into()),
                    "in-progress".into(),
                    None
                ),
                (
                    "v3:c".into(),
                    Some(1),
                    99,
                    None,
                    None,
                    said,
                    Some("+13125550197".into()),
                    "in-progress".into(),
                    None
                ),
                (
                    "v3:d".into(),
                    Some(1),
                    98,
                    None,
                    None,
                    None,
                    None,
                    "completed".into(),
                    Some(98)
                ),
            ],
            "{backend}"
        );
        assert_eq!(
            log.stats(1, 0, 1_000).await.unwrap().total_calls,
            4,
            "{backend}"
        );
        log.record_starts(Vec::new()).await.unwrap();
    }
    done(stores).await;
}

#[tokio::test]
async fn store_a_calls_end_reported_to_two_nodes_at_once_queues_call_completed_once_and_never_reopens()
 {
    let stores = stores(
        "INSERT INTO webhook_endpoints (tenant_id, url, events, secret, created_at)
         VALUES (1, 'https://hooks.example.com/a', '[\"call.completed\"]', 'whsec_c2VjcmV0', 0);",
    )
    .await;
    for (backend, store, scratch, _) in &stores {
        let other = second_node(store, scratch).await;
        store
            .calls()
            .record_starts(vec![start("v3:end", "+13125550199", 100)])
            .await
            .unwrap();
        let update = |status: &str, duration: Option<i64>| StatusUpdate {
            call_sid: "v3:end".into(),
            status: status.into(),
            duration_seconds: duration,
            direction: Some("inbound".into()),
            ..StatusUpdate::default()
        };
        // Telnyx retries the final callback; the retries land on both nodes at once.
        let ends = (0..8).map(|i| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            let u = update("completed", Some(42));
            async move { node.calls().record_status(u, 200).await.unwrap() }
        });
        futures_util::future::join_all(ends).await;
        assert_eq!(completed_events(store, scratch).await, 1, "{backend}");
        // A late `ringing` does not reopen it; a late `completed` changes nothing.
        other
            .calls()
            .record_status(update("ringing", None), 201)
            .await
            .unwrap();
        store
            .calls()
            .record_status(update("completed", None), 202)
            .await
            .unwrap();
        let row = calls(store, scratch).await.remove(0);
        assert_eq!(
            (row.7.as_str(), row.8),
            ("completed", Some(200)),
            "{backend}"
        );
        assert_eq!(completed_events(store, scratch).await, 1, "{backend}");
        let s = store.calls().stats(1, 0, 1_000).await.unwrap();
        assert_eq!(
            (s.total_calls, s.avg_duration_seconds),
            (1, Some(42.0)),
            "{backend}"
        );

        // The first word of a call never seen at the voice URL: its tenant by number.
        let first = StatusUpdate {
            call_sid: "v3:out".into(),
            status: "initiated".into(),
            direction: Some("outbound-api".into()),
            to: Some("+13125550101".into()),
            ..StatusUpdate::default()
        };
        other.calls().record_status(first, 300).await.unwrap();
        let row = calls(store, scratch).await.remove(1);
        assert_eq!(
            (row.0.as_str(), row.1, row.8),
            ("v3:out", Some(2), None),
            "{backend}"
        );
    }
    done(stores).await;
}

#[tokio::test]
async fn store_the_stats_count_live_calls_pruned_days_and_bookings_alike() {
    // Live calls at 1,000..: three inbound (30 s, 60 s, none) and one outbound; days 0
    // and 1 pruned into counts (5 calls, 4 timed, 200 s); two bookings in the period, one
    // by phone and since cancelled, and one before it.
    let stores = stores(
        "INSERT INTO calls (call_sid, tenant_id, direction, status, started_at, duration_seconds)
         VALUES ('v3:1', 1, 'inbound', 'completed', 86400, 30),
                ('v3:2', 1, 'inbound', 'completed', 86500, 60),
                ('v3:3', 1, 'inbound', 'in-progress', 87400, NULL),
                ('v3:4', 1, 'outbound-api', 'completed', 87500, NULL),
                ('v3:5', 2, 'inbound', 'completed', 86400, 10);
         INSERT INTO call_days (tenant_id, day, calls, inbound, outbound, duration_sum,
             duration_count, gathered, offered)
         VALUES (1, 0, 5, 4, 1, 200, 4, 0, 0);
         INSERT INTO appointments (id, tenant_id, service_id, provider_id, customer_name,
             customer_phone, start_at, end_at, blocked_until, status, call_sid, created_at, updated_at)
         VALUES (1, 1, 1, 1, 'A', NULL, 200000, 201800, 201800, 'booked', NULL, 86400, 86400),
                (2, 1, 1, 2, 'B', NULL, 200000, 201800, 201800, 'cancelled', 'v3:1', 86400, 86400),
                (3, 1, 1, 1, 'C', NULL, 300000, 301800, 301800, 'booked', NULL, 10, 10);",
    )
    .await;
    for (backend, store, _, _) in &stores {
        let s = store.calls().stats(1, 86400, 90000).await.unwrap();
        assert_eq!(
            (s.total_calls, s.inbound, s.outbound, s.avg_duration_seconds),
            (4, 3, 1, Some(45.0)),
            "{backend}: live calls only"
        );
        let mut quarters = s.calls_per_quarter.clone();
        quarters.sort_unstable();
        assert_eq!(quarters, [(86400, 2), (87300, 2)], "{backend}");
        assert_eq!(
            (s.bookings, s.bookings_by_phone, s.cancelled),
            (2, 1, 1),
            "{backend}"
        );
        let all = store.calls().stats(1, 0, 90000).await.unwrap();
        assert_eq!(
            (
                all.total_calls,
                all.inbound,
                all.outbound,
                all.avg_duration_seconds
            ),
            (9, 7, 2, Some(290.0 / 6.0)),
            "{backend}: with the pruned days"
        );
        assert_eq!(all.bookings, 3, "{backend}");
    }
    done(stores).await;
}

/// Three inbound calls of tenant 1 (two in one second, one with turns that booked), one
/// outbound call, one of tenant 2; reminder calls of tenant 1 dialled at 150 and 300 and
/// one never dialled (due at 250); a saved document version.
const CALL_LIST: &str = "
    INSERT INTO calls (call_sid, tenant_id, from_number, direction, status, started_at,
        duration_seconds, first_said)
    VALUES ('v3:in-1', 1, '+13125550191', 'inbound', 'completed', 100, 20, 'Hello.'),
           ('v3:in-2', 1, '+13125550192', 'inbound', 'completed', 200, NULL, 'Hello.'),
           ('v3:in-3', 1, '+13125550193', 'inbound', 'in-progress', 200, NULL, NULL),
           ('v3:out', 1, '+13125550194', 'outbound-api', 'completed', 210, 5, NULL),
           ('v3:other', 2, '+13125550195', 'inbound', 'completed', 220, 5, NULL);
    INSERT INTO call_turns (call_sid, step, seq, at, heard, said, outcome, documents)
    VALUES ('v3:in-1', 'g1', 1, 101, 'a haircut', 'Tuesday at ten?', 'held', NULL),
           ('v3:in-1', 'c2', 2, 102, 'yes', 'Booked.', 'booked', 'menu:file:00ff');
    INSERT INTO appointments (id, tenant_id, service_id, provider_id, customer_name,
        customer_phone, start_at, end_at, blocked_until, status, created_at, updated_at)
    VALUES (1, 1, 1, 1, 'Maria', '+13125550199', 200000, 201800, 201800, 'booked', 0, 0);
    INSERT INTO reminder_calls (id, tenant_id, appointment_id, for_start, hours_before, attempt,
        to_number, status, due_at, dialed_at, outcome, created_at, updated_at)
    VALUES (1, 1, 1, 200000, 24, 1, '+13125550199', 'done', 140, 150, 'confirmed', 0, 0),
           (2, 1, 1, 200000, 2, 1, '+13125550199', 'done', 290, 300, 'voicemail', 0, 0),
           (3, 1, 1, 200000, 1, 1, '+13125550199', 'queued', 250, NULL, NULL, 0, 0);
    INSERT INTO texml_versions (id, tenant_id, name, body, saved_at, saved_by)
    VALUES (7, 1, 'menu', '<Response/>', 0, 'admin');
";

#[tokio::test]
async fn store_the_call_list_interleaves_reminder_calls_and_inbound_calls_newest_first_page_by_page_alike()
 {
    let stores = stores(CALL_LIST).await;
    for (backend, store, _, _) in &stores {
        let dialer = store.reminder_calls();
        let all = dialer.list(1, None, 100).await.unwrap();
        let seen: Vec<(&str, i64, Option<&str>)> = all
            .iter()
            .map(|r| (r.direction, r.at, r.outcome.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("outbound", 300, Some("voicemail")),
                ("outbound", 250, None),
                ("inbound", 200, None),
                ("inbound", 200, None),
                ("outbound", 150, Some("confirmed")),
                ("inbound", 100, Some("booked")),
            ],
            "{backend}"
        );
        // Pages of two, each after the last one's cursor, give the same rows once each.
        let mut paged = Vec::new();
        let mut before = None;
        loop {
            let page = dialer.list(1, before, 2).await.unwrap();
            let Some(last) = page.last() else { break };
            before = Some((last.at, last.key));
            paged.extend(page);
        }
        let keys = |rows: &[slotline::db::reminder_calls::CallRow]| -> Vec<(i64, i64)> {
            rows.iter().map(|r| (r.at, r.key)).collect()
        };
        assert_eq!(keys(&paged), keys(&all), "{backend}");
        assert!(
            dialer.list(2, None, 100).await.unwrap().len() == 1,
            "{backend}"
        );

        let latest = dialer.latest(1, 2).await.unwrap();
        assert_eq!(
            latest.iter().map(|r| (r.at, r.attempt)).collect::<Vec<_>>(),
            [(300, Some(1)), (250, Some(1))],
            "{backend}"
        );
        let counts = dialer.counts(1, 0, 1_000).await.unwrap();
        assert_eq!(counts.dialled, 2, "{backend}");
        assert_eq!(
            counts.outcomes.into_iter().collect::<Vec<_>>(),
            [("confirmed".to_string(), 1), ("voicemail".to_string(), 1)],
            "{backend}"
        );
    }
    done(stores).await;
}

#[tokio::test]
async fn store_the_consoles_latest_calls_come_with_their_turns_outcome_and_document_versions_alike()
{
    let stores = stores(CALL_LIST).await;
    for (backend, store, _, _) in &stores {
        let log = store.calls();
        let calls = log.latest(1, 10).await.unwrap();
        let sids: Vec<&str> = calls.iter().map(|c| c.call_sid.as_str()).collect();
        assert_eq!(sids.len(), 3, "{backend}: inbound only, this tenant's");
        assert_eq!(sids[2], "v3:in-1", "{backend}: oldest last");
        let first = &calls[2];
        assert_eq!(
            (
                first.outcome.as_deref(),
                first.first_said.as_deref(),
                first.duration_seconds
            ),
            (Some("booked"), Some("Hello."), Some(20)),
            "{backend}"
        );
        assert_eq!(
            first
                .turns
                .iter()
                .map(|t| (
                    t.heard.as_str(),
                    t.outcome.as_deref(),
                    t.documents.as_deref()
                ))
                .collect::<Vec<_>>(),
            [
                ("a haircut", Some("held"), None),
                ("yes", Some("booked"), Some("menu:file:00ff")),
            ],
            "{backend}"
        );
        assert!(calls[0].turns.is_empty(), "{backend}");
        assert_eq!(log.latest(1, 1).await.unwrap().len(), 1, "{backend}");
        let saved = log.version_fingerprints(1).await.unwrap();
        assert_eq!(
            saved
                .iter()
                .map(|(_, name, id)| (name.as_str(), *id))
                .collect::<Vec<_>>(),
            [("menu", 7)],
            "{backend}"
        );
        assert!(
            log.version_fingerprints(2).await.unwrap().is_empty(),
            "{backend}"
        );
    }
    done(stores).await;
}

/// Inbound calls of tenant 1 in one second, written in the byte order of their sids, which
/// a locale orders otherwise ('_' before '-', and case second): `a-b`, `aB`, `a_B`, `ab`.
const ONE_SECOND: &str = "
    INSERT INTO calls (call_sid, tenant_id, from_number, direction, status, started_at)
    VALUES ('v3:a-b', 1, '+13125550191', 'inbound', 'completed', 500),
           ('v3:aB', 1, '+13125550192', 'inbound', 'completed', 500),
           ('v3:a_B', 1, '+13125550193', 'inbound', 'completed', 500),
           ('v3:ab', 1, '+13125550194', 'inbound', 'completed', 500);
";

#[tokio::test]
async fn store_the_consoles_calls_of_one_second_come_in_the_same_order_whatever_the_databases_locale()
 {
    let stores = stores(ONE_SECOND).await;
    for (backend, store, scratch, _) in &stores {
        if let Some(s) = scratch {
            // As in a database created with an English locale: the column's collation
            // orders `v3:a_B` before `v3:a-b` and `v3:ab` before `v3:aB`.
            let client = s.client().await;
            client
                .batch_execute(
                    "ALTER TABLE call_turns ALTER COLUMN call_sid TYPE TEXT COLLATE \"en-x-icu\";
                     ALTER TABLE calls ALTER COLUMN call_sid TYPE TEXT COLLATE \"en-x-icu\";",
                )
                .await
                .unwrap();
            let locale: Vec<String> = client
                .query("SELECT call_sid FROM calls ORDER BY call_sid DESC", &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert_ne!(locale, ["v3:ab", "v3:a_B", "v3:aB", "v3:a-b"], "{backend}");
        }
        // Newest first, then later-written first on SQLite and the greater sid in bytes
        // first on PostgreSQL: here the same.
        let sids: Vec<String> = store
            .calls()
            .latest(1, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.call_sid)
            .collect();
        assert_eq!(sids, ["v3:ab", "v3:a_B", "v3:aB", "v3:a-b"], "{backend}");
        // The tenant's call list, a call a page: each of the second's calls once (its
        // key on PostgreSQL is made of the sid's bytes, not compared in the locale).
        let (mut paged, mut before) = (Vec::new(), None);
        while let Some(last) = store
            .reminder_calls()
            .list(1, before, 1)
            .await
            .unwrap()
            .pop()
        {
            before = Some((last.at, last.key));
            paged.push(last.call_sid.unwrap());
        }
        paged.sort();
        assert_eq!(paged, ["v3:a-b", "v3:aB", "v3:a_B", "v3:ab"], "{backend}");
    }
    done(stores).await;
}

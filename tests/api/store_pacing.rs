//! Pacing and leases with several nodes (issue 16, docs/storage.md): a sender's rate, the
//! daily cap per number and the account's dial rate hold for every node together, and
//! leases are measured on the store's clock rather than each node's. On PostgreSQL a
//! send reserves its sender's slot and counts the recipient's texts in the transaction
//! that records its start, so two nodes (two pools) racing keep within them; one SQLite
//! file has one worker of each kind, which paces in memory and counts before it sends, so
//! there every start goes at once. No timed assertions: the stories read the instants the
//! store reserved.

use slotline::db::{
    DbError,
    leases::Wall,
    outbox::{Begun, Pace},
    store::Store,
};

use crate::{
    store::{column, done, second_node, stores},
    store_workers::reminder_calls,
};

/// Business seconds and wall milliseconds the stories run at.
const NOW: i64 = 10_000;
const MS: i64 = 5_000_000;
/// The sender of tenant 1.
const FROM: &str = "+13125550100";

/// `n` queued `reply` texts of tenant 1, due at 0, to `to` (a number with `{i}` in it is
/// one number per text).
fn texts(n: u32, to: &str) -> String {
    let to = to.replace("{i}", "' || i || '");
    format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
         INSERT INTO outbox (tenant_id, kind, to_number, from_number, due_at, text,
             created_at, updated_at)
         SELECT 1, 'reply', '{to}', '{FROM}', 0, 'Hi ' || i, 0, 0 FROM n;"
    )
}

/// Claims every due text on `store`; their ids.
async fn claim_all(store: &Store) -> Vec<i64> {
    let due = store
        .outbox()
        .candidates(NOW, MS, Vec::new(), 1_000, 1_000)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for c in due {
        let t = store.outbox().claim(c.id, NOW, MS, 60_000).await.unwrap();
        ids.push(t.unwrap().id);
    }
    ids
}

/// Begins the sends of `ids` at once, alternately from `a` and `b`, with `pace`.
async fn begin_all(a: &Store, b: &Store, ids: &[i64], pace: Pace) -> Vec<Begun> {
    let starts = ids.iter().enumerate().map(|(i, &id)| {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            node.outbox()
                .begin_send(id, format!("Hi {id}"), FROM.into(), None, MS, pace)
                .await
                .unwrap()
        }
    });
    futures_util::future::join_all(starts).await
}

/// The instants reserved by the `Go` answers, in order.
fn instants(begun: &[Begun]) -> Vec<i64> {
    let mut at: Vec<i64> = begun
        .iter()
        .filter_map(|b| match b {
            Begun::Go { at_ms, .. } => Some(*at_ms),
            _ => None,
        })
        .collect();
    at.sort();
    at
}

/// Asserts each of `at` is at least `gap` after the one before.
fn spaced(backend: &str, at: &[i64], gap: i64) {
    for w in at.windows(2) {
        assert!(
            w[1] - w[0] >= gap,
            "{backend}: {} then {}: {at:?}",
            w[0],
            w[1]
        );
    }
}

#[tokio::test]
async fn store_texts_from_one_sender_begun_by_two_nodes_at_once_get_slots_a_gap_apart_between_them()
{
    let stores = stores(&texts(12, "+1555000{i}")).await;
    for (backend, store, scratch, _) in &stores {
        let other = second_node(store, scratch).await;
        let ids = claim_all(store).await;
        assert_eq!(ids.len(), 12, "{backend}");
        let pace = Pace {
            gap_ms: 10_000,
            daily_cap: 100,
            horizon_ms: 600_000,
        };
        let begun = begin_all(store, &other, &ids, pace).await;
        let at = instants(&begun);
        assert_eq!(at.len(), 12, "{backend}: every send goes: {begun:?}");
        match scratch {
            // Twelve slots 10 s apart, whichever node reserved each; the request's
            // recorded start is its slot, and the sends wait for them.
            Some(_) => {
                spaced(backend, &at, 10_000);
                let recorded: Vec<i64> = column(
                    store,
                    "SELECT CAST(request_started_ms AS TEXT) FROM outbox
                     WHERE request_started_ms IS NOT NULL ORDER BY request_started_ms",
                )
                .await
                .iter()
                .map(|s| s.parse().unwrap())
                .collect();
                assert_eq!(recorded, at, "{backend}");
                let longest = begun
                    .iter()
                    .map(|b| match b {
                        Begun::Go { wait_ms, .. } => *wait_ms,
                        _ => 0,
                    })
                    .max();
                assert!(longest >= Some(100_000), "{backend}: {begun:?}");
            }
            // The one worker paces in memory before it asks: each start goes at once.
            None => assert!(
                begun.iter().all(|b| *b
                    == Begun::Go {
                        wait_ms: 0,
                        at_ms: MS
                    }),
                "{backend}: {begun:?}"
            ),
        }
    }
    done(stores).await;
}

#[tokio::test]
async fn store_a_text_whose_sender_is_busier_than_the_horizon_goes_back_to_the_queue_uncounted() {
    let stores = stores(&texts(8, "+1555000{i}")).await;
    for (backend, store, scratch, _) in &stores {
        let other = second_node(store, scratch).await;
        let ids = claim_all(store).await;
        // One text a minute, and no slot reserved ahead: of eight at once, one goes.
        let pace = Pace {
            gap_ms: 60_000,
            daily_cap: 100,
            horizon_ms: 0,
        };
        let begun = begin_all(store, &other, &ids, pace).await;
        let went = instants(&begun).len();
        match scratch {
            Some(_) => {
                assert_eq!(went, 1, "{backend}: {begun:?}");
                for b in &begun {
                    if let Begun::Paced { wait_ms } = b {
                        assert!((1..=60_000).contains(wait_ms), "{backend}: {b:?}");
                    }
                }
                // The seven are queued again, their attempts not counted, and offered
                // again (to the worker, which now waits with the sender).
                let back = store
                    .outbox()
                    .candidates(NOW, MS, Vec::new(), 100, 100)
                    .await
                    .unwrap();
                assert_eq!(back.len(), 7, "{backend}");
                let attempts = column(
                    store,
                    "SELECT CAST(attempts AS TEXT) FROM outbox WHERE status = 'queued'",
                )
                .await;
                assert!(attempts.iter().all(|a| a == "0"), "{backend}: {attempts:?}");
            }
            None => assert_eq!(went, 8, "{backend}: paced in memory, before asking"),
        }
    }
    done(stores).await;
}

/// What one node's worker does with claimed text `id` to `to` at the daily cap `cap`: it
/// reads the recipient's count, then begins the send (which on PostgreSQL counts again,
/// under the number's lock). Whether the text went.
async fn send_under_cap(node: Store, id: i64, to: String, cap: u32) -> Result<bool, DbError> {
    let recipient = node.outbox().recipient(to, None, MS - 86_400_000).await?;
    if recipient.sent_since >= cap {
        return Ok(false);
    }
    let pace = Pace {
        gap_ms: 0,
        daily_cap: cap,
        horizon_ms: 0,
    };
    let begun = node
        .outbox()
        .begin_send(id, "Hi".into(), FROM.into(), None, MS, pace)
        .await?;
    match begun {
        Begun::Go { .. } => Ok(true),
        Begun::Capped { sent } => {
            assert_eq!(sent, cap);
            Ok(false)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn store_two_nodes_texting_one_number_past_the_daily_cap_send_exactly_the_cap_between_them() {
    let to = "+15550009999";
    let stores = stores(&texts(8, to)).await;
    for (backend, store, scratch, _) in &stores {
        let other = second_node(store, scratch).await;
        let ids = claim_all(store).await;
        assert_eq!(ids.len(), 8, "{backend}");
        let sends = ids.iter().enumerate().map(|(i, &id)| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            send_under_cap(node, id, to.to_string(), 3)
        });
        let went: Vec<bool> = match scratch {
            // Eight sends at once from two nodes, each having read a count under the cap.
            Some(_) => futures_util::future::join_all(sends)
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect(),
            // One SQLite file has one worker: it decides one text after the other.
            None => {
                let mut went = Vec::new();
                for s in sends {
                    went.push(s.await.unwrap());
                }
                went
            }
        };
        assert_eq!(
            went.iter().filter(|w| **w).count(),
            3,
            "{backend}: {went:?}"
        );
        let started = column(
            store,
            "SELECT to_number FROM outbox WHERE request_started_ms IS NOT NULL",
        )
        .await;
        assert_eq!(started.len(), 3, "{backend}");
    }
    done(stores).await;
}

/// Claims every due reminder call on `store`; their ids.
async fn claim_calls(store: &Store) -> Vec<i64> {
    let calls = store.reminder_calls();
    let mut ids = Vec::new();
    for id in calls.due(NOW, 100).await.unwrap() {
        if calls
            .claim(id, NOW, MS, 60_000, 100)
            .await
            .unwrap()
            .is_some()
        {
            ids.push(id);
        }
    }
    ids
}

/// Begins the dials of `ids` at once, alternately from `a` and `b`.
async fn dial_all(a: &Store, b: &Store, ids: &[i64], gap_ms: i64, horizon_ms: i64) -> Vec<Begun> {
    let starts = ids.iter().enumerate().map(|(i, &id)| {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            node.reminder_calls()
                .begin_request(id, NOW, MS, gap_ms, horizon_ms)
                .await
                .unwrap()
        }
    });
    futures_util::future::join_all(starts).await
}

#[tokio::test]
async fn store_reminder_calls_dialled_by_two_nodes_at_once_keep_the_accounts_dial_rate() {
    let stores = stores(&reminder_calls(6)).await;
    for (backend, store, scratch, _) in &stores {
        let other = second_node(store, scratch).await;
        let ids = claim_calls(store).await;
        assert_eq!(ids.len(), 6, "{backend}");
        // Four at once, a minute apart with slots reserved ahead: all go, a gap apart.
        let begun = dial_all(store, &other, &ids[..4], 60_000, 600_000).await;
        let at = instants(&begun);
        assert_eq!(at.len(), 4, "{backend}: {begun:?}");
        match scratch {
            Some(_) => spaced(backend, &at, 60_000),
            None => assert!(at.iter().all(|t| *t == MS), "{backend}: at once"),
        }
        // The last two, when no slot may be reserved ahead: on PostgreSQL the next slot
        // is minutes away, so both go back to the queue, due again.
        let begun = dial_all(store, &other, &ids[4..], 60_000, 0).await;
        match scratch {
            Some(_) => {
                assert!(
                    begun.iter().all(|b| matches!(b, Begun::Paced { .. })),
                    "{backend}: {begun:?}"
                );
                let due = store.reminder_calls().due(NOW, 100).await.unwrap();
                assert_eq!(due, ids[4..], "{backend}");
                assert_eq!(store.reminder_calls().in_progress().await.unwrap(), 4);
            }
            None => assert_eq!(instants(&begun).len(), 2, "{backend}"),
        }
    }
    done(stores).await;
}

/// Now on `store`'s lease clock, wall ms: this process's clock for SQLite, the server's
/// for PostgreSQL.
async fn lease_clock(store: &Store) -> i64 {
    match store {
        Store::Sqlite(_) => slotline::clock::Clock::wall_ms(),
        Store::Postgres(_) => column(
            store,
            "SELECT CAST((extract(epoch FROM clock_timestamp()) * 1000)::bigint AS TEXT)",
        )
        .await[0]
            .parse()
            .unwrap(),
    }
}

#[tokio::test]
async fn store_leases_taken_now_are_measured_on_the_stores_clock_so_no_nodes_clock_decides_them() {
    let seed = format!("{}{DELIVERY}", texts(1, "+15550001"));
    let stores = stores(&seed).await;
    for (backend, store, scratch, _) in &stores {
        let other = second_node(store, scratch).await;
        // A job's lease: its expiry is the store's clock plus the time to live, whatever
        // the taking node's clock says (on PostgreSQL the node's is never read).
        let before = lease_clock(store).await;
        let lease = store
            .leases()
            .acquire("retention", "node-a".into(), Wall::Now, 60_000)
            .await
            .unwrap()
            .unwrap();
        let after = lease_clock(store).await;
        assert!(
            (before + 60_000..=after + 60_000).contains(&lease.expires_ms),
            "{backend}: {before} {lease:?} {after}"
        );
        assert!(
            other
                .leases()
                .acquire("retention", "node-b".into(), Wall::Now, 60_000)
                .await
                .unwrap()
                .is_none(),
            "{backend}: live for every node"
        );
        // A text's lease likewise; the sweep of any node, now, leaves it alone.
        let id = store
            .outbox()
            .candidates(NOW, slotline::clock::Clock::wall_ms(), Vec::new(), 10, 10)
            .await
            .unwrap()[0]
            .id;
        let before = lease_clock(store).await;
        store
            .outbox()
            .claim(id, NOW, Wall::Now, 60_000)
            .await
            .unwrap()
            .unwrap();
        let after = lease_clock(store).await;
        let until: i64 = column(store, "SELECT CAST(lease_until_ms AS TEXT) FROM outbox").await[0]
            .parse()
            .unwrap();
        assert!(
            (before + 60_000..=after + 60_000).contains(&until),
            "{backend}: {before} {until} {after}"
        );
        let swept = other
            .outbox()
            .sweep_leases(Wall::Now, 60_000, 3)
            .await
            .unwrap();
        assert_eq!(swept, Default::default(), "{backend}");
        // And a webhook delivery's: leased for every node.
        let hooks = store.webhooks();
        let before = lease_clock(store).await;
        assert!(hooks.claim(1, Wall::Now, 60_000).await.unwrap().is_some());
        let after = lease_clock(store).await;
        let until: i64 = column(
            store,
            "SELECT CAST(lease_until_ms AS TEXT) FROM webhook_deliveries",
        )
        .await[0]
            .parse()
            .unwrap();
        assert!(
            (before + 60_000..=after + 60_000).contains(&until),
            "{backend}: {before} {until} {after}"
        );
        let again = other.webhooks().claim(1, Wall::Now, 60_000).await.unwrap();
        assert!(again.is_none(), "{backend}");
        let due = other.webhooks().candidates(Wall::Now, vec![], 10).await;
        assert!(due.unwrap().is_empty(), "{backend}");
    }
    done(stores).await;
}

/// A webhook delivery due at once: endpoint 1 of tenant 1, event 1.
const DELIVERY: &str = "
    INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret, created_at)
    VALUES (1, 1, 'https://a.example.com/in', '[]', 'whsec_a', 1);
    INSERT INTO webhook_events (id, event_id, tenant_id, type, appointment_id, payload, created_at)
    VALUES (1, 'evt_1', 1, 'call.completed', NULL, '{}', 1);
    INSERT INTO webhook_deliveries (id, endpoint_id, event_id, appointment_id, next_attempt_ms, created_ms)
    VALUES (1, 1, 1, NULL, 0, 0);";

/// `n` texts due now from the demo tenant Bella Salon's number, allowed `rate` a second,
/// to `n` numbers beginning with `to` (SQL for PostgreSQL).
pub(crate) fn demo_texts(n: u32, rate: u32, to: &str) -> String {
    format!(
        "UPDATE tenants SET sms_rate_per_second = {rate};
         INSERT INTO outbox (tenant_id, kind, to_number, from_number, due_at, status, text,
                             created_at, updated_at)
         SELECT t.id, 'reply', '{to}' || lpad(g::text, 4, '0'), t.phone_number, 0,
                'queued', 'Text ' || g, 0, 0
         FROM tenants t, generate_series(1, {n}) g WHERE t.slug = 'bella-salon';"
    )
}

/// Two whole nodes on `scratch` sending through `api` (the first seeds the demo tenants),
/// once `texts` (SQL) has queued texts, until none is left unsent (waited for, bounded);
/// the nodes, still running, and a client to read what they did.
pub(crate) async fn two_nodes_send_all(
    scratch: &crate::postgres::Scratch,
    api: &crate::fake_telnyx::FakeMessaging,
    texts: &str,
) -> (
    crate::helpers::TestApp,
    crate::helpers::TestApp,
    tokio_postgres::Client,
) {
    use crate::helpers::{Options, spawn_with};
    let node = |demo| Options {
        db_url: Some(scratch.url.clone()),
        demo,
        messaging_api: Some(api.base.clone()),
        ..Options::default()
    };
    let a = spawn_with(node(true)).await;
    let b = spawn_with(node(false)).await;
    let client = scratch.client().await;
    client.batch_execute(texts).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let left: i64 = client
            .query_one("SELECT count(*) FROM outbox WHERE status <> 'sent'", &[])
            .await
            .unwrap()
            .get(0);
        if left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{left} texts still not sent"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    (a, b, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_whole_nodes_draining_one_senders_texts_keep_its_rate_between_them() {
    let Some(scratch) = crate::postgres::Scratch::new().await else {
        return;
    };
    let api = crate::fake_telnyx::FakeMessaging::start(vec![]).await;
    // Twenty texts due now from one sender allowed 10 a second: each node alone would
    // send 10 a second, the two together 20, without a shared pacer.
    let (a, b, client) = two_nodes_send_all(&scratch, &api, &demo_texts(20, 10, "+1312557")).await;
    assert_eq!(api.accepted().len(), 20, "each sent once");
    // The starts the store recorded, whichever node sent each: a tenth of a second apart.
    let starts: Vec<i64> = client
        .query(
            "SELECT request_started_ms FROM outbox ORDER BY request_started_ms",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    spaced("postgres", &starts, 100);
    drop((a, b, client));
    api.stop().await;
    scratch.drop_database().await;
}

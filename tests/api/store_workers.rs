//! The background workers' storage on both backends (issue 16, docs/storage.md): the SMS
//! worker's outbox (claims, leases, the sweep, pauses, opt-outs, the operators' list), told
//! as the stories users rely on, each on SQLite and on PostgreSQL. A second node is a
//! second pool on the same PostgreSQL database (on SQLite, the same store again).

use slotline::db::{
    DbError,
    messaging::Event,
    outbox::{Begun, ListQuery, OptOut, Pace, Recipient, Swept},
    store::Store,
};

use crate::store::{done, second_node, stores};

/// Business seconds and wall milliseconds the stories run at.
const NOW: i64 = 10_000;
const MS: i64 = 5_000_000;

/// Pacing that never holds a send back (the worker's own pacing is not these stories').
const FREE: Pace = Pace {
    gap_ms: 0,
    daily_cap: 1_000,
    horizon_ms: 0,
};

/// Whether a request was begun (the answer of `begin_send` or `begin_request`).
fn began(b: Result<Begun, DbError>) -> bool {
    matches!(b.unwrap(), Begun::Go { .. })
}

/// Queued texts: `reply` texts fixed at queue time, due at 0, to `+1555000<i>`, tenant 1
/// for odd `i` and tenant 2 for even ones.
fn texts(n: u32) -> String {
    format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
         INSERT INTO outbox (tenant_id, kind, to_number, from_number, due_at, text,
             created_at, updated_at)
         SELECT 2 - i % 2, 'reply', '+1555000' || i, '+13125550100', 0, 'Hi ' || i, 0, 0
         FROM n;"
    )
}

fn page(limit: usize) -> ListQuery {
    ListQuery {
        limit,
        ..ListQuery::default()
    }
}

/// Status of each of tenant 1's texts, by id.
async fn statuses(store: &Store) -> Vec<(i64, String)> {
    let mut rows: Vec<(i64, String)> = store
        .outbox()
        .list(1, page(2_000))
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.status))
        .collect();
    rows.sort();
    rows
}

/// Claims due texts until none is left, as one worker of a node does; the ids it got.
async fn drain(node: Store) -> Vec<i64> {
    let mut mine = Vec::new();
    loop {
        let due = node
            .outbox()
            .candidates(NOW, MS, Vec::new(), 1_000, 32)
            .await
            .unwrap();
        if due.is_empty() {
            return mine;
        }
        for c in due {
            if let Some(t) = node.outbox().claim(c.id, NOW, MS, 60_000).await.unwrap() {
                assert_eq!(t.id, c.id);
                mine.push(t.id);
            }
        }
    }
}

#[tokio::test]
async fn store_a_thousand_due_texts_drained_by_two_nodes_at_once_are_each_claimed_exactly_once() {
    let stores = stores(&texts(1_000)).await;
    for (backend, store, scratch, _) in &stores {
        let other = second_node(store, scratch).await;
        let workers = (0..8).map(|i| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            tokio::spawn(drain(node))
        });
        let mut claimed: Vec<i64> = Vec::new();
        let mut per_node = [0usize; 2];
        for (i, w) in futures_util::future::join_all(workers)
            .await
            .into_iter()
            .enumerate()
        {
            let got = w.unwrap();
            per_node[i % 2] += got.len();
            claimed.extend(got);
        }
        let total = claimed.len();
        claimed.sort_unstable();
        claimed.dedup();
        assert_eq!(total, 1_000, "{backend}: every text claimed, none twice");
        assert_eq!(claimed.len(), 1_000, "{backend}: no text claimed twice");
        if scratch.is_some() {
            assert!(
                per_node.iter().all(|n| *n > 0),
                "{backend}: both nodes worked: {per_node:?}"
            );
        }
        // Each row records one attempt: no claim was lost or doubled in the database either.
        for tenant in [1, 2] {
            let rows = store.outbox().list(tenant, page(2_000)).await.unwrap();
            assert_eq!(rows.len(), 500, "{backend}");
            assert!(
                rows.iter()
                    .all(|r| r.status == "sending" && r.attempts == 1),
                "{backend}: tenant {tenant}"
            );
        }
        assert!(
            store
                .outbox()
                .candidates(NOW, MS, Vec::new(), 1_000, 32)
                .await
                .unwrap()
                .is_empty(),
            "{backend}: nothing left"
        );
    }
    done(stores).await;
}

#[tokio::test]
async fn store_a_claim_left_past_its_lease_by_a_dead_node_comes_back_once_and_a_started_send_is_held()
 {
    let stores = stores(&texts(2)).await;
    for (backend, store, scratch, _) in &stores {
        let other = second_node(store, scratch).await;
        // Node A claims both texts with a 1 s lease, starts sending text 2, and dies.
        let ids: Vec<i64> = statuses(store).await.iter().map(|r| r.0).collect();
        let (never_sent, started) = {
            let all = store
                .outbox()
                .candidates(NOW, MS, Vec::new(), 10, 10)
                .await
                .unwrap();
            assert_eq!(all.len(), 2, "{backend}");
            (all[0].id, all[1].id)
        };
        assert_eq!(ids.len(), 1, "{backend}: one text per tenant");
        for id in [never_sent, started] {
            assert!(
                store
                    .outbox()
                    .claim(id, NOW, MS, 1_000)
                    .await
                    .unwrap()
                    .is_some()
            );
        }
        let t = store.outbox().claim(started, NOW, MS, 1_000).await.unwrap();
        assert!(t.is_none(), "{backend}: a live lease is not claimed again");
        store
            .outbox()
            .begin_send(
                started,
                "Hi".into(),
                "+13125550100".into(),
                None,
                MS + 10,
                FREE,
            )
            .await
            .unwrap();

        // Node B sweeps: nothing while the leases run, then the text never sent comes
        // back and the started one is held (Telnyx may have it), not re-sent.
        let early = other
            .outbox()
            .sweep_leases(MS + 999, 60_000, 3)
            .await
            .unwrap();
        assert_eq!(early, Swept::default(), "{backend}");
        let swept = other
            .outbox()
            .sweep_leases(MS + 1_000, 60_000, 3)
            .await
            .unwrap();
        assert_eq!(
            swept,
            Swept {
                held: 1,
                requeued: 1,
                failed: 0
            },
            "{backend}"
        );
        let again = other
            .outbox()
            .sweep_leases(MS + 1_001, 60_000, 3)
            .await
            .unwrap();
        assert_eq!(again, Swept::default(), "{backend}: swept once");
        // Node A was only stalled: waking up, it may send neither text under its old claim.
        for id in [never_sent, started] {
            let begun = store
                .outbox()
                .begin_send(
                    id,
                    "Hi".into(),
                    "+13125550100".into(),
                    None,
                    MS + 1_001,
                    FREE,
                )
                .await
                .unwrap();
            assert_eq!(
                begun,
                Begun::Lost,
                "{backend}: text {id} is no longer node A's to send"
            );
        }

        // Both nodes race for the text that came back: exactly one gets it.
        let due = other
            .outbox()
            .candidates(NOW, MS + 1_001, Vec::new(), 10, 10)
            .await
            .unwrap();
        assert_eq!(
            due.iter().map(|c| c.id).collect::<Vec<_>>(),
            [never_sent],
            "{backend}"
        );
        let claims = (0..8).map(|i| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            async move {
                node.outbox()
                    .claim(never_sent, NOW, MS + 1_001, 60_000)
                    .await
                    .unwrap()
            }
        });
        let won: Vec<_> = futures_util::future::join_all(claims)
            .await
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(won.len(), 1, "{backend}");
        assert_eq!(won[0].attempts, 2, "{backend}: the lost attempt counts");
        // However many nodes still think they hold it, one request starts.
        let starts = [other.clone(), store.clone(), other.clone()].map(|node| async move {
            node.outbox()
                .begin_send(
                    never_sent,
                    "Hi".into(),
                    "+13125550100".into(),
                    None,
                    MS + 1_002,
                    FREE,
                )
                .await
        });
        let started_once: Vec<bool> = futures_util::future::join_all(starts)
            .await
            .into_iter()
            .map(|b| matches!(b.unwrap(), Begun::Go { .. }))
            .collect();
        assert_eq!(
            started_once.iter().filter(|s| **s).count(),
            1,
            "{backend}: {started_once:?}"
        );

        // The held text fails after the hold; it is never offered again.
        let held = other
            .outbox()
            .sweep_leases(MS + 70_000, 60_000, 3)
            .await
            .unwrap();
        assert_eq!(held.failed, 1, "{backend}");
    }
    done(stores).await;
}

#[tokio::test]
async fn store_a_pause_recorded_by_one_node_shows_on_every_nodes_queued_texts_until_lifted() {
    let stores = stores(&texts(2)).await;
    for (backend, store, scratch, _) in &stores {
        let other = second_node(store, scratch).await;
        let reason = "paused: Telnyx refused the key";
        store
            .outbox()
            .set_pause(String::new(), reason.into(), MS)
            .await
            .unwrap();
        store
            .outbox()
            .set_pause("profile-b".into(), "paused: profile".into(), MS)
            .await
            .unwrap();
        assert_eq!(
            other.outbox().pauses().await.unwrap(),
            [
                (String::new(), reason.to_string()),
                ("profile-b".to_string(), "paused: profile".to_string())
            ],
            "{backend}: read by the other node"
        );
        let row = &other.outbox().list(1, page(10)).await.unwrap()[0];
        assert_eq!(
            (row.status.as_str(), row.last_error.as_deref()),
            ("paused", Some(reason)),
            "{backend}"
        );
        assert!(
            other.outbox().lift_pause(String::new()).await.unwrap(),
            "{backend}"
        );
        assert!(
            !store.outbox().lift_pause(String::new()).await.unwrap(),
            "{backend}: once"
        );
        let row = &store.outbox().list(1, page(10)).await.unwrap()[0];
        assert_eq!(row.status, "queued", "{backend}");
        assert_eq!(store.outbox().pauses().await.unwrap().len(), 1, "{backend}");
    }
    done(stores).await;
}

#[tokio::test]
async fn store_an_opt_out_recorded_on_one_node_skips_queued_texts_and_blocks_sends_on_every_node() {
    let stores = stores(&texts(4)).await;
    for (backend, store, scratch, _) in &stores {
        let other = second_node(store, scratch).await;
        let number = "+15550001";
        let skipped = store
            .messaging()
            .record_opt_out(number.into(), None, NOW)
            .await
            .unwrap();
        assert_eq!(skipped, 1, "{backend}: its queued text is skipped");
        for profile in [None, Some("p".to_string())] {
            assert!(
                other
                    .messaging()
                    .is_opted_out(number.into(), profile)
                    .await
                    .unwrap(),
                "{backend}: an opt-out without a profile blocks every profile"
            );
        }
        assert_eq!(
            other
                .outbox()
                .recipient(number.into(), None, 0)
                .await
                .unwrap(),
            Recipient {
                opted_out: true,
                sent_since: 0
            },
            "{backend}"
        );
        other
            .messaging()
            .lift_opt_out(number.into(), Some("p".into()))
            .await
            .unwrap();
        assert!(
            !store
                .messaging()
                .is_opted_out(number.into(), None)
                .await
                .unwrap()
        );

        // A refusal reporting an opt-out (40300) records it with the text's failure.
        let id = store
            .outbox()
            .candidates(NOW, MS, Vec::new(), 10, 10)
            .await
            .unwrap()[0]
            .id;
        let t = store
            .outbox()
            .claim(id, NOW, MS, 60_000)
            .await
            .unwrap()
            .unwrap();
        store
            .outbox()
            .begin_send(id, "Hi".into(), t.from.clone(), Some("p".into()), MS, FREE)
            .await
            .unwrap();
        assert_eq!(
            other
                .outbox()
                .recipient(t.to.clone(), None, MS)
                .await
                .unwrap()
                .sent_since,
            1,
            "{backend}: the daily cap counts every node's sends"
        );
        let opt_out = OptOut {
            number: t.to.clone(),
            profile: Some("p".into()),
            at: NOW,
        };
        other
            .outbox()
            .fail(id, "opted out (40300)".into(), Some(opt_out))
            .await
            .unwrap();
        assert!(
            store
                .messaging()
                .is_opted_out(t.to.clone(), Some("p".into()))
                .await
                .unwrap()
        );
        assert!(
            !store
                .messaging()
                .is_opted_out(t.to.clone(), Some("q".into()))
                .await
                .unwrap()
        );
        let failed = store.outbox().list(2, page(10)).await.unwrap();
        let failed = failed
            .iter()
            .chain(&store.outbox().list(1, page(10)).await.unwrap())
            .find(|r| r.id == id)
            .cloned()
            .unwrap();
        assert_eq!(failed.status, "failed", "{backend}");

        // Handled events are remembered once across nodes.
        let event = Event {
            id: "ev-1".into(),
            kind: "message.received".into(),
            ..Event::default()
        };
        assert!(
            store
                .messaging()
                .record_event(event.clone(), NOW)
                .await
                .unwrap()
        );
        assert!(
            !other.messaging().record_event(event, NOW).await.unwrap(),
            "{backend}"
        );
    }
    done(stores).await;
}

#[tokio::test]
async fn store_a_texts_outcomes_are_recorded_and_counted_and_a_failed_one_requeued_alike() {
    let stores = stores(&texts(6)).await;
    for (backend, store, _, _) in &stores {
        let outbox = store.outbox();
        let mut ids: Vec<i64> = statuses(store).await.iter().map(|r| r.0).collect();
        assert_eq!(ids.len(), 3, "{backend}");
        for id in &ids {
            let t = outbox.claim(*id, NOW, MS, 60_000).await.unwrap().unwrap();
            assert_eq!(
                (
                    t.text.as_deref().map(|s| s.starts_with("Hi ")),
                    t.from.as_str(),
                    t.appointment.is_none()
                ),
                (Some(true), "+13125550100", true),
                "{backend}"
            );
        }
        let (sent, retried, held) = (ids[0], ids[1], ids[2]);
        // A delivery status that came before the send was recorded applies with it.
        let early = Event {
            id: "ev-early".into(),
            kind: "message.finalized".into(),
            message_id: Some("msg-1".into()),
            status: Some("delivered".into()),
            detail: None,
        };
        store.messaging().record_event(early, NOW).await.unwrap();
        outbox
            .begin_send(sent, "Hi".into(), "+13125550100".into(), None, MS, FREE)
            .await
            .unwrap();
        outbox.mark_sent(sent, "msg-1".into()).await.unwrap();
        outbox
            .retry_later(retried, MS + 5_000, "attempt 1: 503".into())
            .await
            .unwrap();
        outbox
            .hold_unknown(held, MS, "outcome unknown".into())
            .await
            .unwrap();
        let by_id = statuses(store).await;
        assert_eq!(
            by_id.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
            ["delivered", "queued", "unknown"],
            "{backend}"
        );
        assert!(
            outbox
                .candidates(NOW, MS + 4_999, Vec::new(), 10, 10)
                .await
                .unwrap()
                .iter()
                .all(|c| c.id != retried),
            "{backend}: not before its retry time"
        );
        let counts = outbox.counts(1, 0, 1).await.unwrap();
        assert_eq!(
            (counts.delivered, counts.queued, counts.unknown, counts.sent),
            (1, 1, 1, 0),
            "{backend}"
        );
        assert_eq!(outbox.counts(1, 1, 100).await.unwrap(), Default::default());

        // Only a failed text is requeued, and only the tenant's own.
        assert!(matches!(
            outbox.requeue_failed(1, retried, NOW).await,
            Err(DbError::Conflict(_))
        ));
        assert!(matches!(
            outbox.requeue_failed(2, held, NOW).await,
            Err(DbError::NotFound)
        ));
        let t = outbox
            .claim(retried, NOW, MS + 5_000, 60_000)
            .await
            .unwrap()
            .unwrap();
        outbox
            .finish(
                t.id,
                "failed",
                Some("refused".into()),
                Some("Hi there".into()),
            )
            .await
            .unwrap();
        outbox.requeue_failed(1, retried, NOW).await.unwrap();
        let row = outbox
            .list(1, page(10))
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.id == retried)
            .unwrap();
        assert_eq!(
            (row.status.as_str(), row.attempts, row.text.as_deref()),
            ("queued", 0, Some("Hi there")),
            "{backend}"
        );

        // A page is newest first and continues after its cursor.
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let first = outbox.list(1, page(2)).await.unwrap();
        assert_eq!(
            first.iter().map(|r| r.id).collect::<Vec<_>>(),
            ids[..2],
            "{backend}"
        );
        let last = &first[1];
        let rest = outbox
            .list(
                1,
                ListQuery {
                    before: Some((last.due_at, last.id)),
                    ..page(10)
                },
            )
            .await
            .unwrap();
        assert_eq!(
            rest.iter().map(|r| r.id).collect::<Vec<_>>(),
            ids[2..],
            "{backend}"
        );
    }
    done(stores).await;
}

#[tokio::test]
async fn store_a_delivery_webhook_adopts_the_oldest_held_text_with_the_same_words_once_alike() {
    let stores = stores(&texts(4)).await;
    for (backend, store, _, _) in &stores {
        let outbox = store.outbox();
        let due = outbox
            .candidates(NOW, MS, Vec::new(), 10, 10)
            .await
            .unwrap();
        let mut held = Vec::new();
        for c in due.iter().take(2) {
            let t = outbox.claim(c.id, NOW, MS, 60_000).await.unwrap().unwrap();
            // Two texts to different numbers; the webhook names the first's.
            outbox
                .begin_send(t.id, "Same".into(), t.from.clone(), None, MS + c.id, FREE)
                .await
                .unwrap();
            outbox
                .hold_unknown(t.id, MS, "outcome unknown".into())
                .await
                .unwrap();
            held.push(t);
        }
        let (to, from) = (held[0].to.clone(), held[0].from.clone());
        let adopt = |mid: &'static str| {
            let (to, from) = (to.clone(), from.clone());
            async move {
                match store {
                    Store::Sqlite(db) => db
                        .run_blocking(|c| {
                            slotline::db::outbox::adopt_held(c, mid, &to, &from, "Same")
                        })
                        .unwrap(),
                    Store::Postgres(pg) => pg
                        .write(async |tx| {
                            slotline::db::postgres::outbox::adopt_held(tx, mid, &to, &from, "Same")
                                .await
                        })
                        .await
                        .unwrap(),
                }
            }
        };
        assert!(adopt("m-1").await, "{backend}");
        assert!(!adopt("m-1").await, "{backend}: the id is known now");
        assert!(
            !adopt("m-2").await,
            "{backend}: no other held text went to that number"
        );
        let rows = statuses(store).await;
        let row = rows.iter().find(|r| r.0 == held[0].id).unwrap();
        assert_eq!(row.1, "sent", "{backend}");
    }
    done(stores).await;
}

/// One booked appointment (id 1, tenant 1) and `n` reminder calls about it due at 0, one
/// per `hours_before` 1..=n, to `+15550002<i>`.
pub(crate) fn reminder_calls(n: u32) -> String {
    format!(
        "INSERT INTO appointments (id, tenant_id, service_id, provider_id, customer_name,
             customer_phone, start_at, end_at, blocked_until, status, created_at, updated_at)
         VALUES (1, 1, 1, 1, 'Maria', '+13125550199', 200000, 201800, 201800, 'booked', 0, 0);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
         INSERT INTO reminder_calls (tenant_id, appointment_id, for_start, hours_before,
             attempt, to_number, due_at, created_at, updated_at)
         SELECT 1, 1, 200000, i, 1, '+15550002' || i, 0, 0, 0 FROM n;"
    )
}

/// Claims due reminder calls until none is left, as one node's dialer does; the ids it
/// got.
async fn dial_all(node: Store) -> Vec<i64> {
    let mut mine = Vec::new();
    loop {
        let due = node.reminder_calls().due(NOW, 16).await.unwrap();
        if due.is_empty() {
            return mine;
        }
        for id in due {
            if let Some(c) = node
                .reminder_calls()
                .claim(id, NOW, MS, 60_000, 1_000)
                .await
                .unwrap()
            {
                assert_eq!((c.id, c.appointment_status.as_str()), (id, "booked"));
                mine.push(id);
            }
        }
    }
}

#[tokio::test]
async fn store_due_reminder_calls_claimed_by_two_nodes_at_once_are_each_dialled_once() {
    let stores = stores(&reminder_calls(60)).await;
    for (backend, store, scratch, _) in &stores {
        let other = second_node(store, scratch).await;
        let dialers = (0..6).map(|i| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            tokio::spawn(dial_all(node))
        });
        let mut claimed: Vec<i64> = Vec::new();
        for d in futures_util::future::join_all(dialers).await {
            claimed.extend(d.unwrap());
        }
        let total = claimed.len();
        claimed.sort_unstable();
        claimed.dedup();
        assert_eq!((total, claimed.len()), (60, 60), "{backend}: each once");
        assert_eq!(
            store.reminder_calls().in_progress().await.unwrap(),
            60,
            "{backend}"
        );
        let c = store
            .reminder_calls()
            .claim(claimed[0], NOW, MS, 60_000, 1_000)
            .await
            .unwrap();
        assert!(
            c.is_none(),
            "{backend}: a claimed call is not claimed again"
        );
    }
    done(stores).await;
}

#[tokio::test]
async fn store_a_dead_dialers_leases_are_swept_back_once_and_a_started_request_is_never_redialled()
{
    let stores = stores(&reminder_calls(3)).await;
    for (backend, store, scratch, _) in &stores {
        let other = second_node(store, scratch).await;
        let calls = store.reminder_calls();
        let ids = calls.due(NOW, 10).await.unwrap();
        for id in &ids {
            let c = calls.claim(*id, NOW, MS, 1_000, 10).await.unwrap().unwrap();
            assert_eq!(
                (c.to_number_today, c.opted_out, c.spec.is_none()),
                (0, false, true),
                "{backend}"
            );
        }
        // Call 2's request started, call 3 is live; then the node dies.
        assert!(
            began(calls.begin_request(ids[1], NOW, MS, 0, 0).await),
            "{backend}"
        );
        assert!(
            began(calls.begin_request(ids[2], NOW, MS, 0, 0).await),
            "{backend}"
        );
        assert!(
            !began(
                other
                    .reminder_calls()
                    .begin_request(ids[1], NOW, MS, 0, 0)
                    .await
            ),
            "{backend}: a call's request starts once, whichever node asks"
        );
        calls
            .mark_live(ids[2], Some("v3:live".into()), NOW)
            .await
            .unwrap();
        assert_eq!(calls.in_progress().await.unwrap(), 3, "{backend}");
        let early = other.reminder_calls().sweep(MS + 999, NOW).await.unwrap();
        assert_eq!(
            (early.requeued, early.unknown),
            (0, 0),
            "{backend}: leases still run"
        );
        let swept = other.reminder_calls().sweep(MS + 1_001, NOW).await.unwrap();
        assert_eq!((swept.requeued, swept.unknown), (1, 1), "{backend}");
        assert!(
            !began(calls.begin_request(ids[0], NOW, MS, 0, 0).await),
            "{backend}: the dead node, only stalled, may not dial the call swept from it"
        );
        let again = other.reminder_calls().sweep(MS + 1_002, NOW).await.unwrap();
        assert_eq!((again.requeued, again.unknown), (0, 0), "{backend}: once");
        assert_eq!(
            other.reminder_calls().due(NOW, 10).await.unwrap(),
            [ids[0]],
            "{backend}"
        );
        // A live call never heard of again stops counting against the cap.
        let stale = other
            .reminder_calls()
            .sweep(MS + 1_002, NOW + 901)
            .await
            .unwrap();
        assert_eq!(stale.unknown, 1, "{backend}");
        assert_eq!(calls.in_progress().await.unwrap(), 0, "{backend}");

        // The requeued call, claimed again, knows of the other dialled today.
        calls
            .requeue(ids[0], NOW + 60, "outside the window".into(), NOW)
            .await
            .unwrap();
        assert!(
            calls.due(NOW, 10).await.unwrap().is_empty(),
            "{backend}: not before its time"
        );
        let c = calls
            .claim(ids[0], NOW + 60, MS, 1_000, 10)
            .await
            .unwrap()
            .unwrap();
        assert!(c.other_today, "{backend}");
    }
    done(stores).await;
}

#[tokio::test]
async fn store_calls_in_progress_count_against_the_cap_and_on_postgres_claims_past_it_get_nothing()
{
    let stores = stores(&reminder_calls(10)).await;
    for (backend, store, scratch, _) in &stores {
        let calls = store.reminder_calls();
        let ids = calls.due(NOW, 10).await.unwrap();
        calls
            .claim(ids[0], NOW, MS, 60_000, 3)
            .await
            .unwrap()
            .unwrap();
        calls
            .claim(ids[1], NOW, MS, 60_000, 3)
            .await
            .unwrap()
            .unwrap();
        calls.begin_request(ids[1], NOW, MS, 0, 0).await.unwrap();
        calls.mark_live(ids[1], None, NOW).await.unwrap();
        assert_eq!(
            calls.in_progress().await.unwrap(),
            2,
            "{backend}: dialling and live"
        );
        // One SQLite file has one dialer, which asks only for cap - in progress; nodes
        // sharing PostgreSQL race, and the claim itself holds the cap.
        if scratch.is_none() {
            assert_eq!(calls.due(NOW, 3 - 2).await.unwrap().len(), 1, "{backend}");
            continue;
        }
        let other = second_node(store, scratch).await;
        let claims = ids[2..].iter().enumerate().map(|(i, id)| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            let id = *id;
            async move {
                node.reminder_calls()
                    .claim(id, NOW, MS, 60_000, 3)
                    .await
                    .unwrap()
            }
        });
        let won = futures_util::future::join_all(claims)
            .await
            .into_iter()
            .flatten()
            .count();
        assert_eq!(won, 1, "{backend}: one more than the two in progress");
        assert_eq!(calls.in_progress().await.unwrap(), 3, "{backend}");
    }
    done(stores).await;
}

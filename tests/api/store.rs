//! The store's contract (issue 16, docs/storage.md): each aggregate's interface tells the
//! same story on SQLite and on PostgreSQL. Every test runs against a SQLite file always,
//! and against a PostgreSQL database when `SLOTLINE_TEST_POSTGRES` names a server (see
//! `tests/api/postgres.rs`; `.ci/run` starts one, and under `CI=true` a missing server
//! fails the PostgreSQL half).

use std::time::{Duration, Instant};

use slotline::db::{Db, DbError, deadline, postgres::Pg, store::Store};

use crate::postgres::Scratch;

/// The same rows on either backend: one tenant (id 1, `copy`, horizon 30 days) with
/// providers 1 (Anna) and 2 (Bo) and service 1 (Cut), plus `extra` statements.
pub(crate) const SEED: &str = "
    INSERT INTO tenants (id, slug, name, phone_number, timezone, voice, greeting,
        slot_minutes, min_notice_minutes, horizon_days, buffer_minutes, reminder_hours,
        max_attempts, created_at, updated_at)
    VALUES (1, 'acme', 'Acme Salon', '+13125550100', 'America/Chicago', 'Polly.Joanna',
        'Hello', 30, 0, 30, 0, '[24]', 3, 0, 0),
        (2, 'other', 'Other', '+13125550101', 'America/Chicago', 'Polly.Joanna',
        'Hello', 30, 0, 30, 0, '[24]', 3, 0, 0);
    INSERT INTO services (id, tenant_id, name, duration_minutes, position) VALUES (1, 1, 'Cut', 30, 0);
    INSERT INTO providers (id, tenant_id, name, position) VALUES (1, 1, 'Anna', 0), (2, 1, 'Bo', 1);
";

/// A store of each kind with [`SEED`] and `extra` in it, named for messages; the
/// PostgreSQL one only when a server is configured.
pub(crate) async fn stores(
    extra: &str,
) -> Vec<(&'static str, Store, Option<Scratch>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("s.db")).unwrap();
    let sql = format!("{SEED}{extra}");
    db.run_blocking(|c| Ok(c.execute_batch(&sql)?)).unwrap();
    let mut stores = vec![("sqlite", Store::Sqlite(db), None, dir)];
    if let Some(scratch) = Scratch::new().await {
        let pg = Pg::open(&scratch.url).await.unwrap();
        let client = scratch.client().await;
        client.batch_execute(&sql).await.unwrap();
        // As after `slotline migrate`: new rows take ids past the seeded ones.
        slotline::db::postgres::copy::continue_identities(&client)
            .await
            .unwrap();
        stores.push((
            "postgres",
            Store::Postgres(pg),
            Some(scratch),
            tempfile::tempdir().unwrap(),
        ));
    }
    stores
}

/// A second node on the same database: another pool on PostgreSQL; on SQLite (one
/// file, one writer) the same store.
pub(crate) async fn second_node(store: &Store, scratch: &Option<Scratch>) -> Store {
    match scratch {
        Some(s) => Store::Postgres(Pg::open(&s.url).await.unwrap()),
        None => store.clone(),
    }
}

/// The one text column `query` selects, row by row, on either backend (`query` must read
/// the same in both dialects).
pub(crate) async fn column(store: &Store, query: &'static str) -> Vec<String> {
    match store {
        Store::Sqlite(db) => db
            .run(move |c| {
                let mut stmt = c.prepare(query)?;
                let rows = stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await
            .unwrap(),
        Store::Postgres(pg) => pg
            .run(async |c| {
                Ok(c.query(query, &[])
                    .await?
                    .iter()
                    .map(|r| r.get(0))
                    .collect())
            })
            .await
            .unwrap(),
    }
}

pub(crate) async fn done(stores: Vec<(&'static str, Store, Option<Scratch>, tempfile::TempDir)>) {
    for (_, store, scratch, _) in stores {
        drop(store);
        if let Some(s) = scratch {
            s.drop_database().await;
        }
    }
}

#[tokio::test]
async fn store_feeds_are_created_listed_rotated_and_revoked_alike_on_both_backends() {
    let stores = stores("").await;
    for (backend, store, _, _) in &stores {
        let feeds = store.feeds();
        let all = feeds.create(1, None, "full", [1; 32], 100).await.unwrap();
        let anna = feeds
            .create(1, Some(1), "busy", [2; 32], 101)
            .await
            .unwrap();
        assert_eq!(
            (all.scope, all.provider.as_deref()),
            ("tenant", None),
            "{backend}"
        );
        assert_eq!(
            (anna.scope, anna.provider.as_deref()),
            ("provider", Some("Anna")),
            "{backend}"
        );
        let listed: Vec<i64> = feeds.list(1).await.unwrap().iter().map(|f| f.id).collect();
        assert_eq!(listed, [all.id, anna.id], "{backend}: oldest first");
        assert!(feeds.list(2).await.unwrap().is_empty(), "{backend}");

        let access = feeds.for_url(anna.id).await.unwrap().unwrap();
        assert_eq!(access.secret_hash, [2; 32], "{backend}");
        assert_eq!(
            (
                access.tenant_slug.as_str(),
                access.tenant_name.as_str(),
                access.horizon_days
            ),
            ("acme", "Acme Salon", 30),
            "{backend}"
        );
        assert!(
            feeds.for_url(anna.id + 100).await.unwrap().is_none(),
            "{backend}"
        );

        let rotated = feeds.rotate(1, anna.id, [3; 32], 200).await.unwrap();
        assert_eq!(rotated.rotated_at, Some(200), "{backend}");
        assert_eq!(
            feeds.for_url(anna.id).await.unwrap().unwrap().secret_hash,
            [3; 32]
        );
        assert!(
            matches!(
                feeds.rotate(2, anna.id, [4; 32], 201).await,
                Err(DbError::NotFound)
            ),
            "{backend}: another tenant's feed"
        );

        assert!(
            matches!(feeds.delete(2, anna.id).await, Err(DbError::NotFound)),
            "{backend}"
        );
        feeds.delete(1, anna.id).await.unwrap();
        assert!(
            feeds.for_url(anna.id).await.unwrap().is_none(),
            "{backend}: revoked"
        );
        assert!(
            matches!(feeds.delete(1, anna.id).await, Err(DbError::NotFound)),
            "{backend}: twice"
        );
    }
    done(stores).await;
}

#[tokio::test]
async fn store_a_feed_shows_booked_live_holds_and_recent_cancellations_in_its_window_alike() {
    // now = 10,000; window [1,000, 50,000); cancellations kept since 5,000.
    let appointments = "
        INSERT INTO appointments (id, tenant_id, service_id, provider_id, customer_name,
            customer_phone, start_at, end_at, blocked_until, status, hold_expires_at,
            created_at, updated_at)
        VALUES (1, 1, 1, 1, 'Booked', '+13125550199', 20000, 21800, 21800, 'booked', NULL, 1, 1),
               (2, 1, 1, 2, 'Live hold', NULL, 12000, 13800, 13800, 'held', 10500, 2, 2),
               (3, 1, 1, 1, 'Lapsed hold', NULL, 30000, 31800, 31800, 'held', 9000, 3, 3),
               (4, 1, 1, 2, 'Fresh cancel', NULL, 40000, 41800, 41800, 'cancelled', NULL, 4, 6000),
               (5, 1, 1, 1, 'Old cancel', NULL, 42000, 43800, 43800, 'cancelled', NULL, 5, 4000),
               (6, 1, 1, 1, 'Too late', NULL, 60000, 61800, 61800, 'booked', NULL, 6, 6),
               (7, 1, 1, 1, 'Earlier', NULL, 1000, 2800, 2800, 'booked', NULL, 7, 7);";
    let stores = stores(appointments).await;
    for (backend, store, _, _) in &stores {
        let events = store
            .feeds()
            .events(1, None, (1_000, 50_000), 5_000, 10_000)
            .await
            .unwrap();
        let shown: Vec<(i64, &str)> = events.iter().map(|e| (e.id, e.status.as_str())).collect();
        assert_eq!(
            shown,
            [(7, "booked"), (2, "held"), (1, "booked"), (4, "cancelled")],
            "{backend}: by start; lapsed holds, old cancellations and later ones left out"
        );
        assert_eq!(
            (events[2].provider.as_str(), events[2].service.as_str()),
            ("Anna", "Cut")
        );
        let bo: Vec<i64> = store
            .feeds()
            .events(1, Some(2), (1_000, 50_000), 5_000, 10_000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(bo, [2, 4], "{backend}: one provider's feed");
    }
    done(stores).await;
}

#[tokio::test]
async fn store_nothing_runs_once_the_requests_deadline_has_passed_on_either_backend() {
    let stores = stores("").await;
    for (backend, store, _, _) in &stores {
        let past = Instant::now() - Duration::from_millis(1);
        let created =
            deadline::scope(past, store.feeds().create(1, None, "full", [9; 32], 1)).await;
        assert!(
            matches!(created, Err(DbError::Deadline)),
            "{backend}: {created:?}"
        );
        let listed = deadline::scope(past, store.feeds().list(1)).await;
        assert!(
            matches!(listed, Err(DbError::Deadline)),
            "{backend}: {listed:?}"
        );
        assert!(
            store.feeds().list(1).await.unwrap().is_empty(),
            "{backend}: nothing written"
        );
        let later = Instant::now() + Duration::from_secs(30);
        deadline::scope(later, store.feeds().create(1, None, "full", [9; 32], 1))
            .await
            .unwrap();
    }
    done(stores).await;
}

#[tokio::test]
async fn store_webhook_endpoints_are_made_listed_rotated_enabled_and_deleted_alike() {
    let stores = stores("").await;
    for (backend, store, _, _) in &stores {
        let hooks = store.webhooks();
        let events = vec![
            "appointment.booked".to_string(),
            "call.completed".to_string(),
        ];
        let first = hooks
            .create_endpoint(
                1,
                "https://a.example.com/in".into(),
                events.clone(),
                "whsec_a".into(),
                10,
            )
            .await
            .unwrap();
        assert_eq!(
            (first.url.as_str(), &first.events, first.created_at),
            ("https://a.example.com/in", &events, 10),
            "{backend}"
        );
        let second = hooks
            .create_endpoint(
                1,
                "https://b.example.com/in".into(),
                vec![],
                "whsec_b".into(),
                11,
            )
            .await
            .unwrap();
        let ids: Vec<i64> = hooks
            .list_endpoints(1)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, [first.id, second.id], "{backend}: oldest first");
        assert!(
            hooks.list_endpoints(2).await.unwrap().is_empty(),
            "{backend}"
        );
        assert!(
            matches!(
                hooks.get_endpoint(2, first.id).await,
                Err(DbError::NotFound)
            ),
            "{backend}: another tenant's"
        );

        hooks
            .rotate_endpoint(1, first.id, "whsec_c".into())
            .await
            .unwrap();
        assert!(
            matches!(
                hooks.rotate_endpoint(2, first.id, "x".into()).await,
                Err(DbError::NotFound)
            ),
            "{backend}"
        );
        let again = hooks.enable_endpoint(1, first.id).await.unwrap();
        assert_eq!(
            (again.disabled_at, again.failing_since_ms),
            (None, None),
            "{backend}"
        );

        hooks.delete_endpoint(1, second.id).await.unwrap();
        assert!(
            matches!(
                hooks.delete_endpoint(1, second.id).await,
                Err(DbError::NotFound)
            ),
            "{backend}: twice"
        );
        let left: Vec<i64> = hooks
            .list_endpoints(1)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(left, [first.id], "{backend}");
    }
    done(stores).await;
}

#[tokio::test]
async fn store_an_endpoints_deliveries_come_newest_first_with_their_attempts_alike() {
    // Endpoint 1 (disabled after failing) with three deliveries; endpoint 2 has one.
    let seeded = "
        INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret, created_at,
            failing_since_ms, disabled_at, disabled_reason)
        VALUES (1, 1, 'https://a.example.com/in', '[\"appointment.booked\"]', 'whsec_a', 1,
                5000, 9, 'failing for 3 days'),
               (2, 1, 'https://b.example.com/in', '[]', 'whsec_b', 1, NULL, NULL, NULL);
        INSERT INTO webhook_events (id, event_id, tenant_id, type, appointment_id, payload, created_at)
        VALUES (1, 'evt_1', 1, 'appointment.booked', 7, '{}', 1),
               (2, 'evt_2', 1, 'appointment.cancelled', 7, '{}', 2),
               (3, 'evt_3', 1, 'call.completed', NULL, '{}', 3);
        INSERT INTO webhook_deliveries (id, endpoint_id, event_id, appointment_id, status,
            attempts, next_attempt_ms, last_error, created_ms)
        VALUES (1, 1, 1, 7, 'delivered', 2, 0, NULL, 1000),
               (2, 1, 2, 7, 'pending', 1, 9000, 'answered HTTP 500', 2000),
               (3, 1, 3, NULL, 'failed', 5, 0, 'timed out', 3000),
               (4, 2, 1, 7, 'pending', 0, 1000, NULL, 1000);
        INSERT INTO webhook_attempts (id, delivery_id, attempted_ms, http_status, error, duration_ms)
        VALUES (1, 1, 1100, 503, NULL, 40), (2, 1, 1200, 200, NULL, 30),
               (3, 2, 2100, 500, NULL, 25), (4, 3, 3100, NULL, 'timed out', 10000);";
    let stores = stores(seeded).await;
    for (backend, store, _, _) in &stores {
        let hooks = store.webhooks();
        let disabled = hooks.get_endpoint(1, 1).await.unwrap();
        assert_eq!(
            disabled.disabled_reason.as_deref(),
            Some("failing for 3 days"),
            "{backend}"
        );
        let rows = hooks.deliveries(1, 1, 10).await.unwrap();
        let shown: Vec<(i64, &str, &str, Option<i64>)> = rows
            .iter()
            .map(|d| {
                (
                    d.id,
                    d.event_id.as_str(),
                    d.status.as_str(),
                    d.next_attempt_ms,
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (3, "evt_3", "failed", None),
                (2, "evt_2", "pending", Some(9000)),
                (1, "evt_1", "delivered", None)
            ],
            "{backend}: newest first; only a pending one has a next attempt"
        );
        let history: Vec<(i64, Option<u16>)> = rows[2]
            .history
            .iter()
            .map(|a| (a.at_ms, a.http_status))
            .collect();
        assert_eq!(
            history,
            [(1100, Some(503)), (1200, Some(200))],
            "{backend}: oldest first"
        );
        assert_eq!(
            rows[0].history[0].error.as_deref(),
            Some("timed out"),
            "{backend}"
        );
        assert_eq!(
            hooks.deliveries(1, 1, 1).await.unwrap().len(),
            1,
            "{backend}: the limit"
        );
        assert!(
            matches!(hooks.deliveries(2, 1, 10).await, Err(DbError::NotFound)),
            "{backend}: another tenant's"
        );
        let enabled = hooks.enable_endpoint(1, 1).await.unwrap();
        assert_eq!(
            (
                enabled.disabled_at,
                enabled.failing_since_ms,
                enabled.disabled_reason
            ),
            (None, None, None),
            "{backend}"
        );
    }
    done(stores).await;
}

#[tokio::test]
async fn store_document_versions_keep_a_hand_edit_before_the_save_that_replaces_it_alike() {
    let stores = stores("").await;
    for (backend, store, _, _) in &stores {
        let docs = store.documents();
        let first = docs
            .record(
                1,
                "fallback",
                None,
                "<Response>v1</Response>".into(),
                "admin".into(),
                100,
            )
            .await
            .unwrap();
        // The file on disk is what was saved: nothing extra is recorded.
        let second = docs
            .record(
                1,
                "fallback",
                Some(("<Response>v1</Response>".into(), 150)),
                "<Response>v2</Response>".into(),
                "admin (Dana)".into(),
                200,
            )
            .await
            .unwrap();
        // Someone edited the file by hand since: that text is kept first, as `file`.
        let third = docs
            .record(
                1,
                "fallback",
                Some(("<Response>by hand</Response>".into(), 250)),
                "<Response>v3</Response>".into(),
                "console".into(),
                300,
            )
            .await
            .unwrap();
        assert!(first < second && second < third, "{backend}: ids grow");
        let kept: Vec<(String, i64, String)> = docs
            .versions(1, "fallback")
            .await
            .unwrap()
            .into_iter()
            .map(|v| (v.body, v.saved_at, v.saved_by))
            .collect();
        let want = [
            ("<Response>v1</Response>", 100, "admin"),
            ("<Response>v2</Response>", 200, "admin (Dana)"),
            ("<Response>by hand</Response>", 250, "file"),
            ("<Response>v3</Response>", 300, "console"),
        ]
        .map(|(b, t, by)| (b.to_string(), t, by.to_string()));
        assert_eq!(kept, want, "{backend}: oldest first");
        assert!(
            docs.versions(1, "closed").await.unwrap().is_empty(),
            "{backend}"
        );
        assert!(
            docs.versions(2, "fallback").await.unwrap().is_empty(),
            "{backend}: per tenant"
        );
    }
    done(stores).await;
}

/// Endpoints 1 (live) and 2 (disabled) of tenant 1; events 1–3 about appointment 7 and 4
/// about none; deliveries to endpoint 1 of events 1, 2 (behind 1: same appointment) and 4
/// (due later), and to endpoint 2 of event 3.
const QUEUE: &str = "
    INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret, created_at, disabled_at)
    VALUES (1, 1, 'https://a.example.com/in', '[]', 'whsec_a', 1, NULL),
           (2, 1, 'https://b.example.com/in', '[]', 'whsec_b', 1, 5);
    INSERT INTO webhook_events (id, event_id, tenant_id, type, appointment_id, payload, created_at)
    VALUES (1, 'evt_1', 1, 'appointment.booked', 7, '{\"n\":1}', 1),
           (2, 'evt_2', 1, 'appointment.cancelled', 7, '{\"n\":2}', 2),
           (3, 'evt_3', 1, 'appointment.booked', 8, '{\"n\":3}', 3),
           (4, 'evt_4', 1, 'call.completed', NULL, '{\"n\":4}', 4);
    INSERT INTO webhook_deliveries (id, endpoint_id, event_id, appointment_id, next_attempt_ms, created_ms)
    VALUES (1, 1, 1, 7, 1000, 1000), (2, 1, 2, 7, 1000, 1000),
           (3, 2, 3, 8, 1000, 1000), (4, 1, 4, NULL, 5000, 1000);";

#[tokio::test]
async fn store_the_delivery_queue_offers_due_deliveries_in_order_and_leases_each_once_alike() {
    let stores = stores(QUEUE).await;
    for (backend, store, _, _) in &stores {
        let hooks = store.webhooks();
        let ids =
            |c: Vec<slotline::db::webhooks::Candidate>| c.iter().map(|c| c.id).collect::<Vec<_>>();
        // Event 2 waits for event 1 of the same appointment; endpoint 2 is disabled; 4 is not due.
        assert_eq!(
            ids(hooks.candidates(2000, vec![], 10).await.unwrap()),
            [1],
            "{backend}"
        );
        assert!(
            hooks
                .candidates(2000, vec![1], 10)
                .await
                .unwrap()
                .is_empty(),
            "{backend}: busy"
        );
        let claimed = hooks.claim(1, 2000, 58_000).await.unwrap().unwrap();
        assert_eq!(
            (
                claimed.url.as_str(),
                claimed.secret.as_str(),
                claimed.event_id.as_str(),
                claimed.payload.as_str()
            ),
            ("https://a.example.com/in", "whsec_a", "evt_1", "{\"n\":1}"),
            "{backend}"
        );
        assert!(
            hooks.claim(1, 2001, 58_000).await.unwrap().is_none(),
            "{backend}: leased"
        );
        assert!(
            hooks.candidates(2001, vec![], 10).await.unwrap().is_empty(),
            "{backend}: leased, and 2 waits behind it"
        );
        // Once the lease runs out (the worker stopped), it is offered and claimed again.
        assert_eq!(
            ids(hooks.candidates(60_000, vec![], 10).await.unwrap()),
            [1],
            "{backend}"
        );
        assert!(
            hooks.claim(1, 60_000, 60_000).await.unwrap().is_some(),
            "{backend}"
        );

        // Delivered: the next event of the appointment comes up, then the later one.
        let ok = slotline::db::webhooks::Attempt {
            at_ms: 60_001,
            http_status: Some(204),
            error: None,
            duration_ms: 12,
        };
        let disabled = hooks
            .record_attempt(1, ok, slotline::db::webhooks::Then::GiveUp, 1_000, 61)
            .await
            .unwrap();
        assert!(!disabled, "{backend}");
        assert_eq!(
            ids(hooks.candidates(60_002, vec![], 10).await.unwrap()),
            [2],
            "{backend}: one per endpoint, oldest event first"
        );
        assert_eq!(
            hooks
                .deliveries(1, 1, 10)
                .await
                .unwrap()
                .iter()
                .find(|d| d.id == 1)
                .unwrap()
                .status,
            "delivered"
        );
    }
    done(stores).await;
}

#[tokio::test]
async fn store_failed_attempts_retry_then_disable_the_endpoint_after_its_streak_alike() {
    use slotline::db::webhooks::{Attempt, Then};
    let stores = stores(QUEUE).await;
    for (backend, store, _, _) in &stores {
        let hooks = store.webhooks();
        hooks.claim(1, 2000, 58_000).await.unwrap().unwrap();
        let failed = |at_ms| Attempt {
            at_ms,
            http_status: Some(500),
            error: None,
            duration_ms: 30,
        };
        let disabled = hooks
            .record_attempt(1, failed(2_000), Then::RetryAt(3_000), 10_000, 2)
            .await
            .unwrap();
        assert!(!disabled, "{backend}: the streak has just begun");
        let row = hooks
            .deliveries(1, 1, 10)
            .await
            .unwrap()
            .into_iter()
            .find(|d| d.id == 1)
            .unwrap();
        assert_eq!(
            (row.status.as_str(), row.attempts, row.next_attempt_ms),
            ("pending", 1, Some(3_000)),
            "{backend}"
        );
        assert_eq!(
            row.last_error.as_deref(),
            Some("answered HTTP 500"),
            "{backend}"
        );
        assert_eq!(
            hooks.get_endpoint(1, 1).await.unwrap().failing_since_ms,
            Some(2_000),
            "{backend}"
        );

        hooks.claim(1, 3_000, 57_000).await.unwrap().unwrap();
        let timed_out = Attempt {
            at_ms: 12_500,
            http_status: None,
            error: Some("timed out".into()),
            duration_ms: 10_000,
        };
        let disabled = hooks
            .record_attempt(1, timed_out, Then::GiveUp, 10_000, 13)
            .await
            .unwrap();
        assert!(
            disabled,
            "{backend}: failing for 10.5 s of a 10 s allowance"
        );
        let endpoint = hooks.get_endpoint(1, 1).await.unwrap();
        assert_eq!(endpoint.disabled_at, Some(13), "{backend}");
        let why = endpoint.disabled_reason.unwrap();
        assert!(
            why.contains("last error: timed out") && why.contains("/webhooks/1/enable"),
            "{backend}: {why}"
        );
        let row = hooks
            .deliveries(1, 1, 10)
            .await
            .unwrap()
            .into_iter()
            .find(|d| d.id == 1)
            .unwrap();
        assert_eq!(row.status, "failed", "{backend}");
        assert_eq!(row.history.len(), 2, "{backend}");
        assert!(
            hooks
                .candidates(100_000, vec![], 10)
                .await
                .unwrap()
                .is_empty(),
            "{backend}: a disabled endpoint gets nothing"
        );
        // An attempt of a delivery deleted meanwhile (its endpoint was deleted) records nothing.
        hooks.delete_endpoint(1, 1).await.unwrap();
        assert!(
            !hooks
                .record_attempt(4, failed(1), Then::GiveUp, 1, 1)
                .await
                .unwrap(),
            "{backend}"
        );
    }
    done(stores).await;
}

#[tokio::test]
async fn store_of_many_claims_of_one_delivery_at_once_exactly_one_gets_it_even_from_two_nodes() {
    let stores = stores(QUEUE).await;
    for (backend, store, scratch, _) in &stores {
        // On PostgreSQL the second "node" is a second pool on the same database.
        let other = match scratch {
            Some(s) => Store::Postgres(Pg::open(&s.url).await.unwrap()),
            None => store.clone(),
        };
        let claims = (0..16).map(|i| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            async move { node.webhooks().claim(1, 2000, 58_000).await.unwrap() }
        });
        let won = futures_util::future::join_all(claims)
            .await
            .into_iter()
            .filter(Option::is_some)
            .count();
        assert_eq!(won, 1, "{backend}");
    }
    done(stores).await;
}

#[tokio::test]
async fn store_a_lease_is_held_by_one_node_until_it_expires_and_changes_epoch_when_taken_over() {
    let stores = stores("").await;
    for (backend, store, scratch, _) in &stores {
        let leases = store.leases();
        let a = leases
            .acquire("retention", "node-a".into(), 1_000, 500)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((a.epoch, a.expires_ms), (1, 1_500), "{backend}");
        assert!(
            leases
                .acquire("retention", "node-b".into(), 1_200, 500)
                .await
                .unwrap()
                .is_none(),
            "{backend}: live"
        );
        let renewed = leases
            .acquire("retention", "node-a".into(), 1_400, 500)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (renewed.epoch, renewed.expires_ms),
            (1, 1_900),
            "{backend}: a renewal keeps the epoch"
        );
        let b = leases
            .acquire("retention", "node-b".into(), 1_900, 500)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.epoch, 2, "{backend}: taken over once expired");
        assert!(
            leases
                .acquire("retention", "node-a".into(), 2_000, 500)
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
        assert!(
            leases
                .acquire("other job", "node-a".into(), 2_000, 500)
                .await
                .unwrap()
                .is_some(),
            "{backend}: per name"
        );
        leases.release("retention", "node-a".into()).await.unwrap();
        assert!(
            leases
                .acquire("retention", "node-a".into(), 2_000, 500)
                .await
                .unwrap()
                .is_none(),
            "{backend}: only its holder releases it"
        );
        leases.release("retention", "node-b".into()).await.unwrap();
        assert!(
            leases
                .acquire("retention", "node-a".into(), 2_000, 500)
                .await
                .unwrap()
                .is_some(),
            "{backend}: released"
        );

        // Sixteen takes of one expired lease at once, half from a second node: one wins.
        let other = match scratch {
            Some(s) => Store::Postgres(Pg::open(&s.url).await.unwrap()),
            None => store.clone(),
        };
        let takes = (0..16).map(|i| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            async move {
                node.leases()
                    .acquire("race", format!("node-{i}"), 10_000, 500)
                    .await
                    .unwrap()
            }
        });
        let won = futures_util::future::join_all(takes)
            .await
            .into_iter()
            .flatten()
            .count();
        assert_eq!(won, 1, "{backend}");
    }
    done(stores).await;
}

#[tokio::test]
async fn store_postgres_a_write_stuck_past_its_deadline_is_cancelled_and_writes_nothing() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let pg = Pg::open(&scratch.url).await.unwrap();
    scratch.client().await.batch_execute(SEED).await.unwrap();
    let store = Store::Postgres(pg);
    let feed = store
        .feeds()
        .create(1, None, "full", [1; 32], 1)
        .await
        .unwrap();
    // Another session holds the feed's row, so the rotation waits on its lock.
    let mut blocker = scratch.client().await;
    let lock = blocker.transaction().await.unwrap();
    lock.execute("SELECT 1 FROM feeds WHERE id = $1 FOR UPDATE", &[&feed.id])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_millis(300);
    let rotated = deadline::scope(deadline, store.feeds().rotate(1, feed.id, [2; 32], 2)).await;
    assert!(matches!(rotated, Err(DbError::Deadline)), "{rotated:?}");
    lock.commit().await.unwrap();
    // The cancelled statement wrote nothing, and the store goes on serving.
    let access = store.feeds().for_url(feed.id).await.unwrap().unwrap();
    assert_eq!(
        access.secret_hash, [1; 32],
        "the late rotation wrote nothing"
    );
    assert_eq!(access.feed.rotated_at, None);
    let again = store.feeds().rotate(1, feed.id, [3; 32], 3).await.unwrap();
    assert_eq!(again.rotated_at, Some(3));
    drop(store);
    scratch.drop_database().await;
}

#[tokio::test]
async fn store_metrics_queues_and_a_tenants_funnel_count_alike_on_both_backends() {
    // Calls 1–3 in the period (one gathered and offered, one outbound), one before it; a
    // day of pruned calls in call_days; two bookings by phone, one texted and delivered.
    let seeded = "
        INSERT INTO calls (call_sid, tenant_id, direction, status, started_at, gathered_at, offered_at)
        VALUES ('c1', 1, 'inbound', 'completed', 86400, 86401, 86402),
               ('c2', 1, 'inbound', 'completed', 86500, NULL, NULL),
               ('c3', 1, 'outbound-api', 'completed', 86600, NULL, NULL),
               ('c0', 1, 'inbound', 'completed', 10, 11, NULL);
        INSERT INTO call_days (tenant_id, day, calls, inbound, outbound, duration_sum,
            duration_count, gathered, offered)
        VALUES (1, 1, 5, 4, 1, 0, 0, 2, 1);
        INSERT INTO appointments (id, tenant_id, service_id, provider_id, customer_name,
            customer_phone, start_at, end_at, blocked_until, status, call_sid, created_at, updated_at)
        VALUES (1, 1, 1, 1, 'A', '+13125550199', 900000, 901800, 901800, 'booked', 'c1', 86450, 86450),
               (2, 1, 1, 2, 'B', '+13125550198', 900000, 901800, 901800, 'cancelled', 'c2', 86550, 86600),
               (3, 1, 1, 1, 'C', NULL, 990000, 991800, 991800, 'booked', NULL, 86560, 86560);
        INSERT INTO outbox (tenant_id, appointment_id, kind, to_number, from_number, due_at,
            status, created_at, updated_at)
        VALUES (1, 1, 'confirmation', '+13125550199', '+13125550100', 86450, 'delivered', 86450, 86451),
               (1, 2, 'confirmation', '+13125550198', '+13125550100', 86550, 'failed', 86550, 86551),
               (1, 1, 'reminder', '+13125550199', '+13125550100', 800000, 'queued', 86450, 86450),
               (1, 2, 'reminder', '+13125550198', '+13125550100', 86000, 'queued', 86550, 86550);";
    let stores = stores(seeded).await;
    for (backend, store, _, _) in &stores {
        let upkeep = store.upkeep();
        let q = upkeep.queues(100_000).await.unwrap();
        let of =
            |list: &[(&str, i64)], status: &str| list.iter().find(|(s, _)| *s == status).unwrap().1;
        assert_eq!(q.texts.len(), 8, "{backend}: every status, zeros included");
        assert_eq!(
            (
                of(&q.texts, "queued"),
                of(&q.texts, "delivered"),
                of(&q.texts, "sent")
            ),
            (2, 1, 0),
            "{backend}"
        );
        assert_eq!(q.oldest_due_text, Some(86_000), "{backend}");
        assert_eq!(
            upkeep.oldest_due_text(50_000).await.unwrap(),
            None,
            "{backend}: none due yet"
        );
        assert_eq!(
            (q.deliveries.len(), q.reminder_calls.len()),
            (3, 9),
            "{backend}"
        );
        let f = upkeep.funnel(1, 86_400, 172_800).await.unwrap();
        assert_eq!(
            (
                f.calls,
                f.gathered,
                f.offered,
                f.booked,
                f.texted,
                f.delivered
            ),
            (2 + 4, 1 + 2, 1 + 1, 2, 1, 1),
            "{backend}: inbound calls plus the pruned day's, bookings by phone"
        );
        let both = upkeep.funnels(vec![1, 2], 86_400, 172_800).await.unwrap();
        assert_eq!(
            (both[0].calls, both[1].calls),
            (6, 0),
            "{backend}: in the tenants' order"
        );
    }
    done(stores).await;
}

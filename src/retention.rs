//! The pruning job: every [`EVERY`] it deletes what has outlived its use, in batches of
//! [`BATCH`] rows ([`CALL_BATCH`] calls), each batch one short write job with a pause
//! after it, so bookings queue behind at most one batch (a few milliseconds) and never
//! behind the whole pass:
//!
//! - stored gather answers a day after they were stored (their state token lives an hour,
//!   so no retried callback can still need them);
//! - handled messaging webhook events and finished texts after `SLOTLINE_RETAIN_DAYS`
//!   (default 90; queued and sending texts are never touched);
//! - calls after `SLOTLINE_CALL_RETAIN_DAYS` (default 400), counted into `call_days` first
//!   so stats keep their totals;
//! - webhook events no endpoint still waits for, with their deliveries and attempts, and
//!   finished reminder-call attempts, after `SLOTLINE_RETAIN_DAYS`;
//! - cancelled appointments that started and were last changed more than
//!   `SLOTLINE_CALL_RETAIN_DAYS` ago (feeds need a week of them, and a year of stats
//!   counts them); booked appointments are the tenant's history and stay.

use std::{sync::Arc, time::Duration};

use crate::{
    clock::Clock,
    config::Upkeep,
    db::{DbError, retention::Step, store::Store},
    heartbeat::{Beat, IDLE_BEAT},
    metrics::Metrics,
};

/// How often a pass runs (the first one this long after start).
pub const EVERY: Duration = Duration::from_secs(600);
/// Most rows one batch deletes. Measured (bench/scale, a tenth-full database, writer at
/// synchronous=FULL on a loaded 2-core machine): 500 held the writer 8.7 ms for events and
/// 12.7 ms for calls; a tenth of that per row is the aim of "a few milliseconds".
pub const BATCH: usize = 100;
/// Most calls one batch deletes: each deleted call dirties pages of three indexes at
/// random places (its id, its tenant, its start), so on a ten-years-full database 100 of
/// them held the writer 19.6 ms (bench/scale, 10,000,000 calls).
pub const CALL_BATCH: usize = 25;
/// Most messaging or webhook events one batch deletes: 100 of them held the writer 6-9 ms
/// on a ten-years-full database with commit and fsync (bench/scale, 2,000,000 events, a
/// year of them; 2026-12-01), over "a few milliseconds". A year of events is pruned at
/// this rate in well under an hour.
pub const EVENT_BATCH: usize = 25;
/// Pause between two batches, so other writes go first.
const PAUSE: Duration = Duration::from_millis(10);
/// Stored gather answers are kept this long (their token's life is an hour).
pub const ANSWER_LIFE_SECONDS: i64 = 86_400;
const DAY: i64 = 86_400;

/// What one pass removed, and the longest it held the writer.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    /// Stored gather answers.
    pub callback_answers: usize,
    /// Messaging webhook events.
    pub messaging_events: usize,
    /// Finished texts.
    pub texts: usize,
    /// Calls (now counted in `call_days`).
    pub calls: usize,
    /// Cancelled appointments.
    pub cancelled_appointments: usize,
    /// Webhook events (with their deliveries and attempts).
    pub webhook_events: usize,
    /// Finished reminder-call attempts.
    pub reminder_calls: usize,
    /// The longest one batch held the writer with its statements (its commit is its
    /// group's: `db_write_group_hold_seconds` counts both).
    pub longest_hold: Duration,
}

/// One pass at `now` (Unix seconds) under `upkeep`'s settings; `beat` is called after
/// every batch.
pub async fn prune_once(
    store: &Store,
    now: i64,
    upkeep: &Upkeep,
    metrics: Option<&Metrics>,
    beat: &(dyn Fn() + Sync),
) -> Result<Pruned, DbError> {
    let retain = now - i64::from(upkeep.retain_days) * DAY;
    let calls = now - i64::from(upkeep.call_retain_days) * DAY;
    let mut pruned = Pruned::default();
    let steps: [(&str, Step, i64, usize); 7] = [
        (
            "callback_answers",
            Step::CallbackAnswers,
            now - ANSWER_LIFE_SECONDS,
            BATCH,
        ),
        (
            "messaging_events",
            Step::MessagingEvents,
            retain,
            EVENT_BATCH,
        ),
        ("outbox", Step::FinishedTexts, retain, BATCH),
        ("calls", Step::Calls, calls, CALL_BATCH),
        ("appointments", Step::CancelledAppointments, calls, BATCH),
        ("webhook_events", Step::WebhookEvents, retain, EVENT_BATCH),
        ("reminder_calls", Step::ReminderCalls, retain, BATCH),
    ];
    for (table, step, cutoff, batch) in steps {
        loop {
            let (n, held) = store.retention().prune(step, cutoff, batch).await?;
            beat();
            pruned.longest_hold = pruned.longest_hold.max(held);
            if let Some(m) = metrics {
                m.retention_hold.observe(held);
                m.pruned(table, n as u64);
            }
            let total = match step {
                Step::CallbackAnswers => &mut pruned.callback_answers,
                Step::MessagingEvents => &mut pruned.messaging_events,
                Step::FinishedTexts => &mut pruned.texts,
                Step::Calls => &mut pruned.calls,
                Step::CancelledAppointments => &mut pruned.cancelled_appointments,
                Step::WebhookEvents => &mut pruned.webhook_events,
                Step::ReminderCalls => &mut pruned.reminder_calls,
            };
            *total += n;
            if n < batch {
                break;
            }
            tokio::time::sleep(PAUSE).await;
        }
    }
    Ok(pruned)
}

/// The lease a node holds while it prunes ([`crate::db::leases`]): with several nodes on
/// one database, one of them runs each pass.
pub const LEASE: &str = "retention";

/// What the job needs.
pub struct Deps {
    /// The store pruned, and the job's lease.
    pub store: Store,
    /// This node's name as a lease holder.
    pub node: String,
    /// Business time.
    pub clock: Clock,
    /// Retention settings.
    pub upkeep: Upkeep,
    /// Counted into.
    pub metrics: Arc<Metrics>,
    /// Beaten while waiting and after every batch.
    pub beat: Beat,
}

/// This node's name as a lease holder: the host and the address it listens on, so a node
/// restarted in place holds its lease again at once instead of waiting for it to expire.
pub fn node_name(listen: &str) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    format!("{host}@{listen}")
}

/// Runs a pass every [`EVERY`], forever.
pub async fn run(deps: Arc<Deps>) {
    loop {
        let mut waited = Duration::ZERO;
        while waited < EVERY {
            deps.beat.beat();
            tokio::time::sleep(IDLE_BEAT).await;
            waited += IDLE_BEAT;
        }
        // The lease outlasts a pass and the wait before the next, so the node that pruned
        // last keeps pruning while it runs; another takes over once it has stopped.
        let ttl_ms = (2 * EVERY).as_millis() as i64;
        match deps
            .store
            .leases()
            .acquire(
                LEASE,
                deps.node.clone(),
                crate::db::leases::Wall::Now,
                ttl_ms,
            )
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => {
                tracing::debug!("another node holds the retention lease; skipping this pass");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the retention lease; trying again at the next pass");
                continue;
            }
        }
        let now = deps.clock.now().as_second();
        let beat = || deps.beat.beat();
        match prune_once(&deps.store, now, &deps.upkeep, Some(&deps.metrics), &beat).await {
            Ok(p)
                if p == Pruned {
                    longest_hold: p.longest_hold,
                    ..Pruned::default()
                } => {}
            Ok(p) => tracing::info!(
                answers = p.callback_answers,
                events = p.messaging_events,
                texts = p.texts,
                calls = p.calls,
                cancelled = p.cancelled_appointments,
                longest_hold_us = p.longest_hold.as_micros() as u64,
                "pruned what has outlived its retention"
            ),
            Err(e) => tracing::warn!(error = %e, "pruning failed; trying again at the next pass"),
        }
    }
}

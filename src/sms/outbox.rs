//! The outbox worker: one tokio task that sends the texts that are due. It wakes every
//! `poll_interval`, whenever a booking pokes `Deps::wake`, and whenever a send finishes.
//! Each round it sweeps expired leases, asks for due texts chosen fairly (at most a few
//! per sender, none from a sender ahead of its rate), claims them with a lease, decides at
//! send time (appointment still booked? number opted out? daily cap?), renders the words
//! from the current appointment and the sender from the current tenant, and hands the
//! HTTP request to a bounded pool (`in_flight`, 4 by default), so a slow answer for one
//! sender does not hold up another's.
//!
//! What a failed send leads to ([`send`]): retried with backoff when Telnyx provably did
//! not take the text (no connection, an error answer); held as `unknown` when it may have
//! (the answer was lost), never re-sent blindly; a pause of all sending (or of one
//! messaging profile) on an account-level refusal, lifted when a probe is accepted
//! ([`pause`]); failed at once for a refusal of the text itself.

mod pause;
mod send;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{
    sync::{Notify, watch},
    task::JoinSet,
};

pub use pause::{Gate, Pauses};
pub use send::persist_with_retry;

use self::send::{Outcome, Prepared, Report};
use super::MessagingClient;
use crate::{
    clock::Clock,
    config::SmsTuning,
    db::{self, DbError, leases::Wall, store::Store},
};

/// Rows looked at per round.
const BATCH: usize = 32;
/// How often expired leases and held texts are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What the worker needs, and nothing more.
#[derive(Clone)]
pub struct Deps {
    /// Storage (the outbox and its pauses, shared by every node on PostgreSQL).
    pub store: Store,
    /// Business time (due times, appointment starts).
    pub clock: Clock,
    /// The Messaging API; `None` is dry run.
    pub client: Option<MessagingClient>,
    /// Poked when texts are queued.
    pub wake: Arc<Notify>,
    /// Timing, pool size and caps.
    pub tuning: SmsTuning,
    /// `SLOTLINE_PUBLIC_URL` (the per-message webhook URL when it is HTTPS).
    pub public_url: String,
    /// `TELNYX_MESSAGING_PROFILE_ID`, for tenants without their own.
    pub default_profile: Option<String>,
    /// `TELNYX_API_BASE`, for the start-up log.
    pub api_base: String,
    /// Beaten on every round, for `/ready`.
    pub beat: crate::heartbeat::Beat,
}

/// Wall-clock Unix milliseconds (retry, lease and hold timing).
fn wall_ms() -> i64 {
    Clock::wall_ms()
}

/// Starts the worker; it stops when `shutdown` turns true, after the sends in flight.
pub fn spawn(deps: Deps, shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    match &deps.client {
        Some(_) => tracing::info!(
            api = %deps.api_base,
            in_flight = deps.tuning.in_flight,
            "SMS worker started: texts are sent through the Telnyx Messaging API"
        ),
        None => tracing::warn!(
            "SMS worker started in DRY RUN: texts are recorded as dry_run, nothing is sent"
        ),
    }
    // Supervised: a panic (a bad row, a header nobody foresaw) restarts the worker with
    // fresh pacing; the queue, leases and pauses are in the database.
    let deps = Arc::new(deps);
    crate::supervise::spawn("SMS worker", move || {
        let worker = Worker {
            deps: deps.clone(),
            next_free: HashMap::new(),
            pauses: Pauses::new(deps.tuning.backoff_base, deps.tuning.backoff_max),
            tasks: JoinSet::new(),
            last_sweep: None,
        };
        worker.run(shutdown.clone())
    })
}

struct Worker {
    deps: Arc<Deps>,
    /// Per sender: when the next text may go (the token bucket, one token deep).
    next_free: HashMap<String, Instant>,
    pauses: Pauses,
    /// Sends in flight.
    tasks: JoinSet<Report>,
    last_sweep: Option<Instant>,
}

impl Worker {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        match self.deps.store.outbox().pauses().await {
            Ok(list) => {
                for (scope, reason) in list {
                    tracing::error!(scope = %scope_name(&scope), reason = %reason, "SMS sending is PAUSED (from before the restart); probing Telnyx now");
                    self.pauses.restore(&scope, Instant::now());
                }
            }
            Err(e) => tracing::error!(error = %e, "could not read SMS pauses"),
        }
        let poll = self.deps.tuning.poll_interval;
        loop {
            self.deps.beat.beat();
            while let Some(done) = self.tasks.try_join_next() {
                self.settle(done).await;
            }
            if *shutdown.borrow() {
                break;
            }
            self.sweep_if_due().await;
            let started = match self.dispatch().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "SMS worker could not read the outbox; retrying");
                    0
                }
            };
            if started > 0 && self.tasks.len() < self.deps.tuning.in_flight {
                continue;
            }
            let wait = self
                .pauses
                .next_probe_in(Instant::now())
                .map_or(poll, |d| d.min(poll));
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = self.deps.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    self.settle(done).await;
                }
            }
        }
        while let Some(done) = self.tasks.join_next().await {
            self.settle(done).await;
        }
        tracing::info!("SMS worker stopped");
    }

    /// Settles leases that ran out (a previous process died mid-text) and held texts past
    /// the hold.
    async fn sweep_if_due(&mut self) {
        if self.last_sweep.is_some_and(|t| t.elapsed() < SWEEP_EVERY) {
            return;
        }
        self.last_sweep = Some(Instant::now());
        let t = &self.deps.tuning;
        let (hold, cap) = (t.unknown_hold.as_millis() as i64, t.max_reclaims);
        match self
            .deps
            .store
            .outbox()
            .sweep_leases(Wall::Now, hold, cap)
            .await
        {
            Ok(s) if s == db::outbox::Swept::default() => {}
            Ok(s) => {
                tracing::warn!(
                    held = s.held,
                    requeued = s.requeued,
                    failed = s.failed,
                    "settled texts left over by a stopped worker or held past the hold"
                )
            }
            Err(e) => tracing::error!(error = %e, "could not sweep the outbox's leases"),
        }
        // On one SQLite file the recorded pauses are this worker's own: nothing to follow
        // (and a pause whose write failed must not be lifted a second later).
        if matches!(self.deps.store, crate::db::store::Store::Postgres(_)) {
            self.follow_pauses().await;
        }
    }

    /// Takes up the pauses other nodes recorded, and drops those they lifted (their probe
    /// was accepted), so every node sharing a PostgreSQL database pauses and resumes
    /// together.
    async fn follow_pauses(&mut self) {
        let recorded = match self.deps.store.outbox().pauses().await {
            Ok(list) => list,
            Err(e) => {
                tracing::error!(error = %e, "could not read SMS pauses");
                return;
            }
        };
        let now = Instant::now();
        for (scope, reason) in &recorded {
            if self.pauses.pause(scope, now, false) {
                tracing::error!(scope = %scope_name(scope), reason = %reason, "SMS sending PAUSED by another node: Telnyx refuses the account");
            }
        }
        for scope in self.pauses.scopes() {
            if !recorded.iter().any(|(s, _)| *s == scope) && self.pauses.lift(&scope) {
                tracing::warn!(scope = %scope_name(&scope), "SMS sending RESUMED by another node");
                self.deps.wake.notify_one();
            }
        }
    }

    /// Claims due texts whose sender may send now and starts their sends; returns how many
    /// were claimed.
    async fn dispatch(&mut self) -> Result<usize, DbError> {
        let in_flight = self.deps.tuning.in_flight.max(1);
        if self.tasks.len() >= in_flight {
            return Ok(0);
        }
        let now = Instant::now();
        let paced: Vec<String> = self
            .next_free
            .iter()
            .filter(|(_, t)| **t > now)
            .map(|(from, _)| from.clone())
            .collect();
        let today = self.deps.clock.now().as_second();
        let candidates = self
            .deps
            .store
            .outbox()
            .candidates(today, wall_ms(), paced, in_flight, BATCH)
            .await?;
        let lease = self.deps.tuning.lease.as_millis() as i64;
        let mut claimed = 0;
        for cand in candidates {
            if self.tasks.len() >= in_flight {
                break;
            }
            if self
                .next_free
                .get(&cand.from)
                .is_some_and(|t| *t > Instant::now())
            {
                continue; // paced: stays queued for a later round
            }
            let profile = cand
                .profile
                .clone()
                .or_else(|| self.deps.default_profile.clone());
            let probe = match self.pauses.gate(profile.as_deref(), Instant::now()) {
                Gate::Open => None,
                Gate::Probe(scope) => Some(scope),
                Gate::Closed => continue,
            };
            let id = cand.id;
            let Some(row) = self
                .deps
                .store
                .outbox()
                .claim(id, today, Wall::Now, lease)
                .await?
            else {
                continue;
            };
            claimed += 1;
            let from = cand.from.clone();
            let job = match send::prepare(&self.deps, row, cand.rate).await? {
                Prepared::Send(job) => job,
                Prepared::Done => continue,
                Prepared::Paced(wait) => {
                    // Other nodes hold the sender's next slots: wait with them.
                    self.next_free.insert(from, Instant::now() + wait);
                    continue;
                }
            };
            if let Some(scope) = &probe {
                self.pauses.start_probe(scope);
                tracing::info!(scope = %scope_name(scope), outbox = job.id, "probing Telnyx with one paused text");
            }
            self.pace(&job.from, cand.rate, job.wait);
            self.tasks.spawn(send::run(self.deps.clone(), job, probe));
        }
        Ok(claimed)
    }

    /// Reserves the sender's next slot (the caller checked the sender is free), after
    /// `wait` (the slot the store reserved for this send across nodes; zero on SQLite).
    fn pace(&mut self, from: &str, rate: f64, wait: Duration) {
        let gap = Duration::from_secs_f64(1.0 / rate.max(0.001));
        let now = Instant::now() + wait;
        let next = self
            .next_free
            .get(from)
            .copied()
            .filter(|t| *t > now)
            .unwrap_or(now);
        self.next_free.insert(from.to_string(), next + gap);
    }

    /// Applies what a finished send says about the sender and the account.
    async fn settle(&mut self, done: Result<Report, tokio::task::JoinError>) {
        let report = match done {
            Ok(r) => r,
            Err(e) => {
                // Its row stays `sending` with its request started: the sweep holds it.
                tracing::error!(error = %e, "an SMS send task failed");
                return;
            }
        };
        let now = Instant::now();
        match report.outcome {
            Outcome::Accepted => {
                for scope in ["", report.profile.as_deref().unwrap_or("")] {
                    if self.pauses.lift(scope) {
                        if let Err(e) = self.deps.store.outbox().lift_pause(scope.to_string()).await
                        {
                            tracing::error!(error = %e, "could not record that SMS sending resumed");
                        }
                        tracing::warn!(scope = %scope_name(scope), "SMS sending RESUMED: Telnyx accepted a text again");
                        self.deps.wake.notify_one();
                    }
                }
                return;
            }
            Outcome::Paused { scope, reason } => {
                let probing = report.probe.as_deref() == Some(scope.as_str());
                if self.pauses.pause(&scope, now, probing) {
                    tracing::error!(scope = %scope_name(&scope), reason = %reason, "SMS sending PAUSED: Telnyx refuses the account; texts wait (none is failed) and a probe retries with backoff");
                    if let Err(e) = self
                        .deps
                        .store
                        .outbox()
                        .set_pause(scope.clone(), reason.clone(), wall_ms())
                        .await
                    {
                        tracing::error!(error = %e, "could not record the SMS pause");
                    }
                }
                if let Some(p) = report.probe.filter(|p| *p != scope) {
                    self.pauses.probe_failed(&p, now);
                }
                return;
            }
            Outcome::RateLimited(Some(reset)) => {
                // The whole sender waits, not only this text.
                self.next_free.insert(report.from.clone(), now + reset);
            }
            Outcome::RateLimited(None) | Outcome::Other => {}
        }
        if let Some(p) = report.probe {
            self.pauses.probe_failed(&p, now);
        }
    }
}

/// A pause scope for logs.
fn scope_name(scope: &str) -> String {
    if scope.is_empty() {
        "all sending".into()
    } else {
        format!("messaging profile {scope}")
    }
}

/// `base · 2^(attempt-1)`, capped at `max`, with "equal jitter": half fixed, half random,
/// so many texts failing together do not retry together.
pub fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(max);
    let half = exp / 2;
    half + half.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(60);
        for _ in 0..100 {
            let first = backoff(base, max, 1);
            assert!(first >= Duration::from_secs(1) && first <= base);
            let third = backoff(base, max, 3);
            assert!(third >= Duration::from_secs(4) && third <= Duration::from_secs(8));
            assert!(backoff(base, max, 30) <= max);
        }
    }
}

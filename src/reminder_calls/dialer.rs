//! The dialer: one supervised tokio task that places the reminder calls that are due.
//! Each round it settles what a stopped dialer left ([`db::reminder_calls::ReminderCalls::sweep`]), counts
//! the calls dialling or live across all tenants against the concurrency cap, claims due
//! calls with a lease, decides again at dial time ([`decide`]: still booked, not moved,
//! not stopped, inside the window, the per-day and healthcare limits), and dials through
//! the one account-wide pacer (`SLOTLINE_CALLS_PER_SECOND`, no bursts). A 429/90103 pauses
//! every dial for the wait Telnyx asks (the call is dialled later, not failed); a lost
//! answer is `unknown` and never dialled again; 10005 fails loudly naming both fixes.
//! Without a client (no `TELNYX_API_KEY`, or no `TELNYX_TEXML_APP_ID`) calls are recorded
//! as `dry_run`.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use jiff::Timestamp;
use tokio::{sync::watch, task::JoinSet};

use super::{
    client::{DialError, DialRequest, TexmlCalls, caller_id},
    plan::{self, AtDial},
    settings::CallSettings,
};
use crate::{
    clock::Clock,
    db::{
        self, DbError,
        leases::Wall,
        outbox::{Begun, Pace},
        reminder_calls::Claimed,
        store::Store,
    },
    domain::reminder_calls::Profile,
    token::{Claims, Step, TokenSigner},
};

/// How often leases and stale live calls are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How long a reminder call's tokens stay valid (ring, talk, and late callbacks).
pub const TOKEN_LIFETIME_SECONDS: i64 = 4 * 3600;
/// Ring time asked of Telnyx.
const RING_SECONDS: u32 = 30;
/// Hard cap on a reminder call (a reschedule turn included).
const TIME_LIMIT_SECONDS: u32 = 600;

/// What the dialer needs, and nothing more.
#[derive(Clone)]
pub struct Deps {
    /// The queue: sweeps, the cap's count, claims, the request's progress (shared by
    /// every node on PostgreSQL).
    pub store: Store,
    /// Business time (due times, windows, appointment starts).
    pub clock: Clock,
    /// The TeXML Calls API; `None` is dry run (the reason is in `dry_run_reason`).
    pub client: Option<TexmlCalls>,
    /// Why calls are recorded as dry run, when they are.
    pub dry_run_reason: String,
    /// Signs the tokens in the call's URLs.
    pub tokens: Arc<TokenSigner>,
    /// Cap, pacing and timing.
    pub settings: CallSettings,
    /// `SLOTLINE_PUBLIC_URL`.
    pub public_url: String,
    /// Beaten every round, so `/ready` sees a wedged dialer.
    pub beat: crate::heartbeat::Beat,
}

/// What the MAC of a reminder call's tokens is bound to in place of a `CallSid` (not
/// known when the call is dialled). The token's subject, its row, is under the MAC too,
/// so a token names exactly one call.
pub const BINDING: &str = "reminder-call";

/// What the dialer does with a claimed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Dial it now.
    Dial,
    /// Put it back until then (Unix seconds).
    Wait(i64, &'static str),
    /// Do not call; the reason is recorded.
    Skip(&'static str),
}

/// Decides at dial time, from the appointment and the limits as they are now.
pub fn decide(c: &Claimed, now: Timestamp) -> Decision {
    if c.appointment_status != "booked" {
        return Decision::Skip("the appointment is no longer booked");
    }
    if c.start != c.for_start {
        return Decision::Skip("the appointment moved");
    }
    let Some(spec) = &c.spec else {
        return Decision::Skip("the tenant switched reminder calls off");
    };
    if c.opted_out {
        return Decision::Skip("the number stopped these calls");
    }
    if c.attempt == 1 && c.other_today {
        return Decision::Skip("this appointment already had a reminder call today");
    }
    if spec.profile == Profile::Healthcare {
        if c.to_number_today >= 1 {
            return Decision::Skip("healthcare profile: this number had its 1 call today");
        }
        if c.to_number_week >= 3 {
            return Decision::Skip("healthcare profile: this number had its 3 calls this week");
        }
    }
    let start = Timestamp::from_second(c.start).unwrap_or(Timestamp::MIN);
    match plan::at_dial(spec, &c.tz, start, now) {
        AtDial::Dial => Decision::Dial,
        AtDial::Wait(t) => Decision::Wait(t, "waiting for the calling window"),
        AtDial::Skip(reason) => Decision::Skip(reason),
    }
}

/// The farthest the account's next dial slot is reserved ahead across nodes (at most a
/// quarter of the lease, which the dial holds while it waits).
const HORIZON_MS: i64 = 1_000;

/// Wall-clock Unix milliseconds (leases).
fn wall_ms() -> i64 {
    Clock::wall_ms()
}

/// Starts the dialer; it stops when `shutdown` turns true, after the dials in flight.
pub fn spawn(deps: Deps, shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    match &deps.client {
        Some(c) => tracing::info!(
            endpoint = c.endpoint().name(),
            path = %c.dial_path(),
            max_concurrent = deps.settings.max_concurrent,
            per_second = deps.settings.per_second,
            "reminder-call dialer started: calls go through the TeXML Calls API"
        ),
        None => tracing::warn!(
            reason = %deps.dry_run_reason,
            "reminder-call dialer started in DRY RUN: calls are recorded as dry_run, none is placed"
        ),
    }
    let deps = Arc::new(deps);
    // Supervised: the queue and leases are in the database, so a restart loses nothing.
    crate::supervise::spawn("reminder-call dialer", move || {
        let dialer = Dialer {
            deps: deps.clone(),
            next_dial: Instant::now(),
            paused_until: None,
            tasks: JoinSet::new(),
            last_sweep: None,
        };
        dialer.run(shutdown.clone())
    })
}

/// What a finished dial says about the account.
enum Report {
    Done,
    /// Telnyx asked to slow down: no dial for this long.
    RateLimited(Duration),
}

struct Dialer {
    deps: Arc<Deps>,
    /// When the next dial may go (the account-wide pacer).
    next_dial: Instant,
    /// No dial before this (after a 429).
    paused_until: Option<Instant>,
    tasks: JoinSet<Report>,
    last_sweep: Option<Instant>,
}

impl Dialer {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let poll = self.deps.settings.poll_interval;
        loop {
            self.deps.beat.beat();
            while let Some(done) = self.tasks.try_join_next() {
                self.settle(done);
            }
            if *shutdown.borrow() {
                break;
            }
            self.sweep_if_due().await;
            if let Err(e) = self.dispatch().await {
                tracing::error!(error = %e, "the dialer could not read its queue; retrying");
            }
            let now = Instant::now();
            let mut wait = poll;
            if let Some(p) = self.paused_until {
                wait = wait.min(p.saturating_duration_since(now));
            }
            if self.next_dial > now {
                wait = wait.min(self.next_dial - now);
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep(wait) => {}
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => self.settle(done),
            }
        }
        while let Some(done) = self.tasks.join_next().await {
            self.settle(done);
        }
        tracing::info!("reminder-call dialer stopped");
    }

    fn settle(&mut self, done: Result<Report, tokio::task::JoinError>) {
        match done {
            Ok(Report::Done) => {}
            Ok(Report::RateLimited(wait)) => {
                let until = Instant::now() + wait;
                if self.paused_until.is_none_or(|p| p < until) {
                    self.paused_until = Some(until);
                }
            }
            // Its row stays `dialing` with the request started: the sweep makes it unknown.
            Err(e) => tracing::error!(error = %e, "a reminder-call dial task failed"),
        }
    }

    async fn sweep_if_due(&mut self) {
        if self.last_sweep.is_some_and(|t| t.elapsed() < SWEEP_EVERY) {
            return;
        }
        self.last_sweep = Some(Instant::now());
        let now = self.deps.clock.now().as_second();
        match self.deps.store.reminder_calls().sweep(Wall::Now, now).await {
            Ok(s) if s == db::reminder_calls::Swept::default() => {}
            Ok(s) => tracing::warn!(
                requeued = s.requeued,
                unknown = s.unknown,
                "settled reminder calls left by a stopped dialer"
            ),
            Err(e) => tracing::error!(error = %e, "could not sweep the reminder calls"),
        }
    }

    /// Claims and dials what the cap, the pacer and the clock allow now.
    async fn dispatch(&mut self) -> Result<(), DbError> {
        if let Some(p) = self.paused_until {
            if Instant::now() < p {
                return Ok(());
            }
            self.paused_until = None;
        }
        let cap = self.deps.settings.max_concurrent.max(1);
        let live = self.deps.store.reminder_calls().in_progress().await?;
        if live >= cap {
            return Ok(());
        }
        let now = self.deps.clock.now();
        let secs = now.as_second();
        let ids = self
            .deps
            .store
            .reminder_calls()
            .due(secs, cap - live)
            .await?;
        let lease = self.deps.settings.lease.as_millis() as i64;
        for id in ids {
            if self.deps.client.is_some() && self.next_dial > Instant::now() {
                break; // paced: the rest wait for the next round
            }
            let Some(claimed) = self
                .deps
                .store
                .reminder_calls()
                .claim(id, secs, Wall::Now, lease, cap)
                .await?
            else {
                continue;
            };
            let decision = decide(&claimed, now);
            let deps = self.deps.clone();
            match (decision, &self.deps.client) {
                (Decision::Skip(reason), _) => {
                    tracing::info!(
                        call = id,
                        appointment = claimed.appointment_id,
                        reason,
                        "reminder call skipped"
                    );
                    deps.store
                        .reminder_calls()
                        .close(id, "skipped", reason.to_string(), false, secs)
                        .await?;
                }
                (Decision::Wait(until, reason), _) => {
                    deps.store
                        .reminder_calls()
                        .requeue(id, until, reason.to_string(), secs)
                        .await?;
                }
                (Decision::Dial, None) => {
                    let reason = format!("dry run: {}", deps.dry_run_reason);
                    tracing::info!(call = id, appointment = claimed.appointment_id, to = %crate::domain::mask(&claimed.to), "reminder call recorded as dry run");
                    deps.store
                        .reminder_calls()
                        .close(id, "dry_run", reason, true, secs)
                        .await?;
                }
                (Decision::Dial, Some(client)) => {
                    let gap = Duration::from_secs_f64(1.0 / self.deps.settings.per_second.max(0.1));
                    self.next_dial = self.next_dial.max(Instant::now()) + gap;
                    let req = self.request(client, &claimed, secs);
                    let horizon = (lease / 4).min(HORIZON_MS);
                    let gap_ms = Pace::gap_ms(self.deps.settings.per_second.max(0.1));
                    let wait = match deps
                        .store
                        .reminder_calls()
                        .begin_request(id, secs, wall_ms(), gap_ms, horizon)
                        .await?
                    {
                        Begun::Go { wait_ms, .. } => Duration::from_millis(wait_ms.max(0) as u64),
                        Begun::Paced { wait_ms } => {
                            // Other nodes hold the next dial slots: wait with them.
                            let until =
                                Instant::now() + Duration::from_millis(wait_ms.max(0) as u64);
                            self.next_dial = self.next_dial.max(until);
                            continue;
                        }
                        Begun::Lost | Begun::Capped { .. } => {
                            tracing::warn!(
                                reminder_call = id,
                                "not dialling: this claim's lease ran out and the call went on without it"
                            );
                            continue;
                        }
                    };
                    if !wait.is_zero() {
                        self.next_dial = self.next_dial.max(Instant::now() + wait + gap);
                    }
                    let client = client.clone();
                    self.tasks.spawn(dial(deps, client, claimed, req, wait));
                }
            }
        }
        Ok(())
    }

    /// The dial request for `c`: URLs carrying its signed token (no customer data).
    fn request(&self, client: &TexmlCalls, c: &Claimed, now: i64) -> DialRequest {
        let claims = Claims {
            tenant_id: c.tenant_id,
            step: Step::Reminder,
            attempt: c.attempt,
            turn: 1,
            subject: c.id,
            expires_at: now + TOKEN_LIFETIME_SECONDS,
        };
        let token = self.deps.tokens.sign(&claims, BINDING);
        let url = |path: &str| format!("{}/texml/reminder{path}?s={token}", self.deps.public_url);
        DialRequest {
            application_sid: client.application_sid(),
            to: c.to.clone(),
            from: c.from.clone(),
            caller_id: caller_id(&c.business),
            url: url(""),
            url_method: "POST",
            status_callback: url("/status"),
            status_callback_method: "POST",
            status_callback_event: "initiated ringing answered completed",
            machine_detection: "DetectMessageEnd",
            async_amd: true,
            async_amd_status_callback: url("/amd"),
            async_amd_status_callback_method: "POST",
            timeout: RING_SECONDS,
            time_limit: TIME_LIMIT_SECONDS,
        }
    }
}

/// What a dial's answer leaves the call's row as.
enum Then {
    /// Telnyx took it (with its CallSid, when it said).
    Live(Option<String>),
    /// Back to the queue, due then, for this reason.
    Requeue(i64, String),
    /// Ended with this status (and outcome), for this reason.
    Close(&'static str, String),
}

/// Records what a dial's answer leaves call `id` as.
async fn record(deps: &Deps, id: i64, then: Then, now: i64) -> Result<(), DbError> {
    let calls = deps.store.reminder_calls();
    match then {
        Then::Live(sid) => calls.mark_live(id, sid, now).await,
        Then::Requeue(due, reason) => calls.requeue(id, due, reason, now).await,
        Then::Close(status, e) => calls.close(id, status, e, false, now).await,
    }
}

/// Dials one call (once its slot comes, `wait` from now) and records what came of it.
async fn dial(
    deps: Arc<Deps>,
    client: TexmlCalls,
    c: Claimed,
    req: DialRequest,
    wait: Duration,
) -> Report {
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let id = c.id;
    let result = client.dial(&req).await;
    let now = deps.clock.now().as_second();
    let (report, then) = match result {
        Ok(d) => {
            tracing::info!(call = id, appointment = c.appointment_id, attempt = c.attempt, to = %crate::domain::mask(&c.to), "reminder call placed");
            (Report::Done, Then::Live(d.call_sid))
        }
        Err(DialError::RateLimited { code, retry_after }) => {
            let wait = retry_after.unwrap_or(deps.settings.rate_limit_wait);
            tracing::warn!(call = id, code = %code, wait_ms = wait.as_millis() as u64, "Telnyx rate-limited a reminder call; every dial waits, then this call is dialled again");
            let reason = format!(
                "rate limited by Telnyx ({code}); dialled again after {} ms",
                wait.as_millis()
            );
            (Report::RateLimited(wait), Then::Requeue(now, reason))
        }
        Err(DialError::Transient(e)) => {
            let later = now + deps.settings.transient_wait.as_secs() as i64;
            tracing::warn!(call = id, error = %e, "a reminder call could not reach Telnyx; it is dialled again later");
            (Report::Done, Then::Requeue(later, e))
        }
        Err(DialError::Unknown(e)) => {
            tracing::error!(call = id, error = %e, "a reminder call's outcome is unknown; it is not dialled again");
            (Report::Done, Then::Close("unknown", e))
        }
        Err(e @ DialError::NotFound { .. }) => {
            let e = e.to_string();
            tracing::error!(call = id, "REMINDER CALLS CANNOT BE PLACED: {e}");
            (Report::Done, Then::Close("failed", e))
        }
        Err(e @ DialError::Refused { .. }) => {
            let e = e.to_string();
            tracing::error!(call = id, error = %e, "Telnyx refused a reminder call");
            (Report::Done, Then::Close("failed", e))
        }
    };
    if let Err(e) = record(&deps, id, then, now).await {
        // The row stays `dialing` with its request started: the sweep makes it unknown.
        tracing::error!(call = id, error = %e, "could not record a reminder call's dial");
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reminder_calls::{DEFAULT_WINDOW, ReminderCallsSpec};

    fn claimed() -> Claimed {
        let start: Timestamp = "2026-11-24T21:00:00Z".parse().unwrap();
        Claimed {
            id: 1,
            tenant_id: 1,
            appointment_id: 1,
            hours_before: 24,
            attempt: 1,
            to: "+13125550199".into(),
            from: "+13125550100".into(),
            business: "Bella Salon".into(),
            appointment_status: "booked".into(),
            start: start.as_second(),
            for_start: start.as_second(),
            spec: Some(ReminderCallsSpec {
                hours_before: vec![24],
                window: DEFAULT_WINDOW,
                voicemail: true,
                profile: Profile::Standard,
                words: Default::default(),
            }),
            tz: jiff::tz::TimeZone::get("America/Chicago").unwrap(),
            opted_out: false,
            other_today: false,
            to_number_today: 0,
            to_number_week: 0,
        }
    }

    #[test]
    fn a_call_is_dialled_only_when_nothing_says_no() {
        let now: Timestamp = "2026-11-23T21:00:00Z".parse().unwrap();
        assert_eq!(decide(&claimed(), now), Decision::Dial);
        let mut moved = claimed();
        moved.start += 3600;
        assert!(matches!(decide(&moved, now), Decision::Skip(_)));
        let mut stopped = claimed();
        stopped.opted_out = true;
        assert_eq!(
            decide(&stopped, now),
            Decision::Skip("the number stopped these calls")
        );
        let mut twice = claimed();
        twice.other_today = true;
        assert!(matches!(decide(&twice, now), Decision::Skip(_)));
        let mut cancelled = claimed();
        cancelled.appointment_status = "cancelled".into();
        assert!(matches!(decide(&cancelled, now), Decision::Skip(_)));
    }

    #[test]
    fn the_healthcare_profile_keeps_to_one_call_a_day_and_three_a_week() {
        let now: Timestamp = "2026-11-23T21:00:00Z".parse().unwrap();
        let mut c = claimed();
        if let Some(s) = c.spec.as_mut() {
            s.profile = Profile::Healthcare;
        }
        assert_eq!(decide(&c, now), Decision::Dial);
        c.to_number_week = 3;
        assert!(matches!(decide(&c, now), Decision::Skip(r) if r.contains("3 calls")));
        c.to_number_week = 1;
        c.to_number_today = 1;
        assert!(matches!(decide(&c, now), Decision::Skip(r) if r.contains("1 call")));
        // A standard tenant may retry the same day.
        let mut s = claimed();
        s.to_number_today = 1;
        assert_eq!(decide(&s, now), Decision::Dial);
    }
}

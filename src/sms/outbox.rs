//! The outbox worker: one tokio task that sends the texts that are due. It wakes every
//! `poll_interval` and whenever a booking pokes [`AppState::outbox`], claims due rows
//! with a lease, decides at send time (appointment still booked? number opted out?),
//! renders the words from the current appointment, paces each sender to its tenant's
//! `sms_rate_per_second`, sends, and records the Telnyx message id.
//!
//! Retries: 429 (waiting at least `x-ratelimit-reset`), 5xx, timeouts and connection
//! errors are retried with exponential backoff and jitter up to `max_attempts`, then the
//! text is `failed` with the reason. Permanent refusals stop at once; 40300 also records
//! the opt-out. Without an API key every text is finished as `dry_run` with its words.
//!
//! Crash window: a send that Telnyx accepted, with the process dying before the message
//! id is recorded, is sent again once the lease runs out. `POST /messages` has no
//! idempotency key (PROTOCOL.md §6), so this one duplicate cannot be ruled out.

use std::{
    collections::HashMap,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use jiff::Timestamp;
use tokio::sync::watch;

use super::{
    Kind, SendError,
    client::SendRequest,
    texts::{self, Facts},
    words,
};
use crate::{
    db::{
        self, DbError,
        outbox::{AppointmentFacts, Claimed},
    },
    domain::mask,
    startup::AppState,
};

/// Rows looked at per poll.
const BATCH: usize = 32;

/// Wall-clock Unix milliseconds (retry and lease timing).
fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Starts the worker; it stops when `shutdown` turns true, after finishing the text in
/// flight.
pub fn spawn(state: AppState, shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    match &state.messaging {
        Some(_) => tracing::info!(
            api = %state.settings.telnyx_api_base,
            "SMS worker started: texts are sent through the Telnyx Messaging API"
        ),
        None => tracing::warn!(
            "SMS worker started in DRY RUN (no TELNYX_API_KEY): texts are recorded as dry_run, nothing is sent"
        ),
    }
    let worker = Worker {
        state,
        next_free: HashMap::new(),
    };
    tokio::spawn(worker.run(shutdown))
}

struct Worker {
    state: AppState,
    /// Per sender: when the next text may go (the token bucket, one token deep).
    next_free: HashMap<String, Instant>,
}

/// What to do with a claimed text, decided at send time.
enum Decision {
    Send(String),
    Finish {
        status: &'static str,
        reason: String,
        text: Option<String>,
    },
}

impl Worker {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let poll = self.state.settings.sms.poll_interval;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let busy = match self.tick(&shutdown).await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::error!(error = %e, "SMS worker could not read the outbox; retrying");
                    false
                }
            };
            if busy {
                continue;
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = self.state.outbox.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        tracing::info!("SMS worker stopped");
    }

    /// Handles the due texts whose sender may send now; returns how many.
    async fn tick(&mut self, shutdown: &watch::Receiver<bool>) -> Result<usize, DbError> {
        let now = self.state.clock.now().as_second();
        let candidates = self
            .state
            .db
            .run(move |c| db::outbox::candidates(c, now, wall_ms(), BATCH))
            .await?;
        let mut handled = 0;
        for cand in candidates {
            if *shutdown.borrow() {
                break;
            }
            if self
                .next_free
                .get(&cand.from)
                .is_some_and(|t| *t > Instant::now())
            {
                continue; // paced: stays queued for a later poll
            }
            let lease = self.state.settings.sms.lease.as_millis() as i64;
            let id = cand.id;
            let Some(row) = self
                .state
                .db
                .write(move |c| db::outbox::claim(c, id, now, wall_ms(), lease))
                .await?
            else {
                continue;
            };
            handled += 1;
            self.process(row, cand.rate).await?;
        }
        Ok(handled)
    }

    async fn process(&mut self, row: Claimed, rate: f64) -> Result<(), DbError> {
        let id = row.id;
        let decision = self.decide(&row).await?;
        let text = match decision {
            Decision::Finish {
                status,
                reason,
                text,
            } => {
                tracing::info!(outbox = id, kind = row.kind.as_str(), to = %mask(&row.to), status, reason, "text not sent");
                let reason = Some(reason).filter(|r| !r.is_empty());
                return self
                    .state
                    .db
                    .write(move |c| {
                        db::outbox::finish(c, id, status, reason.as_deref(), text.as_deref())
                    })
                    .await;
            }
            Decision::Send(text) => text,
        };
        let Some(client) = self.state.messaging.clone() else {
            tracing::info!(outbox = id, kind = row.kind.as_str(), to = %mask(&row.to), "dry run: text recorded, not sent");
            return self
                .state
                .db
                .write(move |c| db::outbox::finish(c, id, "dry_run", None, Some(&text)))
                .await;
        };
        let t = text.clone();
        self.state
            .db
            .write(move |c| db::outbox::set_text(c, id, &t))
            .await?;
        self.pace(&row.from, rate);
        let public = &self.state.settings.public_url;
        let req = SendRequest {
            from: row.from.clone(),
            to: row.to.clone(),
            text,
            messaging_profile_id: row.profile.clone(),
            // Telnyx must reach it; without HTTPS the messaging profile's webhook is used.
            webhook_url: public
                .starts_with("https://")
                .then(|| format!("{public}/messaging/webhook")),
            kind: "SMS",
        };
        match client.send(&req).await {
            Ok(sent) => {
                tracing::info!(outbox = id, kind = row.kind.as_str(), to = %mask(&row.to), message_id = %sent.id, parts = ?sent.parts, "text sent");
                self.state
                    .db
                    .write(move |c| db::outbox::mark_sent(c, id, &sent.id))
                    .await
            }
            Err(e) => self.failed(&row, e).await,
        }
    }

    /// Checks a claimed text against the current state and renders its words.
    async fn decide(&self, row: &Claimed) -> Result<Decision, DbError> {
        let now = self.state.clock.now().as_second();
        let finish = |status, reason: &str| Decision::Finish {
            status,
            reason: reason.into(),
            text: None,
        };
        let appt = row.appointment.as_ref();
        if matches!(row.kind, Kind::Confirmation | Kind::Reminder) {
            match appt {
                None => return Ok(finish("cancelled", "the appointment no longer exists")),
                Some(a) if a.status != "booked" => {
                    return Ok(finish("cancelled", "appointment cancelled"));
                }
                Some(a) if row.kind == Kind::Reminder && a.start <= now => {
                    return Ok(finish("skipped", "the appointment had already started"));
                }
                _ => {}
            }
        }
        let (to, profile) = (row.to.clone(), row.profile.clone());
        if self
            .state
            .db
            .run(move |c| db::messaging::is_opted_out(c, &to, profile.as_deref()))
            .await?
        {
            return Ok(finish("skipped", "recipient opted out (STOP)"));
        }
        let text = match (&row.text, appt) {
            (Some(t), _) => t.clone(),
            (None, Some(a)) => texts::render(row.kind, &facts(a)),
            (None, None) => {
                return Ok(finish(
                    "failed",
                    "nothing to say: no text and no appointment",
                ));
            }
        };
        if let Some(word) = words::forbidden_word(&text) {
            return Ok(Decision::Finish {
                status: "failed",
                reason: format!(
                    "the text contains the opt-out keyword {word}, which would unsubscribe the customer; reword the template or names"
                ),
                text: Some(text),
            });
        }
        Ok(Decision::Send(text))
    }

    /// Waits for nothing: the caller checked the sender is free. Reserves the next slot.
    fn pace(&mut self, from: &str, rate: f64) {
        let gap = Duration::from_secs_f64(1.0 / rate.max(0.001));
        let now = Instant::now();
        let next = self
            .next_free
            .get(from)
            .copied()
            .filter(|t| *t > now)
            .unwrap_or(now);
        self.next_free.insert(from.to_string(), next + gap);
    }

    async fn failed(&mut self, row: &Claimed, e: SendError) -> Result<(), DbError> {
        let id = row.id;
        let tuning = &self.state.settings.sms;
        tracing::warn!(outbox = id, to = %mask(&row.to), attempt = row.attempts, error = %e, "text not accepted");
        if e.is_retryable() && row.attempts < tuning.max_attempts {
            let mut delay = backoff(tuning.backoff_base, tuning.backoff_max, row.attempts);
            if let SendError::RateLimited { reset: Some(reset) } = &e {
                delay = delay.max(*reset);
                // The whole sender waits, not only this text.
                self.next_free
                    .insert(row.from.clone(), Instant::now() + *reset);
            }
            let next = wall_ms() + delay.as_millis() as i64;
            let reason = format!("attempt {}: {e}", row.attempts);
            return self
                .state
                .db
                .write(move |c| db::outbox::retry_later(c, id, next, &reason))
                .await;
        }
        let reason = if e.is_retryable() {
            format!("gave up after {} attempts; last error: {e}", row.attempts)
        } else {
            e.to_string()
        };
        let opted_out = matches!(e, SendError::OptedOut(_));
        let (to, profile) = (row.to.clone(), row.profile.clone());
        let now = self.state.clock.now().as_second();
        self.state
            .db
            .write(move |c| {
                if opted_out {
                    db::messaging::record_opt_out(c, &to, profile.as_deref(), now)?;
                }
                db::outbox::finish(c, id, "failed", Some(&reason), None)
            })
            .await
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

fn facts(a: &AppointmentFacts) -> Facts {
    Facts {
        business: a.business.clone(),
        service: a.service.clone(),
        provider: a.provider.clone(),
        start: Timestamp::from_second(a.start).unwrap_or(Timestamp::UNIX_EPOCH),
        tz: a.tz.clone(),
        phone: a.phone.clone(),
        name: a.customer_name.clone(),
        sms_confirmation: a.sms_confirmation.clone(),
        sms_reminder: a.sms_reminder.clone(),
    }
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

//! One text, from claimed row to recorded outcome: the send-time decision (still wanted?
//! opted out? over the daily cap?), the request, and what its answer means. Nothing here
//! re-sends a text Telnyx may already have: a lost answer holds the text as `unknown`, and
//! an accepted send whose recording fails is recorded again from memory, with backoff.

use std::{future::Future, sync::Arc, time::Duration};

use jiff::Timestamp;

use super::{Deps, backoff, wall_ms};
use crate::{
    db::{
        DbError,
        outbox::{AppointmentFacts, Begun, Claimed, OptOut, Pace},
    },
    domain::mask,
    sms::{
        Kind, SendError,
        client::SendRequest,
        texts::{self, Facts},
        words,
    },
};

/// Tries to record an accepted send this many times before leaving it to the webhooks.
const RECORD_TRIES: u32 = 8;
/// First pause between those tries; doubled each time, up to [`RECORD_MAX_DELAY`].
const RECORD_FIRST_DELAY: Duration = Duration::from_millis(50);
const RECORD_MAX_DELAY: Duration = Duration::from_secs(5);

/// A claimed text ready to go: its words and sender are fixed and its request is recorded
/// as started.
#[derive(Debug, Clone)]
pub struct Job {
    /// Outbox id.
    pub id: i64,
    kind: Kind,
    to: String,
    /// The sender it goes from (pacing key).
    pub from: String,
    profile: Option<String>,
    attempts: u32,
    text: String,
    /// How long to wait for the sender's slot before the request (0 on SQLite).
    pub wait: Duration,
}

/// What [`prepare`] made of a claimed text.
pub enum Prepared {
    /// Finished without a request (skipped, cancelled, dry run...).
    Done,
    /// Other nodes use its sender's rate for this long: the text is back in the queue.
    Paced(Duration),
    /// To be sent.
    Send(Job),
}

/// What a finished send tells the worker.
#[derive(Debug)]
pub struct Report {
    /// Sender.
    pub from: String,
    /// Messaging profile used.
    pub profile: Option<String>,
    /// The pause scope this send probed, if it was a probe.
    pub probe: Option<String>,
    /// What happened.
    pub outcome: Outcome,
}

/// What a send's answer means beyond its own text.
#[derive(Debug)]
pub enum Outcome {
    /// Telnyx took it: the key and profile work.
    Accepted,
    /// An account-level refusal: pause `scope` ('' for all sending).
    Paused {
        /// '' or a messaging profile id.
        scope: String,
        /// Shown on the paused texts.
        reason: String,
    },
    /// 429: the sender waits this long.
    RateLimited(Option<Duration>),
    /// Anything else (retried, held or failed: only this text is concerned).
    Other,
}

/// Decides about a claimed text and, if it is to be sent, records it as being sent;
/// `rate` is its sender's (texts a second).
pub async fn prepare(deps: &Deps, row: Claimed, rate: f64) -> Result<Prepared, DbError> {
    let id = row.id;
    let profile = row.profile.clone().or_else(|| deps.default_profile.clone());
    let cap = deps.tuning.daily_cap_per_number;
    let (status, reason, text) = match decide(deps, &row, profile.clone()).await? {
        Decision::Send(text) if deps.client.is_some() => {
            let pace = Pace {
                gap_ms: Pace::gap_ms(rate),
                daily_cap: cap,
                horizon_ms: (deps.tuning.lease.as_millis() as i64 / 4).min(HORIZON_MS),
            };
            let begun = deps
                .store
                .outbox()
                .begin_send(
                    id,
                    text.clone(),
                    row.from.clone(),
                    profile.clone(),
                    wall_ms(),
                    pace,
                )
                .await?;
            match begun {
                Begun::Go { wait_ms, .. } => {
                    return Ok(Prepared::Send(Job {
                        id,
                        kind: row.kind,
                        to: row.to,
                        from: row.from,
                        profile,
                        attempts: row.attempts,
                        text,
                        wait: millis(wait_ms),
                    }));
                }
                Begun::Lost => {
                    tracing::warn!(
                        text = id,
                        "not sending: this claim's lease ran out and the text went on without it"
                    );
                    return Ok(Prepared::Done);
                }
                Begun::Paced { wait_ms } => return Ok(Prepared::Paced(millis(wait_ms))),
                Begun::Capped { sent } => ("skipped", capped(sent, cap), None),
            }
        }
        Decision::Send(text) => ("dry_run", String::new(), Some(text)),
        Decision::Finish {
            status,
            reason,
            text,
        } => (status, reason, text),
    };
    tracing::info!(outbox = id, kind = row.kind.as_str(), to = %mask(&row.to), status, reason, "text not sent");
    let reason = Some(reason).filter(|r| !r.is_empty());
    deps.store.outbox().finish(id, status, reason, text).await?;
    Ok(Prepared::Done)
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

/// Checks a claimed text against the current state and renders its words.
async fn decide(deps: &Deps, row: &Claimed, profile: Option<String>) -> Result<Decision, DbError> {
    let now = deps.clock.now().as_second();
    let finish = |status, reason: &str| Decision::Finish {
        status,
        reason: reason.into(),
        text: None,
    };
    let appt = row.appointment.as_ref();
    if matches!(row.kind, Kind::Confirmation | Kind::Reminder | Kind::Moved) {
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
    let cap = deps.tuning.daily_cap_per_number;
    let recipient = deps
        .store
        .outbox()
        .recipient(row.to.clone(), profile, wall_ms() - 86_400_000)
        .await?;
    let sent_today = recipient.sent_since;
    if recipient.opted_out {
        return Ok(finish("skipped", "recipient opted out (STOP)"));
    }
    if sent_today >= cap {
        return Ok(finish("skipped", &capped(sent_today, cap)));
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

/// Why a text to a number at the daily cap is skipped.
fn capped(sent: u32, cap: u32) -> String {
    format!(
        "this number has had {sent} texts in 24 hours, the cap (SLOTLINE_SMS_DAILY_CAP is {cap})"
    )
}

/// The farthest a sender's slot is reserved ahead, across nodes (at most a quarter of the
/// lease, which the send holds while it waits).
const HORIZON_MS: i64 = 1_000;

fn millis(ms: i64) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

/// Sends `job` (once its sender's slot comes) and records the outcome; `probe` is the
/// pause scope it probes, if any.
pub async fn run(deps: Arc<Deps>, job: Job, probe: Option<String>) -> Report {
    if !job.wait.is_zero() {
        tokio::time::sleep(job.wait).await;
    }
    let outcome = match &deps.client {
        Some(client) => {
            let public = &deps.public_url;
            let req = SendRequest {
                from: job.from.clone(),
                to: job.to.clone(),
                text: job.text.clone(),
                messaging_profile_id: job.profile.clone(),
                // Telnyx must reach it; without HTTPS the messaging profile's webhook is used.
                webhook_url: public
                    .starts_with("https://")
                    .then(|| format!("{public}/messaging/webhook")),
                kind: "SMS",
            };
            match client.send(&req).await {
                Ok(sent) => {
                    tracing::info!(outbox = job.id, kind = job.kind.as_str(), to = %mask(&job.to), message_id = %sent.id, parts = ?sent.parts, "text sent");
                    record_sent(&deps, job.id, sent.id).await;
                    Outcome::Accepted
                }
                Err(e) => match refused(&deps, &job, e).await {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        // The row stays `sending` with its request started: the sweep
                        // holds it rather than sending it again.
                        tracing::error!(outbox = job.id, error = %e, "could not record a refused send");
                        Outcome::Other
                    }
                },
            }
        }
        None => Outcome::Other,
    };
    Report {
        from: job.from,
        profile: job.profile,
        probe,
        outcome,
    }
}

/// Records an accepted send, retrying with backoff: the message id is only in memory
/// until this succeeds. If it never does, the text is held by the sweep and matched to its
/// delivery webhook by to/from/text; it is never sent again.
async fn record_sent(deps: &Deps, id: i64, message_id: String) {
    let store = &deps.store;
    let result = persist_with_retry(RECORD_TRIES, RECORD_FIRST_DELAY, RECORD_MAX_DELAY, || {
        let mid = message_id.clone();
        async move { store.outbox().mark_sent(id, mid).await }
    })
    .await;
    if let Err(e) = result {
        tracing::error!(outbox = id, message_id = %message_id, error = %e, "Telnyx accepted the text but it could not be recorded; it stays held and is not sent again");
    }
}

/// Runs `op` up to `tries` times, sleeping `first`, then twice as long each time (at most
/// `max`), between failures; returns the last error.
pub async fn persist_with_retry<F, Fut>(
    tries: u32,
    first: Duration,
    max: Duration,
    mut op: F,
) -> Result<(), DbError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), DbError>>,
{
    let mut delay = first;
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= tries => return Err(e),
            Err(e) => {
                tracing::warn!(attempt, error = %e, "recording an accepted text failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(max);
                attempt += 1;
            }
        }
    }
}

/// Records a send Telnyx did not accept (or whose answer was lost) and says what it
/// means for the sender and the account.
async fn refused(deps: &Deps, job: &Job, e: SendError) -> Result<Outcome, DbError> {
    let id = job.id;
    let tuning = &deps.tuning;
    tracing::warn!(outbox = id, to = %mask(&job.to), attempt = job.attempts, error = %e, "text not accepted");
    if let SendError::Account { profile_only, .. } = &e {
        let scope = match (profile_only, &job.profile) {
            (true, Some(p)) => p.clone(),
            _ => String::new(),
        };
        let reason = format!(
            "paused: {e}; nothing is failed, sending resumes by itself once Telnyx accepts a probe"
        );
        deps.store
            .outbox()
            .requeue_paused(id, reason.clone())
            .await?;
        return Ok(Outcome::Paused { scope, reason });
    }
    if let SendError::Unknown(detail) = &e {
        let hold = tuning.unknown_hold.as_secs() / 60;
        let reason = format!(
            "outcome unknown ({detail}): Telnyx may have sent it, so it is held and not sent again; a delivery webhook settles it, else it fails after {hold} min"
        );
        deps.store
            .outbox()
            .hold_unknown(id, wall_ms(), reason)
            .await?;
        return Ok(Outcome::Other);
    }
    let outcome = match &e {
        SendError::RateLimited { reset } => Outcome::RateLimited(*reset),
        _ => Outcome::Other,
    };
    if e.is_retryable() && job.attempts < tuning.max_attempts {
        let mut delay = backoff(tuning.backoff_base, tuning.backoff_max, job.attempts);
        if let SendError::RateLimited { reset: Some(reset) } = &e {
            delay = delay.max(*reset);
        }
        let next = wall_ms() + delay.as_millis() as i64;
        let reason = format!("attempt {}: {e}", job.attempts);
        deps.store.outbox().retry_later(id, next, reason).await?;
        return Ok(outcome);
    }
    let reason = if e.is_retryable() {
        format!("gave up after {} attempts; last error: {e}", job.attempts)
    } else {
        e.to_string()
    };
    let opt_out = matches!(e, SendError::OptedOut(_)).then(|| OptOut {
        number: job.to.clone(),
        profile: job.profile.clone(),
        at: deps.clock.now().as_second(),
    });
    deps.store.outbox().fail(id, reason, opt_out).await?;
    Ok(outcome)
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
        sms_moved: a.sms_moved.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn recording_an_accepted_send_is_retried_until_it_succeeds() {
        let calls = AtomicU32::new(0);
        let ms = Duration::from_millis(1);
        let result = persist_with_retry(5, ms, ms, || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(DbError::Join("database is locked".into()))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert!(result.is_ok());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "two failures, then recorded"
        );
    }

    #[tokio::test]
    async fn recording_gives_up_after_the_last_try_with_the_error() {
        let calls = AtomicU32::new(0);
        let ms = Duration::from_millis(1);
        let result = persist_with_retry(3, ms, ms, || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(DbError::Join("disk full".into())) }
        })
        .await;
        assert!(result.unwrap_err().to_string().contains("disk full"));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}

//! A reminder call once Telnyx reaches back: the answer fetch (the appointment is checked
//! again: cancelled or moved while ringing → a short apology, no details, hang up), the
//! person's choice (1 confirm, 2 the reschedule turn or a person, 3 cancel after asking
//! again, 9 stop these calls, * repeat; one re-prompt, then "we'll text you"), the
//! answering-machine result (after the greeting: redirect to the voicemail document), the
//! voicemail itself, and the status callbacks that settle the attempt (and plan a retry).
//!
//! Every choice is idempotent per (CallSid, round): a retried callback gets the answer
//! stored the first time and changes nothing more.

use std::sync::Arc;

use jiff::Timestamp;
use serde::Deserialize;

mod callbacks;

use callbacks::voicemail_doc;
pub use callbacks::{Answered, amd, answered, status, voicemail};

use super::{FlowError, gather::Turn};
use crate::{
    booking::local_label,
    db::{
        self,
        appointments::{ChangeOutcome, Notify},
        reminder_calls::CallFacts,
    },
    directory::Entry,
    domain::reminder_calls::{CANCELLED, CONFIRMED, Profile, STOPPED},
    reminder_calls::{Outcome, dialer},
    sms::reminders,
    startup::AppState,
    texml::{
        Texml,
        callback::GatherCallback,
        docs::{self, reminder::spoken_seconds, render::DocValues},
        templates::{ReminderAskDoc, SayDoc},
    },
    token::{Claims, Step},
    wording::{self, Values},
};

/// Said when the appointment is no longer on: no details, whoever answered.
const WITHDRAWN: &str =
    "Sorry, this call is no longer needed, and there is nothing you need to do. Goodbye.";
/// Most rounds one reminder call gets (repeats included) before it says goodbye.
const MAX_ROUNDS: u32 = 6;
/// A hang-up and nothing else.
const HANG_UP: &str =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n  <Hangup/>\n</Response>";
/// The longest speech the healthcare profile allows (FCC: under one minute).
const HEALTHCARE_SPEECH_SECONDS: f64 = 60.0;

/// The fields of Telnyx's requests on a reminder call's URLs (answer fetch, `<Gather>`
/// action, status and AMD callbacks); unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReminderForm {
    /// The call.
    #[serde(default)]
    pub call_sid: Option<String>,
    /// `human`, `machine`, `machine_start`, `machine_end_beep`, ... (both vocabularies).
    #[serde(default)]
    pub answered_by: Option<String>,
    /// The key pressed.
    #[serde(default)]
    pub digits: Option<String>,
    /// What was said.
    #[serde(default)]
    pub speech_result: Option<String>,
    /// `initiated`, `ringing`, `in-progress`, `completed`, `busy`, `no-answer`, `failed`, `canceled`.
    #[serde(default)]
    pub call_status: Option<String>,
    /// Seconds, on the final status.
    #[serde(default)]
    pub call_duration: Option<String>,
}

/// What the person chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Confirm,
    Reschedule,
    Cancel,
    Stop,
    Repeat,
    Yes,
    No,
    Unclear,
}

/// Reads the `<Gather>` result: the key first, else the words.
fn choice(form: &ReminderForm, yes_no: bool) -> Choice {
    let digits = form.digits.as_deref().map(str::trim).unwrap_or_default();
    let said = form
        .speech_result
        .as_deref()
        .unwrap_or_default()
        .to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| said.contains(w));
    if yes_no {
        return match digits {
            "1" => Choice::Yes,
            "2" => Choice::No,
            "" if has(&["yes", "cancel it", "yeah", "sure"]) => Choice::Yes,
            "" if has(&["no", "keep"]) => Choice::No,
            _ => Choice::Unclear,
        };
    }
    match digits {
        "1" => Choice::Confirm,
        "2" => Choice::Reschedule,
        "3" => Choice::Cancel,
        "9" => Choice::Stop,
        "*" => Choice::Repeat,
        "" if has(&["confirm", "yes"]) => Choice::Confirm,
        "" if has(&["reschedul", "change", "move"]) => Choice::Reschedule,
        "" if has(&["cancel"]) => Choice::Cancel,
        "" if has(&["stop"]) => Choice::Stop,
        "" if has(&["repeat", "again"]) => Choice::Repeat,
        _ => Choice::Unclear,
    }
}

/// One request on a reminder call, with what answering it needs.
struct Call<'a> {
    state: &'a AppState,
    entry: Arc<Entry>,
    claims: Claims,
    facts: CallFacts,
    call_sid: String,
    now: Timestamp,
}

impl<'a> Call<'a> {
    /// The call named by `claims`, or `None` when its row is gone.
    async fn load(
        state: &'a AppState,
        claims: Claims,
        call_sid: Option<String>,
    ) -> Result<Option<Call<'a>>, FlowError> {
        let entry = state
            .directory
            .by_id(&state.store, claims.tenant_id)
            .await?;
        let (tenant, id) = (claims.tenant_id, claims.subject);
        let Some(facts) = state
            .store
            .appointments()
            .reminder_call_facts(tenant, id)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Call {
            state,
            entry,
            claims,
            facts,
            call_sid: call_sid.unwrap_or_default(),
            now: state.clock.now(),
        }))
    }

    /// The appointment is still what the call is about: booked, not moved, not started.
    fn still_on(&self) -> bool {
        self.facts.appointment_status == "booked"
            && self.facts.start == self.facts.for_start
            && self.facts.start > self.now.as_second()
    }

    /// An absolute URL of `/texml/reminder{path}` carrying a token for `step`.
    fn url(&self, path: &str, step: Step, attempt: u32, turn: u32) -> String {
        let claims = Claims {
            step,
            attempt,
            turn,
            expires_at: self.now.as_second() + dialer::TOKEN_LIFETIME_SECONDS,
            ..self.claims
        };
        let token = self.state.tokens.sign(&claims, dialer::BINDING);
        format!(
            "{}/texml/reminder{path}?s={token}",
            self.state.settings.public_url
        )
    }

    /// The appointment's day in words ("today", "tomorrow", "on Tuesday, November 24").
    fn day(&self) -> String {
        let tz = &self.entry.rules.tz;
        let start = Timestamp::from_second(self.facts.start).unwrap_or(self.now);
        let (day, today) = (
            start.to_zoned(tz.clone()).date(),
            self.now.to_zoned(tz.clone()).date(),
        );
        if day == today {
            "today".into()
        } else if today.tomorrow().is_ok_and(|t| t == day) {
            "tomorrow".into()
        } else {
            format!("on {}", start.to_zoned(tz.clone()).strftime("%A, %B %-d"))
        }
    }

    /// The appointment in local words: "tomorrow, Tuesday, November 24 at 3:00 PM".
    fn when(&self) -> String {
        let start = Timestamp::from_second(self.facts.start).unwrap_or(self.now);
        let label = local_label(start, &self.entry.rules.tz);
        match self.day().as_str() {
            "today" => format!("today, {label}"),
            "tomorrow" => format!("tomorrow, {label}"),
            _ => format!("on {label}"),
        }
    }

    /// The values of the reminder documents.
    fn values(&self, action: &str) -> DocValues {
        DocValues::for_tenant(&self.entry.tenant.spec)
            .with("service", &self.facts.service.to_lowercase())
            .with("provider", &self.facts.provider)
            .with("when", &self.when())
            .with("day", &self.day())
            .with("action", action)
    }

    /// Serves reminder document `name`; under the healthcare profile a tenant's document
    /// that speaks for a minute or more is replaced by the built-in one.
    fn document(&self, name: &str, values: &DocValues) -> Texml {
        let spec = &self.entry.tenant.spec;
        let doc = self.state.docs.serve(Some(&spec.slug), name, values);
        let healthcare = spec
            .reminder_calls
            .as_ref()
            .is_some_and(|r| r.profile == Profile::Healthcare);
        if healthcare && spoken_seconds(doc.as_str()) >= HEALTHCARE_SPEECH_SECONDS {
            tracing::error!(
                tenant = spec.slug,
                document = name,
                "this reminder document speaks for a minute or more, over the healthcare profile's limit; the built-in one is served"
            );
            if let Some(built_in) =
                docs::built_in(name).and_then(|t| docs::render_checked(t, values).ok())
            {
                return Texml(built_in);
            }
        }
        doc
    }

    /// The reminder itself, its choices going to a round-`turn` token.
    fn reminder(&self, attempt: u32, turn: u32) -> Texml {
        let action = self.url("/answer", Step::ReminderChoice, attempt, turn);
        self.document("reminder_call", &self.values(&action))
    }

    /// The tenant's reminder-call wording for `field`, its placeholders filled.
    fn words(&self, field: &wording::Field) -> String {
        let spec = &self.entry.tenant.spec;
        let own = spec.reminder_calls.as_ref().map(|r| r.words.get(field));
        let start = Timestamp::from_second(self.facts.start).unwrap_or(self.now);
        let local = start.to_zoned(self.entry.rules.tz.clone());
        let (date, time) = (
            local.strftime("%A, %B %-d").to_string(),
            local.strftime("%-I:%M %p").to_string(),
        );
        let values = Values {
            date: Some(&date),
            time: Some(&time),
            ..Values::business(&spec.name)
        };
        wording::fill(own.unwrap_or(field.default), &values)
    }

    /// `message` in the tenant's voice, then hang up.
    fn say(&self, message: &str) -> Texml {
        Texml::render(&SayDoc {
            voice: Some(&self.entry.tenant.spec.voice),
            message,
            transfer: None,
            caller_id: "",
        })
    }

    async fn outcome(&self, outcome: &'static str) -> Result<(), FlowError> {
        let (id, now) = (self.facts.id, self.now.as_second());
        self.state
            .store
            .appointments()
            .set_reminder_outcome(id, outcome, now)
            .await?;
        Ok(())
    }

    /// Records the call's sid and the AMD result the request carries.
    async fn note(&self, form: &ReminderForm) -> Result<(), FlowError> {
        let (id, now) = (self.facts.id, self.now.as_second());
        let (sid, by) = (form.call_sid.clone(), form.answered_by.clone());
        self.state
            .store
            .appointments()
            .note_reminder_call(id, sid, by, now)
            .await?;
        Ok(())
    }

    /// The apology for a call whose appointment is no longer on.
    async fn withdrawn(&self) -> Result<Texml, FlowError> {
        self.outcome(Outcome::Withdrawn.as_str()).await?;
        tracing::info!(
            call = self.facts.id,
            appointment = self.facts.appointment_id,
            "reminder call answered after its appointment was cancelled or moved; apologised"
        );
        Ok(self.say(WITHDRAWN))
    }

    /// The answer stored for this round, if the callback came before.
    async fn answered_before(&self) -> Result<Option<String>, FlowError> {
        let (sid, key) = (self.call_sid.clone(), self.claims.step_key());
        Ok(self
            .state
            .store
            .appointments()
            .callback_answer(sid, key)
            .await?)
    }

    /// This round's answer `doc` as it is stored. The attempt's outcome is the reminder
    /// call's own (`reminder_calls`), so the turn settles nothing.
    fn answer(&self, doc: &Texml) -> db::calls::Answer {
        db::calls::Answer {
            call_sid: self.call_sid.clone(),
            step: self.claims.step_key(),
            texml: doc.0.clone(),
            heard: String::new(),
            said: crate::call::heard::spoken_lines(doc.as_str()).join("\n"),
            outcome: None,
            documents: None,
        }
    }

    /// Stores `doc` as this round's answer (or returns the one stored first).
    async fn remember(&self, doc: Texml) -> Result<Texml, FlowError> {
        let answer = self.answer(&doc);
        let stored = self
            .state
            .store
            .appointments()
            .remember_answer(answer)
            .await?;
        Ok(Texml(stored))
    }
}

/// `POST /texml/reminder`: the callee answered; the appointment is checked again.
pub async fn answer(
    state: &AppState,
    claims: Claims,
    form: ReminderForm,
) -> Result<Texml, FlowError> {
    let Some(call) = Call::load(state, claims, form.call_sid.clone()).await? else {
        return Ok(Texml(HANG_UP.into()));
    };
    call.note(&form).await?;
    if !call.still_on() {
        return call.withdrawn().await;
    }
    // With synchronous AMD the result may come on this fetch already.
    if form.answered_by.as_deref().map(answered) == Some(Answered::MachineReady) {
        return voicemail_doc(&call).await;
    }
    Ok(call.reminder(1, 1))
}

/// `POST /texml/reminder/answer`: what the person pressed or said.
pub async fn choose(
    state: &AppState,
    claims: Claims,
    form: ReminderForm,
) -> Result<Texml, FlowError> {
    let Some(call) = Call::load(state, claims, form.call_sid.clone()).await? else {
        return Ok(Texml(HANG_UP.into()));
    };
    if let Some(previous) = call.answered_before().await? {
        return Ok(Texml(previous));
    }
    if !call.still_on() {
        let doc = call.withdrawn().await?;
        return call.remember(doc).await;
    }
    let next_turn = claims.turn + 1;
    let doc = match (
        claims.step,
        choice(&form, claims.step == Step::ReminderCancel),
    ) {
        (Step::ReminderCancel, Choice::Yes) => return cancel(&call).await,
        (Step::ReminderCancel, Choice::No) => {
            call.outcome(Outcome::Confirmed.as_str()).await?;
            call.say("Alright, your appointment stays as it is. See you then. Goodbye.")
        }
        (Step::ReminderCancel, _) if claims.attempt < 2 && next_turn <= MAX_ROUNDS => {
            ask_cancel(&call, "Sorry, I didn't get that. ", 2, next_turn)
        }
        (Step::ReminderCancel, _) => {
            call.say("Your appointment stays as it is. We'll text you the details. Goodbye.")
        }
        (_, Choice::Confirm) => {
            call.outcome(Outcome::Confirmed.as_str()).await?;
            call.say(&call.words(&CONFIRMED))
        }
        (_, Choice::Reschedule) => {
            call.outcome(Outcome::Rescheduled.as_str()).await?;
            reschedule(&call).await?
        }
        (_, Choice::Cancel) => ask_cancel(&call, "", 1, next_turn),
        (_, Choice::Stop) => {
            let (tenant, number, now) = (
                call.facts.tenant_id,
                call.facts.to.clone(),
                call.now.as_second(),
            );
            state
                .store
                .appointments()
                .stop_reminder_calls(tenant, number, now)
                .await?;
            call.outcome(Outcome::Stopped.as_str()).await?;
            tracing::info!(tenant, to = %crate::domain::mask(&call.facts.to), "a number stopped this tenant's reminder calls");
            call.say(&call.words(&STOPPED))
        }
        (_, Choice::Repeat) if next_turn <= MAX_ROUNDS => call.reminder(claims.attempt, next_turn),
        (_, Choice::Unclear) if claims.attempt < 2 && next_turn <= MAX_ROUNDS => {
            call.reminder(2, next_turn)
        }
        _ => call.say("We'll text you the details instead. Goodbye."),
    };
    call.remember(doc).await
}

/// "Press 1 to cancel, 2 to keep it", asked before anything is cancelled.
fn ask_cancel(call: &Call<'_>, lead: &str, attempt: u32, turn: u32) -> Texml {
    let action = call.url("/answer", Step::ReminderCancel, attempt, turn);
    Texml::render(&ReminderAskDoc {
        action: &action,
        voice: &call.entry.tenant.spec.voice,
        prompt: &format!(
            "{lead}To cancel your appointment {}, press 1 or say yes. To keep it, press 2 or say no.",
            call.day()
        ),
        after: "Your appointment stays as it is. We'll text you the details. Goodbye.",
    })
}

/// The person said yes to cancelling: cancelled with its text, in one transaction.
async fn cancel(call: &Call<'_>) -> Result<Texml, FlowError> {
    let spec = &call.entry.tenant.spec;
    let notify = reminders::textable(spec, &call.facts.to).then(|| Notify {
        to: call.facts.to.clone(),
        from: reminders::sender(spec).to_string(),
        profile: reminders::profile(spec, call.state.settings.messaging_profile_id.as_deref()),
    });
    let doc = call.say(&call.words(&CANCELLED));
    let (tenant, appt, answer, now) = (
        call.facts.tenant_id,
        call.facts.appointment_id,
        call.answer(&doc),
        call.now.as_second(),
    );
    let done = call
        .state
        .store
        .appointments()
        .cancel_for_call(tenant, appt, notify, answer, now)
        .await?;
    match done {
        ChangeOutcome::Done => {
            call.outcome(Outcome::Cancelled.as_str()).await?;
            call.state.outbox.notify_one();
            tracing::info!(tenant, appointment = appt, "cancelled on a reminder call");
            Ok(doc)
        }
        ChangeOutcome::AlreadyAnswered(previous) => Ok(Texml(previous)),
        ChangeOutcome::NotBooked | ChangeOutcome::Taken => {
            let doc = call.withdrawn().await?;
            call.remember(doc).await
        }
    }
}

/// "2": the line's reschedule turn for this appointment, or a person when the line takes
/// no changes by phone (`recognize_callers` off), or the number to call.
async fn reschedule(call: &Call<'_>) -> Result<Texml, FlowError> {
    let spec = &call.entry.tenant.spec;
    if spec.line.recognize_callers {
        let turn = Turn::new(
            call.state,
            call.entry.clone(),
            Claims {
                step: Step::Move,
                attempt: 1,
                subject: call.facts.appointment_id,
                ..call.claims
            },
            GatherCallback {
                call_sid: call.call_sid.clone(),
                // On a call the line placed, `From` is the line and the person is `To`.
                from: Some(spec.phone_number.as_str().to_string()),
                to: Some(call.facts.to.clone()),
                status: None,
                result: None,
                history: Vec::new(),
            },
            call.now,
        );
        return turn.move_reminded().await;
    }
    Ok(match &spec.transfer_number {
        Some(number) => Texml::render(&SayDoc {
            voice: Some(&spec.voice),
            message: "Let me connect you with someone who can find you another time.",
            transfer: Some(number.as_str()),
            caller_id: spec.phone_number.as_str(),
        }),
        None => call.say(&format!(
            "To find another time, please call us at {}. Goodbye.",
            spec.phone_number.as_str()
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(digits: &str, speech: &str) -> ReminderForm {
        ReminderForm {
            digits: (!digits.is_empty()).then(|| digits.into()),
            speech_result: (!speech.is_empty()).then(|| speech.into()),
            ..ReminderForm::default()
        }
    }

    #[test]
    fn keys_and_words_read_as_the_same_choices() {
        for (d, s, want) in [
            ("1", "", Choice::Confirm),
            ("", "Confirm please", Choice::Confirm),
            ("2", "", Choice::Reschedule),
            ("", "I need to reschedule", Choice::Reschedule),
            ("3", "", Choice::Cancel),
            ("", "cancel", Choice::Cancel),
            ("9", "", Choice::Stop),
            ("*", "", Choice::Repeat),
            ("5", "", Choice::Unclear),
            ("", "", Choice::Unclear),
        ] {
            assert_eq!(choice(&form(d, s), false), want, "{d:?} {s:?}");
        }
        assert_eq!(choice(&form("1", ""), true), Choice::Yes);
        assert_eq!(choice(&form("", "no, keep it"), true), Choice::No);
    }
}

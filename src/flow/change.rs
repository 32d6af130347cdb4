//! Callers who move or cancel an appointment by phone: who is calling (their `From`, which
//! matches the number a booking was made from or texts), which of their appointments they
//! mean, the tenant's notice window, then the new time or a yes/no, and the change itself
//! in one transaction with its text. A withheld or unknown number never reveals or changes
//! anything.

use jiff::{
    Timestamp,
    civil::{Date, Time},
};

use super::{
    FlowError, ask,
    gather::{MAX_ALTERNATIVES, Offer, Turn, spoken, yes_or_no},
};
use crate::{
    agenda::{self, provider_pool},
    booking::{self, local_label, today_local},
    db::{
        appointments::{AppointmentRow, ChangeOutcome, Move, Notify},
        calls::Outcome,
    },
    sms::reminders,
    texml::{Texml, schema},
    token::Step,
};

/// What the caller wants done to an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Give it another time.
    Move,
    /// Call it off.
    Cancel,
}

impl Change {
    fn verb(self) -> &'static str {
        match self {
            Change::Move => "move",
            Change::Cancel => "cancel",
        }
    }
}

/// How the line's words start once it has moved an appointment (the console reads a call's
/// outcome from them).
pub const MOVED: &str = "Done. Your ";
/// How the line's words start once it has cancelled an appointment.
pub const CANCELLED: &str = "Done: ";

/// Said when the caller's number is withheld or unreadable.
const WITHHELD: &str =
    "I can't see the number you're calling from, so I can't look up your appointment.";
/// What "yes" means before a cancellation.
const CANCEL_ABOUT: &str = "Whether the caller wants this appointment cancelled";

/// An upcoming appointment of the caller, with what moving it needs.
struct Theirs {
    row: AppointmentRow,
    service_id: i64,
    provider_id: i64,
}

impl Turn<'_> {
    /// The caller asked to move or cancel: find their appointments by the number they call
    /// from, then name the one they have, or ask which. `first` is the first question's
    /// result: a caller with one appointment who already said the new day and time ("move
    /// it to Thursday at 3") is moved at once.
    pub(super) async fn change(
        &self,
        change: Change,
        first: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Result<Texml, FlowError> {
        let Some(number) = self.recognised_number() else {
            return self.refuse_unrecognised(change).await;
        };
        let theirs = self.upcoming(&number).await?;
        let doc = match theirs.as_slice() {
            [] => {
                let greeting = "I couldn't find an upcoming appointment for the number you're calling from. I can book a new one: what would you like?";
                self.ask_booking(greeting)
            }
            [one] => {
                let when = first.and_then(|r| ask::read_when(r).ok());
                return self.chosen(change, one, when).await;
            }
            several => self.pick_doc(change, several, "", 1),
        };
        self.remember(doc).await
    }

    /// A reminder call's "reschedule": the new-time question for the appointment in the
    /// token (the notice window and a retired service still apply).
    pub(super) async fn move_reminded(&self) -> Result<Texml, FlowError> {
        match self.subject().await? {
            Some(appt) => self.chosen(Change::Move, &appt, None).await,
            None => self.gone().await,
        }
    }

    /// The caller said which of their appointments they mean.
    pub(super) async fn pick(&self, change: Change) -> Result<Texml, FlowError> {
        let Some(number) = self.recognised_number() else {
            return self.refuse_unrecognised(change).await;
        };
        let theirs = self.upcoming(&number).await?;
        let choices: Vec<String> = theirs.iter().map(|t| self.label(&t.row)).collect();
        let said = self
            .fields(&[schema::APPOINTMENT], || schema::pick_schema(&choices))
            .await
            .and_then(|r| ask::field(&r, &[schema::APPOINTMENT]).map(str::to_string));
        let picked = said.as_deref().and_then(|s| {
            choices
                .iter()
                .position(|c| c.eq_ignore_ascii_case(s.trim()))
        });
        match (picked, theirs.as_slice()) {
            (_, []) => {
                let doc = self.say_goodbye("Sorry, I can't find that appointment any more.");
                self.remember(doc).await
            }
            (Some(i), _) => self.chosen(change, &theirs[i], None).await,
            (None, several) => {
                let doc = if self.claims.attempt >= self.entry.tenant.spec.max_attempts
                    || self.out_of_turns()
                {
                    self.hand_off(
                        "Sorry, I couldn't tell which appointment you mean.",
                        "Please contact us directly.",
                    )
                } else {
                    self.pick_doc(
                        change,
                        several,
                        "Sorry, I didn't catch which one. ",
                        self.claims.attempt + 1,
                    )
                };
                self.remember(doc).await
            }
        }
    }

    /// The caller named the new time for the appointment in the token.
    pub(super) async fn move_to(&self) -> Result<Texml, FlowError> {
        let Some(appt) = self.subject().await? else {
            return self.gone().await;
        };
        if let Some(refusal) = self.inside_notice(Change::Move, &appt.row) {
            return self.remember(refusal).await;
        }
        let service = match self.service_of(&appt) {
            Ok(service) => service,
            Err(refusal) => return self.remember(refusal).await,
        };
        let today = today_local(self.now, &self.entry.rules.tz);
        let result = self
            .fields(&schema::MOVE_FIELDS, || {
                schema::move_schema(&self.entry.tenant.spec, today, &[])
            })
            .await;
        match result.as_ref().map(ask::read_when) {
            Some(Ok(when)) => self.move_into(&appt, service, when).await,
            Some(Err(reason)) => self.ask_move_again(&appt, service, &reason).await,
            None => {
                self.ask_move_again(&appt, service, "Sorry, I didn't catch that.")
                    .await
            }
        }
    }

    /// Moves `appt` (of tenant service `service`) to the caller's `(date, time, provider
    /// named with an offer)`, or says why not and asks again.
    async fn move_into(
        &self,
        appt: &Theirs,
        service: usize,
        (date, time, named): (Date, Time, Option<String>),
    ) -> Result<Texml, FlowError> {
        let rules = &self.entry.rules;
        let duration = self.entry.tenant.spec.services[service].duration_minutes;
        let slot = match booking::check_request(rules, duration, date, time, self.now) {
            Ok(slot) => slot,
            Err(rejection) => {
                return self
                    .ask_move_again(appt, service, &rejection.to_string())
                    .await;
            }
        };
        let busy = self
            .busy_between(
                slot.start.as_second() - 86_400,
                slot.blocked_until.as_second() + 86_400,
            )
            .await?;
        let busy = agenda::without_own(busy, appt.provider_id, appt.row.start_at);
        let pool = provider_pool(&self.entry.tenant, service, &busy);
        let free = |pid: i64| {
            pool.iter().any(|p| {
                p.provider_id == pid && p.offers_service && booking::is_free(&slot, p.busy)
            })
        };
        // The provider the caller named (an offer "with Anna"), else the same one, else
        // anyone free.
        let named = named.and_then(|n| {
            let spec = &self.entry.tenant.spec;
            spec.providers
                .iter()
                .position(|p| p.name.eq_ignore_ascii_case(&n))
                .map(|i| self.entry.tenant.provider_ids[i])
        });
        let chosen = match named {
            Some(pid) => free(pid).then_some(pid),
            None if free(appt.provider_id) => Some(appt.provider_id),
            None => booking::choose_provider(rules, &slot, &pool),
        };
        let Some(provider_id) = chosen else {
            return self
                .ask_move_again(appt, service, &booking::Rejection::Taken.to_string())
                .await;
        };
        let provider = self.entry.tenant.provider_name(provider_id);
        let notify = self.notify(&appt.row);
        let mention = if notify.is_some() {
            " We'll text you the new time."
        } else {
            ""
        };
        let doc = self.say_goodbye(&format!(
            "{MOVED}{} with {provider} is now on {}.{mention}",
            appt.row.service,
            local_label(slot.start, &rules.tz)
        ));
        let to = Move {
            provider_id,
            start: slot.start.as_second(),
            end: slot.end.as_second(),
            blocked_until: slot.blocked_until.as_second(),
        };
        let (answer, now) = (
            self.answer(&doc, Some(Outcome::Moved)),
            self.now.as_second(),
        );
        let (tenant, id) = (self.entry.tenant.id, appt.row.id);
        let profile = self.state.settings.messaging_profile_id.clone();
        let outcome = self
            .state
            .store
            .appointments()
            .move_for_call(tenant, id, to, profile, notify, answer, now)
            .await?;
        match outcome {
            ChangeOutcome::Done => {
                tracing::info!(tenant, appointment = id, call = %self.cb.call_sid, "appointment moved by the caller");
                self.state.outbox.notify_one();
                Ok(doc)
            }
            ChangeOutcome::AlreadyAnswered(previous) => Ok(Texml(previous)),
            ChangeOutcome::Taken => {
                self.ask_move_again(appt, service, "Sorry, that time has just been taken.")
                    .await
            }
            ChangeOutcome::NotBooked => self.gone().await,
        }
    }

    /// The caller answered "shall I cancel it?" for the appointment in the token.
    pub(super) async fn cancel_confirmed(&self) -> Result<Texml, FlowError> {
        let Some(appt) = self.subject().await? else {
            return self.gone().await;
        };
        let answer = self
            .fields(&[schema::CONFIRM], || schema::yes_no_schema(CANCEL_ABOUT))
            .await
            .as_ref()
            .and_then(yes_or_no);
        match answer {
            Some(true) => {}
            Some(false) => {
                let doc = self.say_goodbye(&format!(
                    "No problem, {} stays as it is.",
                    self.describe(&appt.row)
                ));
                return self.remember(doc).await;
            }
            None => {
                let doc = if self.claims.attempt >= self.entry.tenant.spec.max_attempts
                    || self.out_of_turns()
                {
                    self.hand_off(
                        "Sorry, I didn't catch that.",
                        "Please contact us directly to cancel.",
                    )
                } else {
                    self.cancel_doc(
                        &appt.row,
                        "Sorry, I didn't catch that. ",
                        self.claims.attempt + 1,
                    )
                };
                return self.remember(doc).await;
            }
        }
        if let Some(refusal) = self.inside_notice(Change::Cancel, &appt.row) {
            return self.remember(refusal).await;
        }
        let notify = self.notify(&appt.row);
        let mention = if notify.is_some() {
            " We'll text you to confirm."
        } else {
            ""
        };
        let doc = self.say_goodbye(&format!(
            "{CANCELLED}{} is cancelled.{mention}",
            self.describe(&appt.row)
        ));
        let (answer, now) = (
            self.answer(&doc, Some(Outcome::Cancelled)),
            self.now.as_second(),
        );
        let (tenant, id) = (self.entry.tenant.id, appt.row.id);
        let outcome = self
            .state
            .store
            .appointments()
            .cancel_for_call(tenant, id, notify, answer, now)
            .await?;
        match outcome {
            ChangeOutcome::Done => {
                tracing::info!(tenant, appointment = id, call = %self.cb.call_sid, "appointment cancelled by the caller");
                self.state.outbox.notify_one();
                Ok(doc)
            }
            ChangeOutcome::AlreadyAnswered(previous) => Ok(Texml(previous)),
            ChangeOutcome::Taken | ChangeOutcome::NotBooked => self.gone().await,
        }
    }

    /// The caller's number in E.164 when changes by phone are allowed and it can be read.
    fn recognised_number(&self) -> Option<String> {
        self.entry
            .tenant
            .spec
            .line
            .recognize_callers
            .then(|| self.caller_number())
            .flatten()
    }

    /// Nothing is looked up: the tenant takes changes only from a person, or the number
    /// is withheld. The caller hears how to get it done.
    async fn refuse_unrecognised(&self, change: Change) -> Result<Texml, FlowError> {
        let doc = if !self.entry.tenant.spec.line.recognize_callers {
            self.hand_off(
                &format!("I can't {} appointments by phone.", change.verb()),
                "Please contact us directly.",
            )
        } else {
            self.hand_off(
                WITHHELD,
                "Please call again from the number you booked with.",
            )
        };
        self.remember(doc).await
    }

    /// The appointment in the token, if it is still the caller's, booked and upcoming.
    async fn subject(&self) -> Result<Option<Theirs>, FlowError> {
        let Some(number) = self.recognised_number() else {
            return Ok(None);
        };
        let id = self.claims.subject;
        Ok(self
            .upcoming(&number)
            .await?
            .into_iter()
            .find(|t| t.row.id == id))
    }

    /// The caller's upcoming booked appointments with this tenant, soonest first.
    async fn upcoming(&self, number: &str) -> Result<Vec<Theirs>, FlowError> {
        let (tenant, number, now) = (
            self.entry.tenant.id,
            number.to_string(),
            self.now.as_second(),
        );
        Ok(self
            .state
            .store
            .appointments()
            .upcoming_of(tenant, number, now)
            .await?
            .into_iter()
            .map(|(row, service_id, provider_id)| Theirs {
                row,
                service_id,
                provider_id,
            })
            .collect())
    }

    /// One appointment is meant: refuse inside the notice window, else ask for the new
    /// time or whether to cancel.
    async fn chosen(
        &self,
        change: Change,
        appt: &Theirs,
        when: Option<(Date, Time, Option<String>)>,
    ) -> Result<Texml, FlowError> {
        if let Some(refusal) = self.inside_notice(change, &appt.row) {
            return self.remember(refusal).await;
        }
        let doc = match change {
            Change::Cancel => self.cancel_doc(&appt.row, "", 1),
            Change::Move => match (self.service_of(appt), when) {
                (Ok(service), Some(when)) => return self.move_into(appt, service, when).await,
                (Ok(service), None) => self.move_doc(appt, service, "", 1).await?,
                (Err(refusal), _) => refusal,
            },
        };
        self.remember(doc).await
    }

    /// The index of the appointment's service among the tenant's, or the hand-off when the
    /// service is retired (it can no longer be booked, so not moved either).
    fn service_of(&self, appt: &Theirs) -> Result<usize, Texml> {
        self.entry
            .tenant
            .service_ids
            .iter()
            .position(|s| *s == appt.service_id)
            .ok_or_else(|| {
                self.hand_off(
                    &format!(
                        "Sorry, we no longer offer {}, so I can't move it.",
                        appt.row.service
                    ),
                    "Please contact us directly.",
                )
            })
    }

    /// Inside the tenant's change notice, the refusal (handed to a person when there is one).
    fn inside_notice(&self, change: Change, row: &AppointmentRow) -> Option<Texml> {
        let spec = &self.entry.tenant.spec;
        let notice = i64::from(spec.line.change_notice(spec.min_notice_minutes)) * 60;
        if row.start_at - self.now.as_second() >= notice {
            return None;
        }
        tracing::info!(tenant = self.entry.tenant.id, appointment = row.id, call = %self.cb.call_sid, "change refused: inside the notice window");
        Some(self.hand_off(
            &format!(
                "{} is less than {} away, so I can't {} it by phone.",
                capitalised(&self.describe(row)),
                spoken_minutes(notice / 60),
                change.verb()
            ),
            "Please contact us directly.",
        ))
    }

    /// Asks which appointment, naming each.
    fn pick_doc(&self, change: Change, theirs: &[Theirs], lead: &str, attempt: u32) -> Texml {
        let choices: Vec<String> = theirs.iter().map(|t| self.label(&t.row)).collect();
        let greeting = format!(
            "{lead}You have {} upcoming appointments: {}. Which one would you like to {}?",
            theirs.len(),
            joined(&choices),
            change.verb()
        );
        let step = match change {
            Change::Move => Step::PickMove,
            Change::Cancel => Step::PickCancel,
        };
        let claims = self.next(step, attempt, 0);
        self.ask_next(&claims, &greeting, &schema::pick_schema(&choices))
    }

    /// Asks "shall I cancel it?".
    fn cancel_doc(&self, row: &AppointmentRow, lead: &str, attempt: u32) -> Texml {
        let greeting = format!(
            "{lead}{}. Shall I cancel it?",
            capitalised(&self.describe(row))
        );
        let claims = self.next(Step::Cancel, attempt, row.id);
        self.ask_next(&claims, &greeting, &schema::yes_no_schema(CANCEL_ABOUT))
    }

    /// Asks for the new time, offering the nearest free times for the same service (the
    /// same provider first).
    async fn move_doc(
        &self,
        appt: &Theirs,
        service: usize,
        lead: &str,
        attempt: u32,
    ) -> Result<Texml, FlowError> {
        let offers = self.move_offers(appt, service).await?;
        let greeting = if offers.is_empty() {
            format!(
                "{lead}{}. What day and time would you like instead?",
                capitalised(&self.describe(&appt.row))
            )
        } else {
            format!(
                "{lead}{}. I can move it to {}. Which would you like, or another day and time?",
                capitalised(&self.describe(&appt.row)),
                spoken(&offers)
            )
        };
        let values: Vec<String> = offers.into_iter().map(|o| o.value).collect();
        let today = today_local(self.now, &self.entry.rules.tz);
        let claims = self.next(Step::Move, attempt, appt.row.id);
        Ok(self.ask_next(
            &claims,
            &greeting,
            &schema::move_schema(&self.entry.tenant.spec, today, &values),
        ))
    }

    /// Asks for the new time again saying why, or hands over after the tenant's attempts.
    async fn ask_move_again(
        &self,
        appt: &Theirs,
        service: usize,
        reason: &str,
    ) -> Result<Texml, FlowError> {
        let doc =
            if self.claims.attempt >= self.entry.tenant.spec.max_attempts || self.out_of_turns() {
                self.hand_off(reason, "Your appointment stays as it is.")
            } else {
                self.move_doc(
                    appt,
                    service,
                    &format!("{reason} "),
                    self.claims.attempt + 1,
                )
                .await?
            };
        self.remember(doc).await
    }

    /// The nearest free times to the appointment's own, for its service, its provider first
    /// (its own time left out).
    async fn move_offers(&self, appt: &Theirs, service: usize) -> Result<Vec<Offer>, FlowError> {
        let rules = &self.entry.rules;
        let from = self.now.as_second() - 86_400;
        let to = self.now.as_second() + (i64::from(rules.horizon_days) + 2) * 86_400;
        let busy = self.busy_between(from, to).await?;
        let busy = agenda::without_own(busy, appt.provider_id, appt.row.start_at);
        let providers = provider_pool(&self.entry.tenant, service, &busy);
        let duration = self.entry.tenant.spec.services[service].duration_minutes;
        let start = Timestamp::from_second(appt.row.start_at)
            .map_err(|e| FlowError::BadRequest(e.to_string()))?
            .to_zoned(rules.tz.clone());
        let here = jiff::civil::Time::new(start.hour(), start.minute(), 0, 0)
            .map_err(|e| FlowError::BadRequest(e.to_string()))?;
        let alts = booking::alternatives(
            rules,
            duration,
            start.date(),
            here,
            Some(appt.provider_id),
            &providers,
            self.now,
            MAX_ALTERNATIVES + 1,
        );
        Ok(alts
            .iter()
            .filter(|a| a.slot().start.as_second() != appt.row.start_at)
            .take(MAX_ALTERNATIVES)
            .map(|a| Offer::new(&self.entry.tenant, rules, a))
            .collect())
    }

    /// A booking question after all (the caller had nothing to change).
    fn ask_booking(&self, greeting: &str) -> Texml {
        let today = today_local(self.now, &self.entry.rules.tz);
        let claims = self.next(Step::Gather, self.claims.attempt, 0);
        self.ask_next(
            &claims,
            greeting,
            &schema::booking_schema(&self.entry.tenant.spec, today, &[]),
        )
    }

    /// The appointment is no longer the caller's to change (cancelled meanwhile).
    async fn gone(&self) -> Result<Texml, FlowError> {
        let doc = self.say_goodbye("Sorry, I can't find that appointment any more.");
        self.remember(doc).await
    }

    /// Where the text about the change goes: the number the booking texts, when the tenant
    /// can text it.
    fn notify(&self, row: &AppointmentRow) -> Option<Notify> {
        reminders::notify_for(
            &self.entry.tenant.spec,
            row.customer_phone.as_deref(),
            self.state.settings.messaging_profile_id.as_deref(),
        )
    }

    /// "your Haircut with Anna on Tuesday, December 8 at 3:00 PM".
    fn describe(&self, row: &AppointmentRow) -> String {
        format!("your {}", self.label(row))
    }

    /// "Haircut with Anna on Tuesday, December 8 at 3:00 PM" (also the pick enum value).
    fn label(&self, row: &AppointmentRow) -> String {
        let when = Timestamp::from_second(row.start_at)
            .map(|t| local_label(t, &self.entry.rules.tz))
            .unwrap_or_default();
        format!("{} with {} on {when}", row.service, row.provider)
    }
}

/// "A, B and C" for spoken lists.
fn joined(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{}; and {last}", init.join("; ")),
    }
}

/// The first letter upper-cased.
fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// "45 minutes", "2 hours", "1 day", "1 hour and 30 minutes".
fn spoken_minutes(minutes: i64) -> String {
    let unit = |n: i64, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    if minutes >= 1440 && minutes % 1440 == 0 {
        return unit(minutes / 1440, "day");
    }
    match (minutes / 60, minutes % 60) {
        (0, m) => unit(m, "minute"),
        (h, 0) => unit(h, "hour"),
        (h, m) => format!("{} and {}", unit(h, "hour"), unit(m, "minute")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_windows_are_spoken_in_words() {
        assert_eq!(spoken_minutes(60), "1 hour");
        assert_eq!(spoken_minutes(45), "45 minutes");
        assert_eq!(spoken_minutes(90), "1 hour and 30 minutes");
        assert_eq!(spoken_minutes(1440), "1 day");
        assert_eq!(spoken_minutes(2880), "2 days");
        assert_eq!(spoken_minutes(1500), "25 hours");
    }

    #[test]
    fn lists_and_sentences_read_naturally() {
        assert_eq!(joined(&["A".into(), "B".into()]), "A; and B");
        assert_eq!(capitalised("your Haircut"), "Your Haircut");
    }
}

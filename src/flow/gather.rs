//! One turn of a call (the `<AIGather>` action): read the gathered fields (from the
//! conversation through AI Inference when the result lacks them), see what the caller
//! wants, and book a free slot (or hold it and ask the caller to confirm), or say why not
//! and ask again with alternatives. Moving, cancelling and questions are in `change` and
//! `question`. Idempotent per (CallSid, round): a retried callback gets the answer stored
//! the first time and changes nothing more.

use std::sync::{
    Arc, Mutex, PoisonError,
    atomic::{AtomicBool, Ordering},
};

use jiff::{Timestamp, civil::Date};
use serde_json::{Map, Value};

use super::{
    FlowError,
    ask::{self, Intent},
    change::Change,
};
use crate::{
    agenda::{self, BusyByProvider, provider_pool},
    booking::{self, Alternative, Rejection, Rules, local_label, today_local},
    db::{
        self,
        appointments::{BookOutcome, ConfirmOutcome, NewAppointment},
        calls::{Answer, Outcome},
        tenants::Tenant,
    },
    directory::Entry,
    domain::TenantSpec,
    metrics::BookingOutcome,
    startup::AppState,
    texml::{
        Texml,
        callback::GatherCallback,
        docs::render::DocValues,
        escape::CdataJson,
        schema::{self, CONFIRM},
        templates::{GatherDoc, HistoryMessage, SayDoc},
    },
    token::{Claims, LIFETIME_SECONDS, Step},
    wording::{self, Values},
};

/// Said after the `<AIGather>` if it ends without the action taking over.
const GATHER_FALLBACK: &str = "Sorry, I couldn't finish your booking.";
/// How many alternatives are offered.
pub(super) const MAX_ALTERNATIVES: usize = 3;
/// The number some carriers put in `From` for a withheld caller ID.
const WITHHELD_SENTINEL: &str = "+266696687";
/// Most answers one call gets before it is handed to a person, whatever it asks.
pub(super) const MAX_TURNS: u32 = 12;
/// What AI Inference is given at most: the rest of the request deadline minus this.
const INFERENCE_MARGIN: std::time::Duration = std::time::Duration::from_millis(400);

/// Renders an `<AIGather>` for `claims`, with `greeting` spoken first.
#[allow(clippy::too_many_arguments)]
pub fn gather_doc(
    state: &AppState,
    tenant: &Tenant,
    claims: &Claims,
    call_sid: &str,
    greeting: &str,
    history: &[HistoryMessage],
    today: Date,
    offers: &[String],
) -> Texml {
    let parameters = schema::booking_parameters(&tenant.spec, today, offers);
    ask_doc(
        state,
        tenant,
        claims,
        call_sid,
        greeting,
        history,
        &parameters,
    )
}

/// Renders an `<AIGather>` asking with `parameters` (a booking or yes/no schema).
pub fn ask_doc(
    state: &AppState,
    tenant: &Tenant,
    claims: &Claims,
    call_sid: &str,
    greeting: &str,
    history: &[HistoryMessage],
    parameters: &CdataJson,
) -> Texml {
    let token = state.tokens.sign(claims, call_sid);
    let action = format!("{}/texml/gather?s={token}", state.settings.public_url);
    let assistant = tenant.spec.line.assistant(&tenant.spec.name);
    Texml::render(&GatherDoc {
        action: &action,
        greeting,
        voice: &tenant.spec.voice,
        assistant: assistant.as_ref(),
        parameters,
        history,
        fallback: GATHER_FALLBACK,
        transfer: tenant.spec.transfer_number.as_ref().map(|n| n.as_str()),
        caller_id: tenant.spec.phone_number.as_str(),
    })
}

/// Everything one turn needs.
pub(super) struct Turn<'a> {
    pub(super) state: &'a AppState,
    pub(super) entry: Arc<Entry>,
    pub(super) claims: Claims,
    pub(super) cb: GatherCallback,
    pub(super) now: Timestamp,
    /// Set by [`hand_off`](Self::hand_off): this turn's answer hands the call over.
    handed_off: AtomicBool,
    /// The operator documents this turn's answer was served from ([`docs::used`]).
    ///
    /// [`docs::used`]: crate::texml::docs::used
    used: Mutex<Vec<String>>,
}

impl<'a> Turn<'a> {
    /// A turn of `cb` for the tenant in `entry`, at `now`.
    pub(super) fn new(
        state: &'a AppState,
        entry: Arc<Entry>,
        claims: Claims,
        cb: GatherCallback,
        now: Timestamp,
    ) -> Self {
        Self {
            state,
            entry,
            claims,
            cb,
            now,
            handed_off: AtomicBool::new(false),
            used: Mutex::new(Vec::new()),
        }
    }
}

/// Answers a verified gather callback whose token has been checked.
pub async fn answer(
    state: &AppState,
    claims: Claims,
    cb: GatherCallback,
) -> Result<Texml, FlowError> {
    // No up-front "answered before?" read: every path ends in a transaction that checks
    // for a stored answer first (book, confirm_hold, remember_answer) and returns it, so a
    // retried callback gets the identical answer without costing every first one a query.
    let entry = state
        .directory
        .by_id(&state.store, claims.tenant_id)
        .await?;
    let turn = Turn::new(state, entry, claims, cb, state.clock.now());
    match claims.step {
        Step::Gather => turn.gather().await,
        Step::Confirm => turn.confirm().await,
        Step::PickMove => turn.pick(Change::Move).await,
        Step::PickCancel => turn.pick(Change::Cancel).await,
        Step::Move => turn.move_to().await,
        Step::Cancel => turn.cancel_confirmed().await,
        Step::Reminder | Step::ReminderChoice | Step::ReminderCancel => Err(FlowError::BadRequest(
            "a reminder call's token was sent to /texml/gather".into(),
        )),
    }
}

impl Turn<'_> {
    /// The first question (or a re-prompt): what the caller wants, and for a booking the
    /// service, day and time.
    async fn gather(&self) -> Result<Texml, FlowError> {
        let today = today_local(self.now, &self.entry.rules.tz);
        let result = self
            .fields(&schema::BOOKING_FIELDS, || {
                schema::booking_schema(&self.entry.tenant.spec, today, &[])
            })
            .await;
        match ask::intent(result.as_ref()) {
            Intent::Book => {}
            Intent::Reschedule => return self.change(Change::Move, result.as_ref()).await,
            Intent::Cancel => return self.change(Change::Cancel, None).await,
            Intent::Question => return self.question(result.as_ref()).await,
        }
        let ask = match &result {
            Some(result) => ask::read(&self.entry.tenant, Some(result), self.cb.from.as_deref()),
            None => Err("Sorry, I didn't catch all of that.".to_string()),
        };
        let ask = match ask {
            Ok(ask) => ask,
            Err(reason) => return self.retry(&reason, &[]).await,
        };
        let duration = self.entry.tenant.spec.services[ask.service].duration_minutes;
        let slot =
            booking::check_request(&self.entry.rules, duration, ask.date, ask.time, self.now);
        // One read for the cap and, when the time is bookable, its busy time: the cap is
        // answered first whatever the time, as if read on its own.
        let (held, busy) = self.cap_and_busy(&ask, slot.as_ref().ok()).await?;
        if let Some(held) = held
            && held >= self.entry.tenant.spec.max_future_bookings_per_caller
        {
            return self.remember(self.cap_refusal(held)).await;
        }
        let slot = match slot {
            Ok(slot) => slot,
            Err(rejection) => {
                let offers = self.offers(&ask).await?;
                return self.retry(&rejection.to_string(), &offers).await;
            }
        };
        let spec = &self.entry.tenant.spec;
        let hold_until = spec
            .confirm_before_booking
            .then(|| self.now.as_second() + i64::from(spec.hold_seconds));
        // One snapshot of busy time; the database has the last word. A provider whose time
        // was taken meanwhile really is taken, so a lost race moves on to the next free
        // provider without re-reading, until nobody is left.
        let busy = agenda::by_provider(&self.entry.tenant, busy);
        let mut lost: Vec<i64> = Vec::new();
        loop {
            let providers: Vec<_> = provider_pool(&self.entry.tenant, ask.service, &busy)
                .into_iter()
                .filter(|p| !lost.contains(&p.provider_id))
                .collect();
            let chosen = match ask.provider {
                Some(p) => providers
                    .iter()
                    .find(|pb| {
                        pb.provider_id == self.entry.tenant.provider_ids[p]
                            && booking::is_free(&slot, pb.busy)
                    })
                    .map(|pb| pb.provider_id),
                // Ties spread by call, so concurrent callers for one time do not all
                // race for the same provider.
                None => booking::choose_provider_spread(
                    &self.entry.rules,
                    &slot,
                    &providers,
                    self.salt(),
                ),
            };
            let Some(provider_id) = chosen else { break };
            let service = &spec.services[ask.service].name;
            let provider = self.entry.tenant.provider_name(provider_id);
            let doc = match hold_until {
                None => self.booked_doc(&ask.customer_name, service, provider, slot.start),
                Some(_) => self.confirm_doc(service, provider, slot.start),
            };
            let appt = NewAppointment {
                tenant_id: self.entry.tenant.id,
                service_id: self.entry.tenant.service_id(ask.service),
                provider_id,
                customer_name: ask.customer_name.clone(),
                customer_phone: ask.phone.as_ref().map(|p| p.as_str().to_string()),
                caller_number: self.caller_number(),
                start: slot.start.as_second(),
                end: slot.end.as_second(),
                blocked_until: slot.blocked_until.as_second(),
                call_sid: Some(self.cb.call_sid.clone()),
                hold_until,
                cap: Some(spec.max_future_bookings_per_caller),
                texts: self.plan_texts(ask.phone.as_ref().map(|p| p.as_str()), slot.start),
            };
            let outcome = match hold_until {
                None => Outcome::Booked,
                Some(_) => Outcome::Held,
            };
            let (answer, now) = (self.answer(&doc, Some(outcome)), self.now.as_second());
            match self
                .state
                .store
                .appointments()
                .book(appt, Some(answer), now)
                .await?
            {
                BookOutcome::Booked(id) => {
                    tracing::info!(tenant = self.entry.tenant.id, appointment = id, call = %self.cb.call_sid, held = hold_until.is_some(), "booked");
                    self.state.metrics.booking(match hold_until {
                        None => BookingOutcome::Booked,
                        Some(_) => BookingOutcome::Held,
                    });
                    self.state.outbox.notify_one();
                    return Ok(doc);
                }
                BookOutcome::AlreadyAnswered(previous) => return Ok(Texml(previous)),
                // Another booking from this number got in first (the check before the
                // search read the count outside this transaction).
                BookOutcome::OverCap(held) => return self.remember(self.cap_refusal(held)).await,
                BookOutcome::Taken => {
                    self.state.metrics.booking(BookingOutcome::Taken);
                    lost.push(provider_id)
                }
            }
        }
        let offers = self.offers(&ask).await?;
        self.retry(&Rejection::Taken.to_string(), &offers).await
    }

    /// The caller answered "shall I book it?" for a held slot.
    async fn confirm(&self) -> Result<Texml, FlowError> {
        let answer = self
            .fields(&[CONFIRM], || schema::yes_no_schema(CONFIRM_ABOUT))
            .await
            .as_ref()
            .and_then(yes_or_no);
        match answer {
            Some(true) => {}
            Some(false) => {
                // Released and answered together: a late duplicate of this "no" gets the
                // stored answer and never releases a hold made after it.
                let doc = self.retry_doc("No problem.", &[]);
                let answer = self.answer(&doc, None);
                let stored = self.state.store.appointments().decline_hold(answer).await?;
                return Ok(Texml(stored));
            }
            None => return self.retry("Sorry, I didn't catch that.", &[]).await,
        }
        let (sid, tenant_id) = (self.cb.call_sid.clone(), self.entry.tenant.id);
        let held = self
            .state
            .store
            .appointments()
            .held_for_call(tenant_id, sid)
            .await?;
        let Some(row) = held else {
            return self
                .retry("Sorry, that time has just been taken.", &[])
                .await;
        };
        let start = Timestamp::from_second(row.start_at)
            .map_err(|e| FlowError::BadRequest(e.to_string()))?;
        let doc = self.booked_doc(&row.customer_name, &row.service, &row.provider, start);
        let texts = self.plan_texts(row.customer_phone.as_deref(), start);
        let (answer, now) = (
            self.answer(&doc, Some(Outcome::Booked)),
            self.now.as_second(),
        );
        match self
            .state
            .store
            .appointments()
            .confirm_hold(answer, texts, now)
            .await?
        {
            ConfirmOutcome::Confirmed(id) => {
                tracing::info!(tenant = self.entry.tenant.id, appointment = id, call = %self.cb.call_sid, "held slot confirmed");
                self.state.metrics.booking(BookingOutcome::Confirmed);
                self.state.outbox.notify_one();
                Ok(doc)
            }
            ConfirmOutcome::AlreadyAnswered(previous) => Ok(Texml(previous)),
            ConfirmOutcome::Gone => {
                self.retry("Sorry, that time has just been taken.", &[])
                    .await
            }
        }
    }

    /// The gathered fields of this callback; when the status is valid but the result has
    /// none of the `wanted` fields (or there is no result), they are read from the
    /// conversation through AI Inference with the turn's `schema` (built only then), and
    /// that answer is taken like a gathered one. No client, a timeout or an unusable answer
    /// leave the result as it came.
    pub(super) async fn fields(
        &self,
        wanted: &[&str],
        schema: impl FnOnce() -> serde_json::Value,
    ) -> Option<Map<String, Value>> {
        if !self.cb.is_valid() {
            return None;
        }
        let has_fields = |r: &Map<String, Value>| wanted.iter().any(|k| r.contains_key(*k));
        if self.cb.result.as_ref().is_some_and(has_fields) {
            return self.cb.result.clone();
        }
        let client = self.state.inference.as_ref()?;
        if !self.cb.history.iter().any(|m| m.role == "user") {
            return self.cb.result.clone();
        }
        let timeout = inference_wait(
            self.state.settings.inference.timeout,
            db::deadline::current().map(db::deadline::remaining),
        );
        let spec = &self.entry.tenant.spec;
        let today = today_local(self.now, &self.entry.rules.tz);
        let context = format!(
            "The assistant answers the phone for {}. Today is {}, {today} in {}.",
            spec.name,
            today.strftime("%A"),
            spec.timezone
        );
        let req = crate::inference::CompletionRequest::new(
            &self.state.settings.inference.model,
            &context,
            &self.cb.history,
            schema(),
        );
        match client.fields(&req, timeout).await {
            Ok(fields) => {
                tracing::info!(tenant = self.entry.tenant.id, call = %self.cb.call_sid, fields = fields.len(), "gather result read from the conversation");
                Some(fields)
            }
            Err(e) => {
                tracing::warn!(tenant = self.entry.tenant.id, call = %self.cb.call_sid, error = %e, "the conversation could not be read; asking again");
                self.cb.result.clone()
            }
        }
    }

    /// The claims of the next question: `step`, `attempt` and `subject` as given, one
    /// round later, with a fresh expiry.
    pub(super) fn next(&self, step: Step, attempt: u32, subject: i64) -> Claims {
        Claims {
            tenant_id: self.claims.tenant_id,
            step,
            attempt,
            turn: self.claims.turn + 1,
            subject,
            expires_at: self.now.as_second() + LIFETIME_SECONDS,
        }
    }

    /// An `<AIGather>` for `claims` that says `greeting` first and carries the
    /// conversation so far with the greeting added.
    pub(super) fn ask_next(
        &self,
        claims: &Claims,
        greeting: &str,
        schema: &serde_json::Value,
    ) -> Texml {
        let mut history = self.cb.history.clone();
        history.push(HistoryMessage {
            role: "assistant",
            content: greeting.to_string(),
        });
        ask_doc(
            self.state,
            &self.entry.tenant,
            claims,
            &self.cb.call_sid,
            greeting,
            &history,
            &CdataJson::new(schema),
        )
    }

    /// Says `message` and the tenant's goodbye, then hangs up.
    pub(super) fn say_goodbye(&self, message: &str) -> Texml {
        let spec = &self.entry.tenant.spec;
        let goodbye = wording::fill(
            spec.wording(&wording::GOODBYE),
            &Values::business(&spec.name),
        );
        Texml::render(&SayDoc {
            voice: Some(&spec.voice),
            message: &format!("{message} {goodbye}"),
            transfer: None,
            caller_id: "",
        })
    }

    /// Whether this call has had as many answers as any call gets.
    pub(super) fn out_of_turns(&self) -> bool {
        self.claims.turn >= MAX_TURNS
    }

    /// This turn's answer `doc` as it is stored: under the call and round, with what the
    /// caller said, what the line says, the documents it came from and what it settled:
    /// a hand-off when [`hand_off`](Self::hand_off) made it, else `outcome` when given,
    /// else nothing while the answer asks on (an `<AIGather>`), else the call's end.
    pub(super) fn answer(&self, doc: &Texml, outcome: Option<Outcome>) -> Answer {
        let said = crate::call::heard::spoken_lines(doc.as_str());
        let outcome = if self.handed_off.load(Ordering::Relaxed) {
            Some(Outcome::HandOff)
        } else if outcome.is_some() || doc.as_str().contains("<AIGather") {
            outcome
        } else {
            Some(Outcome::Ended)
        };
        let used = std::mem::take(&mut *self.used.lock().unwrap_or_else(PoisonError::into_inner));
        Answer {
            call_sid: self.cb.call_sid.clone(),
            step: self.claims.step_key(),
            texml: doc.0.clone(),
            heard: heard(&self.cb),
            said: said.join("\n"),
            outcome,
            documents: (!used.is_empty()).then(|| used.join(" ")),
        }
    }

    /// A stable number per call, for spreading ties between providers.
    fn salt(&self) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        BuildHasherDefault::<DefaultHasher>::default().hash_one(&self.cb.call_sid)
    }

    /// The confirmation and reminder texts for a booking starting at `start`.
    fn plan_texts(&self, phone: Option<&str>, start: Timestamp) -> Vec<crate::sms::PlannedText> {
        crate::sms::plan_texts(
            &self.entry.tenant.spec,
            self.state.settings.messaging_profile_id.as_deref(),
            phone,
            start,
            self.now,
        )
    }

    /// The confirmation read back in the tenant's local time, then hang up.
    fn booked_doc(&self, customer: &str, service: &str, provider: &str, start: Timestamp) -> Texml {
        let spec = &self.entry.tenant.spec;
        let service = service.to_lowercase();
        let label = local_label(start, &self.entry.rules.tz);
        let (date, time) = label.split_once(" at ").unwrap_or((&label, ""));
        let values = Values {
            name: Some(customer),
            service: Some(&service),
            provider: Some(provider),
            date: Some(date),
            time: Some(time),
            business: Some(&spec.name),
        };
        let message = format!(
            "{} {}",
            wording::fill(spec.wording(&wording::CONFIRMATION), &values),
            wording::fill(spec.wording(&wording::GOODBYE), &values)
        );
        Texml::render(&SayDoc {
            voice: Some(&spec.voice),
            message: &message,
            transfer: None,
            caller_id: "",
        })
    }

    /// Asks "shall I book it?" for a held slot.
    fn confirm_doc(&self, service: &str, provider: &str, start: Timestamp) -> Texml {
        let greeting = format!(
            "I can book your {} with {provider} for {}. Shall I book it?",
            service.to_lowercase(),
            local_label(start, &self.entry.rules.tz)
        );
        // The same attempt as the booking question it answers, so a "no" asks again one
        // attempt later; its own round, so its answer is never a stored earlier one.
        let claims = self.next(Step::Confirm, self.claims.attempt, 0);
        self.ask_next(&claims, &greeting, &schema::yes_no_schema(CONFIRM_ABOUT))
    }

    /// Each provider's busy time in `[from, to)`, sorted by start.
    pub(super) async fn busy_between(
        &self,
        from: i64,
        to: i64,
    ) -> Result<BusyByProvider, FlowError> {
        Ok(
            agenda::busy_by_provider(&self.state.store, &self.entry.tenant, from, to, self.now)
                .await?,
        )
    }

    /// Nearest free alternatives to what the caller asked.
    async fn offers(&self, ask: &ask::Ask) -> Result<Vec<Offer>, FlowError> {
        let from = self.now.as_second() - 86_400;
        let to = self.now.as_second() + (i64::from(self.entry.rules.horizon_days) + 2) * 86_400;
        let busy = self.busy_between(from, to).await?;
        let providers = provider_pool(&self.entry.tenant, ask.service, &busy);
        let duration = self.entry.tenant.spec.services[ask.service].duration_minutes;
        let preferred = ask.provider.map(|p| self.entry.tenant.provider_ids[p]);
        let alts = booking::alternatives(
            &self.entry.rules,
            duration,
            ask.date,
            ask.time,
            preferred,
            &providers,
            self.now,
            MAX_ALTERNATIVES,
        );
        Ok(alts
            .iter()
            .map(|a| Offer::new(&self.entry.tenant, &self.entry.rules, a))
            .collect())
    }

    /// The number the call comes from, in E.164 as appointments record it; `None` when it
    /// is withheld or unreadable (carriers send "anonymous", nothing, or +266696687, which
    /// spells ANONYMOUS on a keypad).
    /// On a call the line placed (a reminder call), `From` is the line's own number and the
    /// person is `To`.
    pub(super) fn caller_number(&self) -> Option<String> {
        let parse = |n: Option<&str>| crate::domain::PhoneNumber::parse(n?).ok();
        let mut from = parse(self.cb.from.as_deref())?;
        if from == self.entry.tenant.spec.phone_number {
            from = parse(self.cb.to.as_deref())?;
        }
        (from.as_str() != WITHHELD_SENTINEL && from != self.entry.tenant.spec.phone_number)
            .then(|| from.as_str().to_string())
    }

    /// In one read: how many upcoming appointments the caller's numbers hold (`None`
    /// without a number), and when `slot` is given the busy time around it (a day either
    /// side, as [`db::appointments::Appointments::busy`] rows). A number that already has the tenant's
    /// `max_future_bookings_per_caller` upcoming appointments books no more: it is told so
    /// and handed to a person (or asked to contact the business), so a bot cannot book out
    /// the week.
    async fn cap_and_busy(
        &self,
        ask: &ask::Ask,
        slot: Option<&booking::Slot>,
    ) -> Result<(Option<u32>, Vec<(i64, i64, i64)>), FlowError> {
        let caller = self.caller_number();
        let number = ask
            .phone
            .as_ref()
            .map(|p| p.as_str().to_string())
            .or_else(|| caller.clone());
        let range = slot.map(|s| {
            (
                s.start.as_second() - 86_400,
                s.blocked_until.as_second() + 86_400,
            )
        });
        let (tenant, now) = (self.entry.tenant.id, self.now.as_second());
        Ok(self
            .state
            .store
            .appointments()
            .cap_and_busy(tenant, number, caller, range, now)
            .await?)
    }

    /// The answer for a caller whose numbers have `held` upcoming appointments, the cap:
    /// told so and handed to a person (or asked to contact the business).
    fn cap_refusal(&self, held: u32) -> Texml {
        tracing::info!(tenant = self.entry.tenant.id, call = %self.cb.call_sid, upcoming = held, "booking refused: caller is at the future-bookings cap");
        let reason = format!(
            "I'm sorry, this number already has {held} upcoming appointments with us, which is as many as I can book by phone."
        );
        self.hand_off(&reason, "To book more, please contact us directly.")
    }

    /// Hands the call to the tenant's transfer (its `transfer.xml`, `reason` leading the
    /// transfer line), or, without one, says `reason`, then `without_transfer` and goodbye.
    pub(super) fn hand_off(&self, reason: &str, without_transfer: &str) -> Texml {
        let spec = &self.entry.tenant.spec;
        let transfer = spec.transfer_number.as_ref().map(|n| n.as_str());
        let values = Values::business(&spec.name);
        if transfer.is_some() {
            // The hand-off is the operator's transfer.xml; the reason leads its transfer line.
            let line = wording::fill(spec.wording(&wording::TRANSFER_LINE), &values);
            let values =
                DocValues::for_tenant(spec).with("transfer_line", &format!("{reason} {line}"));
            let (doc, used) = self
                .state
                .docs
                .serve_used(Some(&spec.slug), "transfer", &values);
            self.handed_off.store(true, Ordering::Relaxed);
            self.used
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(used);
            doc
        } else {
            self.handed_off.store(true, Ordering::Relaxed);
            let goodbye = wording::fill(spec.wording(&wording::GOODBYE), &values);
            Texml::render(&SayDoc {
                voice: Some(&spec.voice),
                message: &format!("{reason} {without_transfer} {goodbye}"),
                transfer,
                caller_id: spec.phone_number.as_str(),
            })
        }
    }

    /// Asks again saying why, or hands over after the tenant's maximum of attempts.
    async fn retry(&self, reason: &str, offers: &[Offer]) -> Result<Texml, FlowError> {
        let doc = self.retry_doc(reason, offers);
        let offered = !offers.is_empty();
        let answer = self.answer(&doc, offered.then_some(Outcome::Alternatives));
        // A call that was offered alternatives is marked so for the funnel, in the same
        // transaction as the answer (no second round trip).
        let appointments = self.state.store.appointments();
        let stored = match offered {
            true => {
                appointments
                    .remember_offer(answer, self.now.as_second())
                    .await?
            }
            false => appointments.remember_answer(answer).await?,
        };
        Ok(Texml(stored))
    }

    /// The answer [`retry`](Self::retry) stores.
    fn retry_doc(&self, reason: &str, offers: &[Offer]) -> Texml {
        let spec = &self.entry.tenant.spec;
        if self.claims.attempt >= spec.max_attempts || self.out_of_turns() {
            self.hand_off(reason, wording::GIVE_UP)
        } else {
            let next = self.next(Step::Gather, self.claims.attempt + 1, 0);
            let greeting = if offers.is_empty() {
                reprompt_line(spec, reason)
            } else {
                format!(
                    "{reason} I can offer {}. Which would you like?",
                    spoken(offers)
                )
            };
            let mut history = self.cb.history.clone();
            history.push(HistoryMessage {
                role: "assistant",
                content: greeting.clone(),
            });
            let values: Vec<String> = offers.iter().map(|o| o.value.clone()).collect();
            gather_doc(
                self.state,
                &self.entry.tenant,
                &next,
                &self.cb.call_sid,
                &greeting,
                &history,
                today_local(self.now, &self.entry.rules.tz),
                &values,
            )
        }
    }

    /// Stores `doc` as this turn's answer (a retried callback gets the same), and returns
    /// the answer stored first. What it settled is read from the answer ([`answer`]).
    ///
    /// [`answer`]: Self::answer
    pub(super) async fn remember(&self, doc: Texml) -> Result<Texml, FlowError> {
        self.remember_as(doc, None).await
    }

    /// [`remember`](Self::remember), with what the turn settled when the answer alone does
    /// not tell (a question answered).
    pub(super) async fn remember_as(
        &self,
        doc: Texml,
        outcome: Option<Outcome>,
    ) -> Result<Texml, FlowError> {
        let answer = self.answer(&doc, outcome);
        let stored = self
            .state
            .store
            .appointments()
            .remember_answer(answer)
            .await?;
        Ok(Texml(stored))
    }
}

/// What the caller said in the turn `cb` answers: their words since the line last spoke,
/// else the gathered fields (`name: value`), else nothing.
fn heard(cb: &GatherCallback) -> String {
    let since = cb
        .history
        .iter()
        .rposition(|m| m.role != "user")
        .map_or(0, |i| i + 1);
    let words: Vec<&str> = cb.history[since..]
        .iter()
        .map(|m| m.content.trim())
        .filter(|c| !c.is_empty())
        .collect();
    if !words.is_empty() {
        return words.join(" ");
    }
    cb.result
        .iter()
        .flatten()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}: {s}"),
            other => format!("{k}: {other}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// How long AI Inference may take: the setting, cut to what the request deadline leaves
/// (`left`) minus [`INFERENCE_MARGIN`] for the turn's own writes.
fn inference_wait(
    setting: std::time::Duration,
    left: Option<std::time::Duration>,
) -> std::time::Duration {
    left.map_or(setting, |left| {
        setting.min(left.saturating_sub(INFERENCE_MARGIN))
    })
}

/// What "yes" means in the booking confirmation.
const CONFIRM_ABOUT: &str = "Whether the caller wants this booking";

/// Reads the confirmation: `yes`/`no` (or a boolean, or words close to them).
pub(super) fn yes_or_no(result: &Map<String, Value>) -> Option<bool> {
    match result.get(CONFIRM)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "y" | "yeah" | "yep" | "sure" | "ok" | "okay" | "true" => Some(true),
            "no" | "n" | "nope" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// An alternative offered to the caller.
pub(super) struct Offer {
    /// The `offered_time` enum value: `YYYY-MM-DD HH:MM`, plus ` with NAME` for another provider.
    pub(super) value: String,
    /// How it is spoken: "Tuesday, November 24 at 3:00 PM".
    pub(super) spoken: String,
}

impl Offer {
    pub(super) fn new(tenant: &Tenant, rules: &Rules, alt: &Alternative) -> Self {
        let value = alt.slot().local.strftime("%Y-%m-%d %H:%M").to_string();
        let spoken = local_label(alt.slot().start, &rules.tz);
        match alt {
            Alternative::SameTimeOtherProvider { provider_id, .. } => {
                let name = tenant.provider_name(*provider_id);
                Offer {
                    value: format!("{value} with {name}"),
                    spoken: format!("{spoken} with {name}"),
                }
            }
            Alternative::Time { .. } => Offer { value, spoken },
        }
    }
}

/// `reason`, then the tenant's re-prompt: asked again when there is nothing to offer.
pub fn reprompt_line(spec: &TenantSpec, reason: &str) -> String {
    let reprompt = wording::fill(
        spec.wording(&wording::REPROMPT),
        &Values::business(&spec.name),
    );
    format!("{reason} {reprompt}")
}

/// "A, B or C".
pub(super) fn spoken(offers: &[Offer]) -> String {
    let spoken: Vec<&str> = offers.iter().map(|o| o.spoken.as_str()).collect();
    match spoken.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{}; or {last}", init.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::inference_wait;

    #[test]
    fn ai_inference_waits_at_most_what_the_deadline_leaves_the_turn() {
        let ms = Duration::from_millis;
        assert_eq!(inference_wait(ms(900), None), ms(900));
        assert_eq!(inference_wait(ms(900), Some(ms(1500))), ms(900));
        assert_eq!(inference_wait(ms(5000), Some(ms(1500))), ms(1100));
        assert_eq!(inference_wait(ms(900), Some(ms(300))), ms(0));
    }
}

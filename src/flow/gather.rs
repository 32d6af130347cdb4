//! One booking turn (the `<AIGather>` action): read the gathered fields, book a free slot,
//! or say why not and ask again with alternatives. Idempotent per (CallSid, step): a
//! retried callback gets the answer stored the first time, and books nothing more.

use jiff::{Timestamp, civil::Date};

use super::{FlowError, ask};
use crate::{
    booking::{
        self, Alternative, Busy, ProviderBusy, Rejection, Rules, Slot, local_label, today_local,
    },
    db::{
        self,
        appointments::{BookOutcome, NewAppointment},
        tenants::Tenant,
    },
    startup::AppState,
    texml::{
        Texml,
        callback::GatherCallback,
        schema,
        templates::{GatherDoc, HistoryMessage, SayDoc},
    },
    token::{Claims, LIFETIME_SECONDS},
};

/// Said after the `<AIGather>` if it ends without the action taking over.
const GATHER_FALLBACK: &str = "Sorry, I couldn't finish your booking.";
/// Said before handing over after too many failed attempts.
const HANDOFF: &str = "Let me connect you with someone from the team.";
/// Said when there is no one to hand over to.
const GIVE_UP: &str =
    "Sorry, I couldn't find a time that works. Please call again or visit us. Goodbye.";
/// How many alternatives are offered.
const MAX_ALTERNATIVES: usize = 3;

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
    let token = state.tokens.sign(claims, call_sid);
    let action = format!("{}/texml/gather?s={token}", state.settings.public_url);
    let parameters = schema::booking_parameters(&tenant.spec, today, offers);
    Texml::render(&GatherDoc {
        action: &action,
        greeting,
        voice: &tenant.spec.voice,
        parameters: &parameters,
        history,
        fallback: GATHER_FALLBACK,
        transfer: tenant.spec.transfer_number.as_ref().map(|n| n.as_str()),
        caller_id: tenant.spec.phone_number.as_str(),
    })
}

/// Answers a verified gather callback whose token has been checked.
pub async fn answer(
    state: &AppState,
    claims: Claims,
    cb: GatherCallback,
) -> Result<Texml, FlowError> {
    let step = claims.step_key();
    let (sid, key) = (cb.call_sid.clone(), step.clone());
    if let Some(previous) = state
        .db
        .run(move |c| db::appointments::callback_answer(c, &sid, &key))
        .await?
    {
        tracing::info!(call = %cb.call_sid, step, "retried callback answered from the record");
        return Ok(Texml(previous));
    }
    let tenant_id = claims.tenant_id;
    let tenant = state
        .db
        .run(move |c| db::tenants::load(c, tenant_id))
        .await?;
    let rules = super::rules_for(&tenant)?;
    let now = state.clock.now();

    let ask = if cb.is_valid() {
        ask::read(&tenant, cb.result.as_ref(), cb.from.as_deref())
    } else {
        Err("Sorry, I didn't catch all of that.".to_string())
    };
    let ask = match ask {
        Ok(ask) => ask,
        Err(reason) => return retry(state, &tenant, &rules, &claims, &cb, &reason, &[], now).await,
    };
    let duration = tenant.spec.services[ask.service].duration_minutes;
    let slot = match booking::check_request(&rules, duration, ask.date, ask.time, now) {
        Ok(slot) => slot,
        Err(rejection) => {
            let offers = offers_for(state, &tenant, &rules, &ask, now).await?;
            return retry(
                state,
                &tenant,
                &rules,
                &claims,
                &cb,
                &rejection.to_string(),
                &offers,
                now,
            )
            .await;
        }
    };
    // The database has the last word; a lost race re-reads and tries the next provider.
    for _ in 0..3 {
        let busy = load_busy(state, &tenant, &rules, &slot).await?;
        let providers = provider_pool(&tenant, ask.service, &busy);
        let chosen = match ask.provider {
            Some(p) => providers
                .iter()
                .find(|pb| {
                    pb.provider_id == tenant.provider_ids[p] && booking::is_free(&slot, pb.busy)
                })
                .map(|pb| pb.provider_id),
            None => booking::choose_provider(&rules, &slot, &providers),
        };
        let Some(provider_id) = chosen else { break };
        let doc = booked_doc(&tenant, &rules, &ask, &slot, provider_id);
        let appt = NewAppointment {
            tenant_id: tenant.id,
            service_id: tenant.service_id(ask.service),
            provider_id,
            customer_name: ask.customer_name.clone(),
            customer_phone: ask.phone.as_ref().map(|p| p.as_str().to_string()),
            start: slot.start.as_second(),
            end: slot.end.as_second(),
            blocked_until: slot.blocked_until.as_second(),
            call_sid: Some(cb.call_sid.clone()),
            texts: crate::sms::plan_texts(
                &tenant.spec,
                state.settings.messaging_profile_id.as_deref(),
                ask.phone.as_ref().map(|p| p.as_str()),
                slot.start,
                now,
            ),
        };
        let (sid, key, text) = (cb.call_sid.clone(), step.clone(), doc.0.clone());
        match state
            .db
            .run(move |c| db::appointments::book(c, &appt, Some((&sid, &key, &text))))
            .await?
        {
            BookOutcome::Booked(id) => {
                tracing::info!(tenant = tenant.id, appointment = id, call = %cb.call_sid, "booked");
                state.outbox.notify_one();
                return Ok(doc);
            }
            BookOutcome::AlreadyAnswered(previous) => return Ok(Texml(previous)),
            BookOutcome::Taken => continue,
        }
    }
    let offers = offers_for(state, &tenant, &rules, &ask, now).await?;
    retry(
        state,
        &tenant,
        &rules,
        &claims,
        &cb,
        &Rejection::Taken.to_string(),
        &offers,
        now,
    )
    .await
}

/// The confirmation read back in the tenant's local time, then hang up.
fn booked_doc(
    tenant: &Tenant,
    rules: &Rules,
    ask: &ask::Ask,
    slot: &Slot,
    provider_id: i64,
) -> Texml {
    let spec = &tenant.spec;
    let provider = tenant.provider_name(provider_id);
    let message = format!(
        "Thanks {}. Your {} with {} is booked for {}. We'll text you a confirmation. Goodbye.",
        ask.customer_name,
        spec.services[ask.service].name.to_lowercase(),
        provider,
        local_label(slot.start, &rules.tz)
    );
    Texml::render(&SayDoc {
        voice: Some(&spec.voice),
        message: &message,
        transfer: None,
        caller_id: "",
    })
}

/// Each provider's busy time, sorted by start.
type BusyByProvider = Vec<(i64, Vec<Busy>)>;

/// Busy time of the tenant's providers around `slot`'s day and over the horizon.
async fn load_busy(
    state: &AppState,
    tenant: &Tenant,
    rules: &Rules,
    slot: &Slot,
) -> Result<BusyByProvider, FlowError> {
    let from = slot.start.as_second() - 86_400;
    let to = slot.start.as_second() + (i64::from(rules.horizon_days) + 2) * 86_400;
    busy_between(state, tenant, from, to).await
}

async fn busy_between(
    state: &AppState,
    tenant: &Tenant,
    from: i64,
    to: i64,
) -> Result<BusyByProvider, FlowError> {
    let ids = tenant.provider_ids.clone();
    let rows = state
        .db
        .run(move |c| db::appointments::busy(c, &ids, from, to))
        .await?;
    let mut out: BusyByProvider = tenant
        .provider_ids
        .iter()
        .map(|id| (*id, Vec::new()))
        .collect();
    for (pid, s, e) in rows {
        let (Ok(start), Ok(end)) = (Timestamp::from_second(s), Timestamp::from_second(e)) else {
            continue;
        };
        if let Some((_, list)) = out.iter_mut().find(|(id, _)| *id == pid) {
            list.push(Busy { start, end });
        }
    }
    Ok(out)
}

/// The booking core's view of the providers for `service`.
fn provider_pool<'a>(
    tenant: &Tenant,
    service: usize,
    busy: &'a BusyByProvider,
) -> Vec<ProviderBusy<'a>> {
    let name = &tenant.spec.services[service].name;
    busy.iter()
        .zip(&tenant.spec.providers)
        .map(|((id, list), p)| ProviderBusy {
            provider_id: *id,
            offers_service: p.services.contains(name),
            busy: list,
        })
        .collect()
}

/// An alternative offered to the caller.
struct Offer {
    /// The `offered_time` enum value: `YYYY-MM-DD HH:MM`, plus ` with NAME` for another provider.
    value: String,
    /// How it is spoken: "Tuesday, November 24 at 3:00 PM".
    spoken: String,
}

/// Nearest free alternatives to what the caller asked.
async fn offers_for(
    state: &AppState,
    tenant: &Tenant,
    rules: &Rules,
    ask: &ask::Ask,
    now: Timestamp,
) -> Result<Vec<Offer>, FlowError> {
    let from = now.as_second() - 86_400;
    let to = now.as_second() + (i64::from(rules.horizon_days) + 2) * 86_400;
    let busy = busy_between(state, tenant, from, to).await?;
    let providers = provider_pool(tenant, ask.service, &busy);
    let duration = tenant.spec.services[ask.service].duration_minutes;
    let preferred = ask.provider.map(|p| tenant.provider_ids[p]);
    let alts = booking::alternatives(
        rules,
        duration,
        ask.date,
        ask.time,
        preferred,
        &providers,
        now,
        MAX_ALTERNATIVES,
    );
    Ok(alts
        .iter()
        .map(|a| {
            let value = a.slot().local.strftime("%Y-%m-%d %H:%M").to_string();
            let spoken = local_label(a.slot().start, &rules.tz);
            match a {
                Alternative::SameTimeOtherProvider { provider_id, .. } => {
                    let name = tenant.provider_name(*provider_id);
                    Offer {
                        value: format!("{value} with {name}"),
                        spoken: format!("{spoken} with {name}"),
                    }
                }
                Alternative::Time { .. } => Offer { value, spoken },
            }
        })
        .collect())
}

/// Asks again saying why, or hands over after the tenant's maximum of attempts.
#[allow(clippy::too_many_arguments)]
async fn retry(
    state: &AppState,
    tenant: &Tenant,
    rules: &Rules,
    claims: &Claims,
    cb: &GatherCallback,
    reason: &str,
    offers: &[Offer],
    now: Timestamp,
) -> Result<Texml, FlowError> {
    let spec = &tenant.spec;
    let doc = if claims.attempt >= spec.max_attempts {
        let transfer = spec.transfer_number.as_ref().map(|n| n.as_str());
        let message = if transfer.is_some() {
            format!("{reason} {HANDOFF}")
        } else {
            format!("{reason} {GIVE_UP}")
        };
        Texml::render(&SayDoc {
            voice: Some(&spec.voice),
            message: &message,
            transfer,
            caller_id: spec.phone_number.as_str(),
        })
    } else {
        let next = Claims {
            attempt: claims.attempt + 1,
            expires_at: now.as_second() + LIFETIME_SECONDS,
            ..*claims
        };
        let greeting = if offers.is_empty() {
            format!("{reason} What other day or time would suit you?")
        } else {
            format!(
                "{reason} I can offer {}. Which would you like?",
                spoken_offers(offers)
            )
        };
        let mut history = cb.history.clone();
        history.push(HistoryMessage {
            role: "assistant",
            content: greeting.clone(),
        });
        let values: Vec<String> = offers.iter().map(|o| o.value.clone()).collect();
        gather_doc(
            state,
            tenant,
            &next,
            &cb.call_sid,
            &greeting,
            &history,
            today_local(now, &rules.tz),
            &values,
        )
    };
    let (sid, key, text) = (cb.call_sid.clone(), claims.step_key(), doc.0);
    let stored = state
        .db
        .run(move |c| db::appointments::remember_answer(c, &sid, &key, &text))
        .await?;
    Ok(Texml(stored))
}

/// "A, B or C".
fn spoken_offers(offers: &[Offer]) -> String {
    let spoken: Vec<&str> = offers.iter().map(|o| o.spoken.as_str()).collect();
    match spoken.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join("; ")),
    }
}

//! Telnyx-facing TeXML routes. Each takes [`Verified`] (403 without a good signature) and
//! always answers TeXML with HTTP 200: an internal failure becomes the apology document,
//! which hands the call to the tenant's human when it has one. Each request runs under
//! the request deadline (`SLOTLINE_REQUEST_DEADLINE_MS`), so a slow database ends in that
//! answer in time, and a booking the caller was not told about is never committed.

use poem::{
    handler,
    http::StatusCode,
    web::{Data, Path, Query},
};
use serde::Deserialize;
use std::{sync::Arc, time::Instant};

use crate::{
    db::deadline,
    flow::{self, FlowError, reminder::ReminderForm},
    reminder_calls::dialer,
    signature::Verified,
    startup::AppState,
    supervise::panic_message,
    texml::{
        Texml, callback,
        docs::{cards::Card, is_valid_name, render::DocValues},
    },
    token::{Claims, Step},
};

/// The answer, or on failure the apology: with a `<Dial>` to the tenant's transfer number
/// when the tenant is known (from memory: no database on this path). `tenant` is asked only
/// on failure, so a good answer costs no lookup.
fn or_apology(
    result: Result<Texml, FlowError>,
    tenant: impl FnOnce() -> Option<Arc<Card>>,
) -> Texml {
    result.unwrap_or_else(|e| {
        let tenant = tenant();
        let error = crate::domain::redact::scrub(&e.to_string());
        tracing::error!(%error, tenant = tenant.as_ref().map(|c| c.id), "TeXML request failed; answered with an apology");
        match &tenant {
            Some(card) => Texml::apology(card.transfer_number.as_deref(), &card.phone_number),
            None => Texml::apology(None, ""),
        }
    })
}

/// Runs `fut` under the request deadline; a panic inside it becomes
/// [`FlowError::Panicked`], so even a bug ends in the apology with the tenant's hand-off.
async fn in_time<T>(
    limit: std::time::Duration,
    fut: impl std::future::Future<Output = Result<T, FlowError>>,
) -> Result<T, FlowError> {
    use futures_util::FutureExt;
    let deadline = Instant::now() + limit;
    std::panic::AssertUnwindSafe(deadline::scope(deadline, fut))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(FlowError::Panicked(panic_message(&*panic))))
}

/// `POST /texml/voice`: the call arrives.
#[handler]
pub async fn voice(state: Data<&AppState>, body: Verified) -> Texml {
    match body.form::<flow::voice::VoiceRequest>() {
        Ok(req) => {
            let (to, call_sid) = (req.to.clone(), req.call_sid.clone());
            let tenant = || {
                let number = crate::domain::PhoneNumber::parse(to.as_deref()?).ok()?;
                state.cards.by_number(number.as_str())
            };
            let answer = in_time(
                state.settings.request_deadline,
                flow::voice::answer(&state, req),
            )
            .await;
            let failed = answer.is_err();
            let doc = or_apology(answer, tenant);
            if failed {
                flow::record_failure(&state, call_sid, &doc);
            }
            doc
        }
        Err(e) => or_apology(
            Err(FlowError::BadRequest(format!("voice request: {e}"))),
            || None,
        ),
    }
}

/// The state token in the action URL.
#[derive(Debug, Deserialize)]
pub struct StateQuery {
    #[serde(default)]
    s: Option<String>,
}

/// `POST /texml/gather?s=<token>`: the AI gathered the booking details.
#[handler]
pub async fn gather(
    state: Data<&AppState>,
    Query(q): Query<StateQuery>,
    body: Verified,
) -> poem::Result<Texml> {
    let cb = match callback::parse(&body.body, body.is_json) {
        Ok(cb) => cb,
        Err(e) => {
            return Ok(or_apology(
                Err(FlowError::BadRequest(e.to_string())),
                || None,
            ));
        }
    };
    let now = state.clock.now().as_second();
    let claims = state
        .tokens
        .verify(q.s.as_deref().unwrap_or_default(), &cb.call_sid, now)
        .map_err(|e| {
            tracing::warn!(reason = %e, "refused a gather callback");
            poem::Error::from_string(e.to_string(), StatusCode::FORBIDDEN)
        })?;
    let (tenant_id, call_sid) = (claims.tenant_id, cb.call_sid.clone());
    let answer = in_time(
        state.settings.request_deadline,
        flow::gather::answer(&state, claims, cb),
    )
    .await;
    let failed = answer.is_err();
    let doc = or_apology(answer, || state.cards.by_id(tenant_id));
    if failed {
        flow::record_failure(&state, call_sid, &doc);
    }
    Ok(doc)
}

/// Checks a reminder call's token (403 when it is bad or for another step) and reads the
/// form; a form that cannot be read is answered with the apology.
fn reminder_request(
    state: &AppState,
    q: &StateQuery,
    body: &Verified,
    steps: &[Step],
) -> poem::Result<Result<(Claims, ReminderForm), FlowError>> {
    let now = state.clock.now().as_second();
    let claims = state
        .tokens
        .verify(q.s.as_deref().unwrap_or_default(), dialer::BINDING, now)
        .ok()
        .filter(|c| steps.contains(&c.step))
        .ok_or_else(|| {
            tracing::warn!("refused a reminder-call request: bad or foreign state token");
            poem::Error::from_string("state token is not valid here", StatusCode::FORBIDDEN)
        })?;
    Ok(body
        .form::<ReminderForm>()
        .map(|f| (claims, f))
        .map_err(|e| FlowError::BadRequest(format!("reminder call request: {e}"))))
}

/// `POST /texml/reminder?s=`: a reminder call was answered (the dial's `Url`).
#[handler]
pub async fn reminder(
    state: Data<&AppState>,
    Query(q): Query<StateQuery>,
    body: Verified,
) -> poem::Result<Texml> {
    reminder_answer(&state, &q, &body, &[Step::Reminder], flow::reminder::answer).await
}

/// `POST /texml/reminder/answer?s=`: the person's choice (`<Gather>` action).
#[handler]
pub async fn reminder_choice(
    state: Data<&AppState>,
    Query(q): Query<StateQuery>,
    body: Verified,
) -> poem::Result<Texml> {
    let steps = [Step::ReminderChoice, Step::ReminderCancel];
    reminder_answer(&state, &q, &body, &steps, flow::reminder::choose).await
}

/// `POST /texml/reminder/voicemail?s=`: the live call redirected after a machine's greeting.
#[handler]
pub async fn reminder_voicemail(
    state: Data<&AppState>,
    Query(q): Query<StateQuery>,
    body: Verified,
) -> poem::Result<Texml> {
    reminder_answer(
        &state,
        &q,
        &body,
        &[Step::Reminder],
        flow::reminder::voicemail,
    )
    .await
}

/// Runs a reminder flow that answers TeXML, under the request deadline.
async fn reminder_answer<'a, F, Fut>(
    state: &'a AppState,
    q: &StateQuery,
    body: &Verified,
    steps: &[Step],
    flow: F,
) -> poem::Result<Texml>
where
    F: FnOnce(&'a AppState, Claims, ReminderForm) -> Fut,
    Fut: std::future::Future<Output = Result<Texml, FlowError>>,
{
    let (claims, form) = match reminder_request(state, q, body, steps)? {
        Ok(read) => read,
        Err(e) => return Ok(or_apology(Err(e), || None)),
    };
    let tenant_id = claims.tenant_id;
    let answer = in_time(state.settings.request_deadline, flow(state, claims, form)).await;
    Ok(or_apology(answer, || state.cards.by_id(tenant_id)))
}

/// `POST /texml/reminder/status?s=`: a reminder call's progress and end.
#[handler]
pub async fn reminder_status(
    state: Data<&AppState>,
    Query(q): Query<StateQuery>,
    body: Verified,
) -> poem::Result<Texml> {
    reminder_callback(&state, &q, &body, flow::reminder::status).await
}

/// `POST /texml/reminder/amd?s=`: the answering-machine result (`AsyncAmdStatusCallback`).
#[handler]
pub async fn reminder_amd(
    state: Data<&AppState>,
    Query(q): Query<StateQuery>,
    body: Verified,
) -> poem::Result<Texml> {
    reminder_callback(&state, &q, &body, flow::reminder::amd).await
}

/// Runs a reminder callback and acknowledges it with an empty document (a failure is
/// logged: Telnyx would retry a non-200 at the fallback URL).
async fn reminder_callback<'a, F, Fut>(
    state: &'a AppState,
    q: &StateQuery,
    body: &Verified,
    flow: F,
) -> poem::Result<Texml>
where
    F: FnOnce(&'a AppState, Claims, ReminderForm) -> Fut,
    Fut: std::future::Future<Output = Result<(), FlowError>>,
{
    let result = match reminder_request(state, q, body, &[Step::Reminder])? {
        Ok((claims, form)) => {
            in_time(state.settings.request_deadline, flow(state, claims, form)).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "could not record a reminder-call callback");
    }
    Ok(Texml(EMPTY.into()))
}

/// `GET|POST /texml/doc/{tenant}/fallback`: the TeXML application's fallback URL. Served
/// from memory (the loaded documents and the tenant snapshot), never from the database, and
/// without a signature check: it is the last resort when the voice URL fails, it has no
/// side effects, and a signature problem must not silence it too. An unknown tenant gets
/// the default document with `{business}` = "us".
#[handler]
pub async fn fallback(state: Data<&AppState>, Path(tenant): Path<String>) -> Texml {
    let card = state.cards.get(&tenant);
    let (slug, values) = match &card {
        Some(c) => (Some(c.slug.as_str()), c.values.clone()),
        None => (
            is_valid_name(&tenant).then_some(tenant.as_str()),
            DocValues::unknown_tenant(),
        ),
    };
    // The segment is the caller's (percent-decoded): escaped by `?`, capped, and at debug
    // level so a flood of it cannot fill the disk.
    tracing::debug!(tenant = ?crate::routes::truncated(&tenant), known = card.is_some(), "fallback document served");
    state.docs.serve(slug, "fallback", &values)
}

/// `POST /texml/status`: call progress, stored for stats; acknowledged with an empty document.
#[handler]
pub async fn status(state: Data<&AppState>, body: Verified) -> Texml {
    if let Err(e) = in_time(
        state.settings.request_deadline,
        flow::status::record(&state, &body),
    )
    .await
    {
        // Telnyx retries non-200 answers at the fallback URL; a lost stat is not worth that.
        tracing::error!(error = %e, "could not record a status callback");
    }
    Texml(EMPTY.into())
}

const EMPTY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response/>";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::texml::docs::render::DocValues;

    fn card(transfer: Option<&str>) -> Arc<Card> {
        Arc::new(Card {
            id: 7,
            slug: "bella-salon".into(),
            values: DocValues::default(),
            phone_number: "+13125550100".into(),
            transfer_number: transfer.map(str::to_string),
        })
    }

    #[tokio::test]
    async fn a_panicking_flow_still_hands_the_caller_to_the_tenants_human() {
        let result: Result<Texml, FlowError> =
            in_time(std::time::Duration::from_secs(5), async { panic!("a bug") }).await;
        assert!(matches!(&result, Err(FlowError::Panicked(m)) if m == "a bug"));
        let doc = or_apology(result, || Some(card(Some("+13125550111"))));
        assert!(
            doc.as_str().contains("<Number>+13125550111</Number>"),
            "{}",
            doc.as_str()
        );
        assert!(crate::texml::validate::validate(doc.as_str()).is_ok());
    }

    #[tokio::test]
    async fn without_a_human_the_apology_hangs_up() {
        let result: Result<Texml, FlowError> =
            in_time(std::time::Duration::from_secs(5), async { panic!("a bug") }).await;
        let doc = or_apology(result, || Some(card(None)));
        assert!(!doc.as_str().contains("<Dial"), "{}", doc.as_str());
        assert!(doc.as_str().contains("<Hangup/>"));
    }
}

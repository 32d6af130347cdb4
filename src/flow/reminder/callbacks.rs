//! The callbacks of a reminder call that are not the person's choice: the
//! answering-machine result (both vocabularies; after the greeting, a redirect to the
//! voicemail document), the voicemail itself, and the status callbacks that settle the
//! attempt (and plan a retry).

use super::{Call, HANG_UP, ReminderForm};
use crate::{
    db,
    flow::FlowError,
    reminder_calls::{Outcome, client::Update},
    startup::AppState,
    texml::Texml,
    token::{Claims, Step},
};

/// What an answering-machine result means for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// A person (or "unknown", treated as one).
    Person,
    /// A machine whose greeting is still playing (`machine_start`): wait for its end.
    MachineGreeting,
    /// A machine whose greeting is over (`machine` from the short vocabulary, sent after
    /// the message end with `DetectMessageEnd`; `machine_end_beep|silence|other`).
    MachineReady,
    /// A fax.
    Fax,
}

/// Reads `AnsweredBy` in either vocabulary (PROTOCOL.md §7).
pub fn answered(value: &str) -> Answered {
    match value.trim().to_ascii_lowercase().as_str() {
        "machine_start" => Answered::MachineGreeting,
        "machine" | "machine_end_beep" | "machine_end_silence" | "machine_end_other" => {
            Answered::MachineReady
        }
        "fax" => Answered::Fax,
        _ => Answered::Person,
    }
}

/// The voicemail, recorded as the attempt's outcome.
pub(super) async fn voicemail_doc(call: &Call<'_>) -> Result<Texml, FlowError> {
    call.outcome(Outcome::Voicemail.as_str()).await?;
    Ok(call.document("reminder_voicemail", &call.values("")))
}

/// `POST /texml/reminder/voicemail`: the redirect after a machine's greeting ended.
pub async fn voicemail(
    state: &AppState,
    claims: Claims,
    form: ReminderForm,
) -> Result<Texml, FlowError> {
    let Some(call) = Call::load(state, claims, form.call_sid).await? else {
        return Ok(Texml(HANG_UP.into()));
    };
    if !call.still_on() {
        call.outcome(Outcome::Withdrawn.as_str()).await?;
        return Ok(Texml(HANG_UP.into()));
    }
    voicemail_doc(&call).await
}

/// `POST /texml/reminder/amd`: the answering-machine result. A machine whose greeting is
/// over gets the voicemail (when the tenant leaves one and the appointment is still on);
/// otherwise a machine or fax is hung up on. The live-call update runs in the background:
/// Telnyx is not kept waiting for it.
pub async fn amd(state: &AppState, claims: Claims, form: ReminderForm) -> Result<(), FlowError> {
    let Some(call) = Call::load(state, claims, form.call_sid.clone()).await? else {
        return Ok(());
    };
    call.note(&form).await?;
    let kind = form
        .answered_by
        .as_deref()
        .map(answered)
        .unwrap_or(Answered::Person);
    let leave_voicemail = call
        .entry
        .tenant
        .spec
        .reminder_calls
        .as_ref()
        .is_none_or(|r| r.voicemail);
    let update = match kind {
        Answered::Person | Answered::MachineGreeting => return Ok(()),
        Answered::MachineReady if leave_voicemail && call.still_on() => {
            Update::Redirect(call.url("/voicemail", Step::Reminder, claims.attempt, claims.turn))
        }
        Answered::MachineReady => {
            call.outcome(if call.still_on() {
                "machine"
            } else {
                Outcome::Withdrawn.as_str()
            })
            .await?;
            Update::Hangup
        }
        Answered::Fax => {
            call.outcome("failed").await?;
            Update::Hangup
        }
    };
    let id = call.facts.id;
    let (Some(client), Some(sid)) = (state.reminder_calls.clone(), form.call_sid) else {
        tracing::error!(
            call = id,
            "an answering machine picked up a reminder call, but there is no TeXML Calls client to redirect it"
        );
        return Ok(());
    };
    tokio::spawn(async move {
        if let Err(e) = client.update(&sid, &update).await {
            tracing::error!(call = id, error = %e, "could not redirect the reminder call after the answering machine's greeting");
        }
    });
    Ok(())
}

/// `POST /texml/reminder/status`: call progress; a final status settles the attempt.
pub async fn status(state: &AppState, claims: Claims, form: ReminderForm) -> Result<(), FlowError> {
    let (id, now) = (claims.subject, state.clock.now().as_second());
    let status = form.call_status.clone().unwrap_or_default();
    let duration = form
        .call_duration
        .as_deref()
        .and_then(|d| d.trim().parse::<i64>().ok());
    let sid = form.call_sid.clone();
    if !db::calls::is_final(&status) {
        state
            .store
            .appointments()
            .note_reminder_call(id, sid, None, now)
            .await?;
        return Ok(());
    }
    let settled = state
        .store
        .appointments()
        .settle_reminder_call(id, status, sid, duration, now)
        .await?;
    if let db::reminder_calls::Settled::Ended { retry: Some(at) } = settled {
        tracing::info!(
            call = id,
            retry_at = at,
            "reminder call not reached; one retry planned"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_answering_machine_vocabularies_are_understood() {
        assert_eq!(answered("human"), Answered::Person);
        assert_eq!(answered("unknown"), Answered::Person);
        assert_eq!(answered("machine"), Answered::MachineReady);
        assert_eq!(answered("machine_start"), Answered::MachineGreeting);
        for end in [
            "machine_end_beep",
            "machine_end_silence",
            "machine_end_other",
        ] {
            assert_eq!(answered(end), Answered::MachineReady);
        }
        assert_eq!(answered("fax"), Answered::Fax);
    }
}

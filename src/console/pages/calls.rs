//! A tenant's latest calls, newest first: when, the caller masked, how long, the outcome,
//! what the line said at each turn (read back from the answers it stored per callback),
//! and which saved version of each TeXML document was in effect when it started. Calls
//! record neither an outcome nor the versions, so the outcome is inferred from the
//! answers and the appointment the call booked, and the versions from their save times.
//! Below them, the reminder calls slotline placed, with their outcome.

use askama::Template;
use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Path},
};

use crate::{
    call::heard::{self, Verb},
    console::{
        auth::Operator,
        render, tenant,
        view::{Frame, masked, when, zone},
    },
    db::{self, console::CallRow},
    flow::{change, question},
    startup::AppState,
    texml::{APOLOGY, APOLOGY_HANDOFF, docs::NAMES},
};

/// Calls shown on the page.
const SHOWN: usize = 50;

/// One call as the page shows it.
pub struct Row {
    started: String,
    caller: String,
    direction: String,
    status: String,
    duration: String,
    outcome: &'static str,
    turns: Vec<Vec<String>>,
    documents: String,
}

/// One reminder-call attempt as the page shows it.
pub struct ReminderRow {
    at: String,
    to: String,
    appointment: Option<i64>,
    attempt: String,
    status: String,
    outcome: String,
    note: String,
}

#[derive(Template)]
#[template(path = "console/calls.html")]
struct Page {
    frame: Frame,
    rows: Vec<Row>,
    reminders: Vec<ReminderRow>,
}

/// What the line said in one stored answer, line by line.
fn spoken(doc: &[Verb]) -> Vec<String> {
    doc.iter()
        .filter_map(|v| match v {
            Verb::Say { text, .. } => Some(text.clone()),
            Verb::Gather(g) => Some(g.greeting.clone()),
            Verb::Dial(numbers) => Some(format!(
                "(handed to {})",
                numbers
                    .iter()
                    .map(|n| masked(Some(n)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Verb::Hangup => Some("(hung up)".into()),
            Verb::Other(_) => None,
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// `closed v3, fallback default, transfer default`: which saved version of each document
/// was being served when the call started.
fn documents_in_effect(saved: &[(String, i64)]) -> String {
    NAMES
        .iter()
        .map(|name| match saved.iter().find(|(n, _)| n == name) {
            Some((_, id)) => format!("{name} v{id}"),
            None => format!("{name} default"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How the call went, from what the line answered and what it booked: an apology is an
/// error; a booking made on the call wins; then a move or a cancellation (the line's own
/// words after one, `flow::change::{MOVED, CANCELLED}`), a hand-off, a question (an answer
/// followed by the booking question, or "I don't know that"), alternatives offered.
fn outcome(call: &CallRow, answers: &[(String, Vec<Verb>)]) -> &'static str {
    let verbs = || answers.iter().flat_map(|(_, vs)| vs.iter());
    let said = |t: &str| verbs().any(|v| matches!(v, Verb::Say { text, .. } if text == t));
    let says =
        |lead: &str| verbs().any(|v| matches!(v, Verb::Say { text, .. } if text.starts_with(lead)));
    if said(APOLOGY) || said(APOLOGY_HANDOFF) {
        return "error";
    }
    match call.appointment_status.as_deref() {
        Some("booked") => return "booked",
        Some("held") => return "holding a time",
        _ => {}
    }
    if says(change::MOVED) {
        return "moved";
    }
    if says(change::CANCELLED) {
        return "cancelled";
    }
    if verbs().any(|v| matches!(v, Verb::Dial(_))) {
        return "hand-off";
    }
    let answered = verbs().any(|v| match v {
        Verb::Gather(g) => {
            g.greeting.ends_with(question::THEN_BOOK) || g.greeting.starts_with(question::DONT_KNOW)
        }
        Verb::Say { text, .. } => text.starts_with(question::DONT_KNOW),
        _ => false,
    });
    if answered {
        return "question";
    }
    if call.offered {
        return "alternatives offered";
    }
    if let Some((_, last)) = answers.last()
        && !last.iter().any(|v| matches!(v, Verb::Gather(_)))
    {
        return "ended without a booking";
    }
    if db::calls::is_final(&call.status) {
        "abandoned"
    } else {
        "in progress"
    }
}

/// `GET /console/tenants/{id}/calls`.
#[handler]
pub async fn page(
    Operator(session): Operator,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let tz = zone(&tenant);
    let tenant_id = tenant.id;
    let (calls, reminder_calls) = state
        .db
        .run(move |c| {
            Ok((
                db::console::calls(c, tenant_id, SHOWN)?,
                db::console::reminder_calls(c, tenant_id, SHOWN)?,
            ))
        })
        .await
        .map_err(crate::console::ConsoleError::from)?;
    let reminders = reminder_calls
        .into_iter()
        .map(|r| ReminderRow {
            at: when(r.at, &tz),
            to: masked(r.number.as_deref()),
            appointment: r.appointment_id,
            attempt: r.attempt.map(|a| a.to_string()).unwrap_or_default(),
            status: r.status,
            outcome: r.outcome.unwrap_or_default(),
            note: [r.answered_by.map(|a| format!("answered by {a}")), r.reason]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; "),
        })
        .collect();
    let rows = calls
        .iter()
        .map(|call| {
            let answers: Vec<(String, Vec<Verb>)> = call
                .answers
                .iter()
                .map(|(step, doc)| (step.clone(), heard::read(doc).unwrap_or_default()))
                .collect();
            Row {
                started: when(call.started_at, &tz),
                caller: masked(call.from_number.as_deref()),
                direction: call.direction.clone(),
                status: call.status.clone(),
                duration: call
                    .duration_seconds
                    .map_or_else(String::new, |s| format!("{}:{:02}", s / 60, s % 60)),
                outcome: outcome(call, &answers),
                turns: answers.iter().map(|(_, vs)| spoken(vs)).collect(),
                documents: documents_in_effect(&call.documents),
            }
        })
        .collect();
    let html = Page {
        frame: Frame::of(&tenant, "Calls", &session.form_token, "calls"),
        rows,
        reminders,
    };
    Ok(render(&html, StatusCode::OK)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(status: &str, appointment: Option<&str>) -> CallRow {
        CallRow {
            call_sid: "c".into(),
            from_number: Some("+13125550199".into()),
            direction: "inbound".into(),
            status: status.into(),
            started_at: 0,
            duration_seconds: None,
            appointment_status: appointment.map(str::to_string),
            offered: false,
            answers: Vec::new(),
            documents: Vec::new(),
        }
    }

    fn say(text: &str) -> Verb {
        Verb::Say {
            voice: None,
            text: text.into(),
        }
    }

    #[test]
    fn the_outcome_follows_what_the_line_answered() {
        let booked = [("c2".to_string(), vec![say("Booked."), Verb::Hangup])];
        assert_eq!(
            outcome(&call("completed", Some("booked")), &booked),
            "booked"
        );
        let error = [("g1".to_string(), vec![say(APOLOGY), Verb::Hangup])];
        assert_eq!(outcome(&call("completed", None), &error), "error");
        let dial = [(
            "g1".to_string(),
            vec![say("One moment."), Verb::Dial(vec!["+13125550100".into()])],
        )];
        assert_eq!(outcome(&call("completed", None), &dial), "hand-off");
        // Moved in the first turn (a `g` step) or the reschedule turn alike.
        let moved = [(
            "g1".to_string(),
            vec![
                say("Done. Your Cut with Ana is now on Friday."),
                Verb::Hangup,
            ],
        )];
        assert_eq!(outcome(&call("completed", None), &moved), "moved");
        let cancelled = [(
            "x2".to_string(),
            vec![say("Done: your Cut with Ana is cancelled."), Verb::Hangup],
        )];
        assert_eq!(outcome(&call("completed", None), &cancelled), "cancelled");
        // A "no" to cancelling is not a cancellation.
        let kept = [(
            "x2".to_string(),
            vec![
                say("No problem, your Cut with Ana stays as it is. Goodbye."),
                Verb::Hangup,
            ],
        )];
        assert_eq!(
            outcome(&call("completed", None), &kept),
            "ended without a booking"
        );
        let unknown = [(
            "g1".to_string(),
            vec![
                say("I'm sorry, I don't know that. Please contact us directly. Goodbye."),
                Verb::Hangup,
            ],
        )];
        assert_eq!(outcome(&call("completed", None), &unknown), "question");
        assert_eq!(outcome(&call("completed", None), &[]), "abandoned");
        assert_eq!(outcome(&call("in-progress", None), &[]), "in progress");
        let offered = CallRow {
            offered: true,
            ..call("completed", None)
        };
        assert_eq!(outcome(&offered, &[]), "alternatives offered");
    }

    #[test]
    fn each_document_is_named_with_its_version_or_the_default() {
        let saved = [("fallback".to_string(), 7)];
        let line = documents_in_effect(&saved);
        assert!(
            line.starts_with("closed default, fallback v7, transfer default"),
            "{line}"
        );
        assert_eq!(
            line.matches(", ").count(),
            NAMES.len() - 1,
            "every document: {line}"
        );
    }

    #[test]
    fn the_turns_are_the_spoken_lines_and_numbers_are_masked() {
        let lines = spoken(&[
            say("Hello."),
            Verb::Dial(vec!["+13125550100".into()]),
            Verb::Other("Pause".into()),
        ]);
        assert_eq!(lines[0], "Hello.");
        assert!(!lines[1].contains("5550100"), "{}", lines[1]);
    }
}

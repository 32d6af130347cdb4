//! A tenant's latest calls, newest first: when, the caller masked, how long, the outcome
//! the line recorded, each turn as spoken (what the caller said, what the line said), and
//! the saved version of each operator document the call was served. Below them, the
//! reminder calls slotline placed, with their outcome.

use askama::Template;
use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Path},
};

use crate::{
    console::{
        auth::Operator,
        render, tenant,
        view::{Frame, masked, when, zone},
    },
    db::{self, console::CallRow},
    startup::AppState,
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
    turns: Vec<Turn>,
    documents: String,
}

/// One turn as the page shows it.
pub struct Turn {
    /// What the caller said (empty for the first answer and when nothing was heard).
    heard: String,
    /// What the line said, line by line.
    said: Vec<String>,
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

/// How the call went, in words: what it settled (`db::console::CallRow::outcome`); a call
/// that settled nothing was abandoned once it ended (or is still going on).
fn outcome(call: &CallRow) -> &'static str {
    match call.outcome.as_deref() {
        Some("booked") => "booked",
        Some("held") => "holding a time",
        Some("moved") => "moved",
        Some("cancelled") => "cancelled",
        Some("question") => "question",
        Some("alternatives") => "alternatives offered",
        Some("hand-off") => "hand-off",
        Some("ended") => "ended without a change",
        Some("error") => "error",
        Some(_) => "unknown",
        None if db::calls::is_final(&call.status) => "abandoned",
        None => "in progress",
    }
}

/// The call's turns as spoken: the first answer, then each stored turn.
fn turns(call: &CallRow) -> Vec<Turn> {
    let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
    call.first_said
        .iter()
        .map(|said| Turn {
            heard: String::new(),
            said: lines(said),
        })
        .chain(call.turns.iter().map(|t| Turn {
            heard: t.heard.clone(),
            said: lines(&t.said),
        }))
        .collect()
}

/// `closed v3, transfer default`: each operator document the call was served, named by
/// its saved version (`saved` holds (fingerprint, name, version id) of the tenant's
/// versions), as the default, or as a file edited by hand and not saved through slotline.
fn documents_used(call: &CallRow, saved: &[(String, String, i64)]) -> String {
    let mut named: Vec<String> = Vec::new();
    let all = call
        .documents
        .iter()
        .chain(call.turns.iter().filter_map(|t| t.documents.as_ref()));
    for used in all.flat_map(|d| d.split(' ')) {
        let mut parts = used.splitn(3, ':');
        let (Some(name), Some(source), Some(print)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let label = match source {
            "tenant" => match saved.iter().find(|(p, n, _)| p == print && n == name) {
                Some((_, _, id)) => format!("{name} v{id}"),
                None => format!("{name} (edited on disk, not saved through slotline)"),
            },
            "built-in" => format!("{name} built-in"),
            _ => format!("{name} default"),
        };
        if !named.contains(&label) {
            named.push(label);
        }
    }
    if named.is_empty() {
        "none (greeting and questions from the wording)".into()
    } else {
        named.join(", ")
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
    let (log, dialer) = (state.store.calls(), state.store.reminder_calls());
    let (calls, reminder_calls, saved) = tokio::try_join!(
        log.latest(tenant_id, SHOWN),
        dialer.latest(tenant_id, SHOWN),
        log.version_fingerprints(tenant_id),
    )
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
        .map(|call| Row {
            started: when(call.started_at, &tz),
            caller: masked(call.from_number.as_deref()),
            direction: call.direction.clone(),
            status: call.status.clone(),
            duration: call
                .duration_seconds
                .map_or_else(String::new, |s| format!("{}:{:02}", s / 60, s % 60)),
            outcome: outcome(call),
            turns: turns(call),
            documents: documents_used(call, &saved),
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
    use crate::db::console::TurnRow;

    fn call(status: &str, turns: &[(Option<&str>, Option<&str>)]) -> CallRow {
        let outcome = turns.iter().rev().find_map(|(o, _)| o.map(str::to_string));
        CallRow {
            outcome,
            call_sid: "c".into(),
            from_number: Some("+13125550199".into()),
            direction: "inbound".into(),
            status: status.into(),
            started_at: 0,
            duration_seconds: None,
            first_said: Some("Hello.".into()),
            documents: None,
            turns: turns
                .iter()
                .map(|(outcome, documents)| TurnRow {
                    heard: "a cut tomorrow at 3".into(),
                    said: "Booked.\n(hung up)".into(),
                    outcome: outcome.map(str::to_string),
                    documents: documents.map(str::to_string),
                })
                .collect(),
        }
    }

    #[test]
    fn the_outcome_is_said_in_words_and_a_call_that_settled_nothing_is_abandoned() {
        assert_eq!(
            outcome(&call("completed", &[(Some("held"), None)])),
            "holding a time"
        );
        assert_eq!(
            outcome(&call("completed", &[(Some("alternatives"), None)])),
            "alternatives offered"
        );
        assert_eq!(outcome(&call("completed", &[(None, None)])), "abandoned");
        assert_eq!(outcome(&call("in-progress", &[])), "in progress");
    }

    #[test]
    fn each_document_is_named_by_its_saved_version_the_default_or_a_hand_edit() {
        let saved = [("00000000000000aa".to_string(), "transfer".to_string(), 7)];
        let mut c = call(
            "completed",
            &[(Some("hand-off"), Some("transfer:tenant:00000000000000aa"))],
        );
        c.documents = Some("closed:default:1234".into());
        assert_eq!(documents_used(&c, &saved), "closed default, transfer v7");
        let c = call("completed", &[(None, Some("transfer:tenant:ffff"))]);
        assert_eq!(
            documents_used(&c, &saved),
            "transfer (edited on disk, not saved through slotline)"
        );
        assert!(documents_used(&call("completed", &[]), &saved).starts_with("none"));
    }

    #[test]
    fn the_turns_start_with_the_first_answer_and_keep_the_callers_words() {
        let t = turns(&call("completed", &[(Some("booked"), None)]));
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].said, ["Hello."]);
        assert!(t[0].heard.is_empty());
        assert_eq!(t[1].heard, "a cut tomorrow at 3");
        assert_eq!(t[1].said, ["Booked.", "(hung up)"]);
    }
}

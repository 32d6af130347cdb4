//! Health: the server's readiness (the detail `/ready` gives the admin) in words, and
//! each tenant's call funnel over the last 7 days (the same figures as
//! `GET /tenants/{id}/stats`).

use askama::Template;
use jiff::SignedDuration;
use poem::{Response, handler, http::StatusCode, web::Data};

use crate::{
    console::{ConsoleError, auth::Operator, render, view::Frame},
    db::upkeep::Funnel,
    heartbeat::TaskState,
    startup::AppState,
};

/// One line of the readiness report: what was checked and what was found.
pub struct Check {
    what: &'static str,
    found: String,
}

/// A tenant's funnel row.
pub struct FunnelRow {
    slug: String,
    name: String,
    funnel: Funnel,
}

impl FunnelRow {
    fn share(&self, part: &i64) -> String {
        match self.funnel.calls {
            0 => String::new(),
            calls => format!("{}%", part * 100 / calls),
        }
    }
}

#[derive(Template)]
#[template(path = "console/health.html")]
struct Page {
    frame: Frame,
    ready: bool,
    problems: Vec<String>,
    checks: Vec<Check>,
    funnels: Vec<FunnelRow>,
}

/// Bytes as the page writes them.
fn size(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    match bytes {
        b if b >= 1024 * MB => format!("{:.1} GB", b as f64 / (1024 * MB) as f64),
        b if b >= MB => format!("{:.1} MB", b as f64 / MB as f64),
        b => format!("{} kB", b.div_ceil(1024)),
    }
}

fn task_state(state: &TaskState) -> String {
    match state {
        TaskState::Running { silent_ms } => {
            format!("running (last seen {} s ago)", silent_ms / 1000)
        }
        TaskState::Silent {
            silent_ms,
            limit_ms,
        } => format!(
            "silent for {} s, longer than its {} s limit: it may be stuck",
            silent_ms / 1000,
            limit_ms / 1000
        ),
        TaskState::Stopped => "stopped: it no longer runs".into(),
    }
}

/// `GET /console/health`.
#[handler]
pub async fn page(Operator(session): Operator, state: Data<&AppState>) -> poem::Result<Response> {
    let report = state.readiness.report().await;
    let mut checks = vec![
        Check {
            what: "Database writer",
            found: report.writer_round_trip_ms.map_or_else(
                || "did not answer in time".to_string(),
                |ms| format!("answers in {ms:.1} ms"),
            ),
        },
        Check {
            what: "Oldest text waiting to be sent",
            found: report
                .oldest_due_text_seconds
                .map_or_else(|| "none waiting".to_string(), |s| format!("due {s} s ago")),
        },
        Check {
            what: "Free disk beside the database",
            found: report
                .free_disk_bytes
                .map_or_else(|| "could not be read".to_string(), size),
        },
        Check {
            what: "Write-ahead log",
            found: size(report.wal_bytes),
        },
        Check {
            what: "Telnyx signature key",
            found: if report.signature_key {
                "set: Telnyx's requests are checked".into()
            } else {
                "missing: set TELNYX_PUBLIC_KEY".into()
            },
        },
        Check {
            what: "Public URL given to Telnyx",
            found: report.public_url.clone(),
        },
        Check {
            what: "Time zone rules",
            found: format!(
                "{}{}",
                report.tzdb.source,
                report
                    .tzdb
                    .version
                    .as_deref()
                    .map(|v| format!(", release {v}"))
                    .unwrap_or_default()
            ),
        },
    ];
    checks.extend(report.tasks.iter().map(|t| Check {
        what: t.name,
        found: task_state(&t.state),
    }));
    let now = state.clock.now();
    let (from, to) = (
        (now - SignedDuration::from_hours(24 * 7)).as_second(),
        now.as_second() + 1,
    );
    let tenants = state
        .store
        .tenants()
        .list()
        .await
        .map_err(ConsoleError::from)?;
    let counted = state
        .store
        .upkeep()
        .funnels(tenants.iter().map(|t| t.id).collect(), from, to)
        .await
        .map_err(ConsoleError::from)?;
    let funnels = tenants
        .into_iter()
        .zip(counted)
        .map(|(t, funnel)| FunnelRow {
            funnel,
            slug: t.spec.slug,
            name: t.spec.name,
        })
        .collect();
    let html = Page {
        frame: Frame::plain("Health", &session.form_token, "health"),
        ready: report.ready,
        problems: report.problems.clone(),
        checks,
        funnels,
    };
    Ok(render(&html, StatusCode::OK)?)
}

//! Readiness: whether this server can take calls and send texts right now, and if not,
//! why. Checks the writer thread with a round trip under a deadline, every background
//! task's heartbeat, the oldest due text still unsent, free disk and the WAL's size
//! against the settings, the signature key and the public URL. One check runs at a time
//! and its report is reused for [`REUSE`], so a flood of `/ready` costs the database at
//! most one probe a second.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::Mutex;

use crate::{
    clock::Clock,
    config::{Settings, unreachable_reason},
    db::store::Store,
    heartbeat::{Heartbeats, TaskReport},
    tzdb::{self, TzdbInfo},
};

/// How long a report answers later requests.
pub const REUSE: Duration = Duration::from_secs(1);

/// The last report and when it was made.
type Last = Arc<Mutex<Option<(Instant, Arc<Report>)>>>;

/// What readiness looks at.
#[derive(Clone)]
pub struct Readiness {
    store: Store,
    heartbeats: Arc<Heartbeats>,
    clock: Clock,
    settings: Arc<Settings>,
    last: Last,
}

/// The outcome of one check, as `/ready` shows it to the admin.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// No problem found.
    pub ready: bool,
    /// Each problem, one line each, most important first.
    pub problems: Vec<String>,
    /// The writer's round trip, when it answered within the deadline.
    pub writer_round_trip_ms: Option<f64>,
    /// Each background task.
    pub tasks: Vec<TaskReport>,
    /// How long the oldest due text has waited unsent.
    pub oldest_due_text_seconds: Option<i64>,
    /// Free space on the database's file system, when it could be read.
    pub free_disk_bytes: Option<u64>,
    /// The WAL file's size.
    pub wal_bytes: u64,
    /// Whether Telnyx's signatures can be checked (a key, or demo mode's).
    pub signature_key: bool,
    /// The public URL Telnyx is sent to.
    pub public_url: String,
    /// Which time zone rules are in use.
    pub tzdb: TzdbInfo,
}

impl Report {
    /// The one line a monitor gets: `ready`, or `not ready: …` with every problem.
    pub fn line(&self) -> String {
        if self.ready {
            "ready".into()
        } else {
            format!("not ready: {}", self.problems.join("; "))
        }
    }
}

impl Readiness {
    /// Readiness over these parts.
    pub fn new(
        store: Store,
        heartbeats: Arc<Heartbeats>,
        clock: Clock,
        settings: Arc<Settings>,
    ) -> Self {
        Self {
            store,
            heartbeats,
            clock,
            settings,
            last: Arc::default(),
        }
    }

    /// The current report: a fresh check, or the last one if it is under [`REUSE`] old.
    pub async fn report(&self) -> Arc<Report> {
        let mut last = self.last.lock().await;
        if let Some((at, report)) = last.as_ref()
            && at.elapsed() < REUSE
        {
            return report.clone();
        }
        let report = Arc::new(self.check().await);
        *last = Some((Instant::now(), report.clone()));
        report
    }

    async fn check(&self) -> Report {
        let s = &self.settings;
        let u = &s.upkeep;
        let mut problems = Vec::new();
        let started = Instant::now();
        let writer =
            tokio::time::timeout(u.writer_deadline, self.store.upkeep().write_round_trip()).await;
        let writer_round_trip_ms = match writer {
            Ok(Ok(())) => Some(started.elapsed().as_secs_f64() * 1000.0),
            Ok(Err(e)) => {
                problems.push(format!("the database writer failed: {e}"));
                None
            }
            Err(_) => {
                problems.push(format!(
                    "the database writer did not answer within {} ms",
                    u.writer_deadline.as_millis()
                ));
                None
            }
        };
        let tasks = self.heartbeats.report();
        problems.extend(tasks.iter().filter_map(TaskReport::problem));
        let now = self.clock.now().as_second();
        let oldest =
            tokio::time::timeout(u.writer_deadline, self.store.upkeep().oldest_due_text(now)).await;
        let oldest_due_text_seconds = match oldest {
            Ok(Ok(due)) => due.map(|due| (now - due).max(0)),
            Ok(Err(e)) => {
                problems.push(format!("the outbox could not be read: {e}"));
                None
            }
            Err(_) => {
                problems.push("the outbox could not be read in time".into());
                None
            }
        };
        if let Some(lag) = oldest_due_text_seconds
            && lag > u.max_text_lag.as_secs() as i64
        {
            problems.push(format!(
                "the oldest due text has waited {lag} s unsent (limit {} s)",
                u.max_text_lag.as_secs()
            ));
        }
        // A SQLite file's disk and WAL are this node's to watch; a PostgreSQL server's are
        // its own operator's (and its monitoring's).
        let local = matches!(self.store, Store::Sqlite(_));
        let free_disk_bytes = free_space(&s.db_path).filter(|_| local);
        match free_disk_bytes {
            Some(free) if free < u.min_free_bytes => problems.push(format!(
                "{} MB free on the database's disk (limit {} MB)",
                free >> 20,
                u.min_free_bytes >> 20
            )),
            Some(_) => {}
            None if !local => {}
            None => problems.push(format!(
                "free space beside {} cannot be read",
                s.db_path.display()
            )),
        }
        let wal_bytes = match local {
            true => std::fs::metadata(wal_path(&s.db_path)).map_or(0, |m| m.len()),
            false => 0,
        };
        if wal_bytes > u.max_wal_bytes {
            problems.push(format!(
                "the WAL is {} MB (limit {} MB): checkpoints are not keeping up",
                wal_bytes >> 20,
                u.max_wal_bytes >> 20
            ));
        }
        let signature_key = s.telnyx_public_key.is_some() || s.demo;
        let development = s.insecure_skip_signatures || s.demo;
        if !signature_key && !s.insecure_skip_signatures {
            problems
                .push("TELNYX_PUBLIC_KEY is not set: every Telnyx request is refused (403)".into());
        }
        if let Some(why) = unreachable_reason(&s.public_url)
            && !development
        {
            problems.push(format!(
                "SLOTLINE_PUBLIC_URL {:?} {why}: Telnyx cannot follow the action URLs",
                s.public_url
            ));
        }
        Report {
            ready: problems.is_empty(),
            problems,
            writer_round_trip_ms,
            tasks,
            oldest_due_text_seconds,
            free_disk_bytes,
            wal_bytes,
            signature_key,
            public_url: s.public_url.clone(),
            tzdb: tzdb::info().clone(),
        }
    }
}

/// The WAL file beside the database at `db`.
pub fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Bytes an unprivileged writer may still use on the file system holding `db`.
pub fn free_space(db: &Path) -> Option<u64> {
    let dir = match db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_sits_beside_the_database() {
        assert_eq!(
            wal_path(Path::new("data/slotline.db")),
            PathBuf::from("data/slotline.db-wal")
        );
    }

    #[test]
    fn free_space_is_read_for_a_relative_and_an_absolute_path() {
        assert!(free_space(Path::new("slotline.db")).is_some());
        let dir = tempfile::tempdir().unwrap();
        assert!(free_space(&dir.path().join("x.db")).unwrap() > 0);
    }
}

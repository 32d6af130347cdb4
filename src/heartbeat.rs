//! Heartbeats of the background tasks, for `/ready`: each task registers once with the
//! longest silence that is still healthy and beats on every turn of its loop (one atomic
//! store). A task whose every [`Beat`] handle is gone (it was stopped, or its supervisor
//! ended) reports as stopped; one that stops beating reports how long it has been silent.
//! A task added later registers with one line: `let beat = heartbeats.register(name, max)`.

use std::{
    sync::{
        Arc, Mutex, PoisonError, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::task::AbortHandle;

/// How often a task that waits for work should still beat while it is idle.
pub const IDLE_BEAT: Duration = Duration::from_secs(1);
/// The silence after which the built-in tasks count as wedged.
pub const DEFAULT_MAX_SILENCE: Duration = Duration::from_secs(30);

/// What one task shares with the registry.
struct Entry {
    name: &'static str,
    max_silence: Duration,
    /// Milliseconds since the registry's start at the last beat.
    last_ms: AtomicU64,
}

/// Held by a running task; beating is one atomic store. Clones beat for the same task.
#[derive(Clone)]
pub struct Beat(Arc<Alive>);

struct Alive {
    entry: Arc<Entry>,
    base: Instant,
}

impl Beat {
    /// Records that the task is alive now.
    pub fn beat(&self) {
        let ms = self.0.base.elapsed().as_millis() as u64;
        self.0.entry.last_ms.store(ms, Ordering::Relaxed);
    }
}

struct Registered {
    entry: Arc<Entry>,
    alive: Weak<Alive>,
    abort: Option<AbortHandle>,
}

/// Every registered task.
pub struct Heartbeats {
    base: Instant,
    tasks: Mutex<Vec<Registered>>,
}

/// How a task is doing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum TaskState {
    /// It beat within its limit.
    Running {
        /// Since its last beat.
        silent_ms: u64,
    },
    /// It has not beaten for longer than its limit (wedged).
    Silent {
        /// Since its last beat.
        silent_ms: u64,
        /// Its limit.
        limit_ms: u64,
    },
    /// It no longer runs.
    Stopped,
}

/// One task's line in the readiness report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TaskReport {
    /// The task's name, e.g. "SMS worker".
    pub name: &'static str,
    /// How it is doing.
    #[serde(flatten)]
    pub state: TaskState,
}

impl TaskReport {
    /// Why this task makes the server not ready, if it does.
    pub fn problem(&self) -> Option<String> {
        match self.state {
            TaskState::Running { .. } => None,
            TaskState::Silent {
                silent_ms,
                limit_ms,
            } => Some(format!(
                "{} has not run for {} s (limit {} s)",
                self.name,
                silent_ms / 1000,
                limit_ms / 1000
            )),
            TaskState::Stopped => Some(format!("{} is stopped", self.name)),
        }
    }
}

impl Default for Heartbeats {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            tasks: Mutex::new(Vec::new()),
        }
    }
}

impl Heartbeats {
    /// Registers task `name`, healthy while it beats at least every `max_silence`. It
    /// counts as having beaten now.
    pub fn register(&self, name: &'static str, max_silence: Duration) -> Beat {
        let entry = Arc::new(Entry {
            name,
            max_silence,
            last_ms: AtomicU64::new(self.base.elapsed().as_millis() as u64),
        });
        let alive = Arc::new(Alive {
            entry: entry.clone(),
            base: self.base,
        });
        self.lock().push(Registered {
            entry,
            alive: Arc::downgrade(&alive),
            abort: None,
        });
        Beat(alive)
    }

    /// Lets [`Heartbeats::stop`] stop task `name` through its supervisor's handle.
    pub fn attach(&self, name: &str, handle: AbortHandle) {
        if let Some(r) = self.lock().iter_mut().rev().find(|r| r.entry.name == name) {
            r.abort = Some(handle);
        }
    }

    /// Stops task `name` (an operator's last resort, and how tests see `/ready` notice a
    /// dead task); false when no such task is attached.
    pub fn stop(&self, name: &str) -> bool {
        let tasks = self.lock();
        let Some(handle) = tasks
            .iter()
            .rev()
            .find(|r| r.entry.name == name)
            .and_then(|r| r.abort.as_ref())
        else {
            return false;
        };
        handle.abort();
        true
    }

    /// How every task is doing, in registration order.
    pub fn report(&self) -> Vec<TaskReport> {
        let now = self.base.elapsed().as_millis() as u64;
        self.lock()
            .iter()
            .map(|r| {
                let silent_ms = now.saturating_sub(r.entry.last_ms.load(Ordering::Relaxed));
                let limit_ms = r.entry.max_silence.as_millis() as u64;
                let state = if r.alive.strong_count() == 0 {
                    TaskState::Stopped
                } else if silent_ms > limit_ms {
                    TaskState::Silent {
                        silent_ms,
                        limit_ms,
                    }
                } else {
                    TaskState::Running { silent_ms }
                };
                TaskReport {
                    name: r.entry.name,
                    state,
                }
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Registered>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_that_beats_runs_and_one_whose_handles_are_gone_is_stopped() {
        let beats = Heartbeats::default();
        let a = beats.register("a", Duration::from_secs(30));
        let b = beats.register("b", Duration::from_secs(30));
        a.beat();
        drop(b);
        let report = beats.report();
        assert!(matches!(report[0].state, TaskState::Running { .. }));
        assert_eq!(report[1].state, TaskState::Stopped);
        assert_eq!(report[1].problem().unwrap(), "b is stopped");
    }

    #[test]
    fn a_task_silent_past_its_limit_is_reported_with_how_long() {
        let beats = Heartbeats::default();
        let _a = beats.register("a", Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        let report = beats.report();
        assert!(matches!(report[0].state, TaskState::Silent { .. }));
        assert!(
            report[0]
                .problem()
                .unwrap()
                .starts_with("a has not run for")
        );
    }

    #[tokio::test]
    async fn stop_aborts_the_attached_task_and_it_reports_stopped() {
        let beats = Heartbeats::default();
        let beat = beats.register("worker", Duration::from_secs(30));
        let task = tokio::spawn(async move {
            loop {
                beat.beat();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        beats.attach("worker", task.abort_handle());
        assert!(!beats.stop("nobody"));
        assert!(beats.stop("worker"));
        let _ = task.await;
        assert_eq!(beats.report()[0].state, TaskState::Stopped);
    }
}

//! Request deadlines carried into storage. A Telnyx request has about two seconds before
//! Telnyx gives up and the caller hears the fallback, so a TeXML handler runs under a
//! deadline ([`scope`]); every read and write it makes inside sees it. A write that has not
//! committed by the deadline never commits: the writer skips a job whose caller has gone,
//! and a commit hook turns a late COMMIT into a ROLLBACK. A write already committing when
//! the deadline passes is waited for, so what the caller is told always matches what the
//! database holds.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `fut` with every storage call inside it bounded by `deadline`.
pub async fn scope<F: std::future::Future>(deadline: Instant, fut: F) -> F::Output {
    DEADLINE.scope(deadline, fut).await
}

/// The deadline of the request being served, if any.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// What remains until `deadline` (zero once passed).
pub fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const COMMITTING: u8 = 2;
const ABANDONED: u8 = 3;

/// Shared between a waiting request and its job on the writer thread; whoever moves it
/// first decides whether the job's commit may happen.
#[derive(Clone)]
pub struct Ticket {
    state: Arc<AtomicU8>,
    deadline: Instant,
}

impl Ticket {
    /// A ticket for a job queued now.
    pub fn new(deadline: Instant) -> Self {
        Self {
            state: Arc::new(AtomicU8::new(QUEUED)),
            deadline,
        }
    }

    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Called by the writer before the job: false when the request has given up already.
    pub fn start(&self) -> bool {
        Instant::now() < self.deadline
            && self
                .state
                .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// The commit hook's question: may this COMMIT go ahead? Once one is allowed, the
    /// request waits for the job to finish rather than give up.
    pub fn may_commit(&self) -> bool {
        loop {
            let now = self.state.load(Ordering::Acquire);
            match now {
                ABANDONED => return false,
                COMMITTING => return true,
                _ if Instant::now() >= self.deadline => {
                    let _ = self.state.compare_exchange(
                        now,
                        ABANDONED,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                    return false;
                }
                _ => {
                    if self
                        .state
                        .compare_exchange(now, COMMITTING, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        return true;
                    }
                }
            }
        }
    }

    /// Whether the job was given up (by the request, or by a refused late commit).
    pub fn is_abandoned(&self) -> bool {
        self.state.load(Ordering::Acquire) == ABANDONED
    }

    /// Called by the request when its deadline passes: true when the job will never
    /// commit (the caller can be told so), false when a commit is under way (wait for it).
    pub fn abandon(&self) -> bool {
        loop {
            let now = self.state.load(Ordering::Acquire);
            match now {
                COMMITTING => return false,
                ABANDONED => return true,
                _ => {
                    if self
                        .state
                        .compare_exchange(now, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        return true;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn a_job_the_request_gave_up_on_never_starts() {
        let t = Ticket::new(later());
        assert!(t.abandon());
        assert!(!t.start());
    }

    #[test]
    fn a_commit_allowed_before_the_deadline_is_waited_for() {
        let t = Ticket::new(later());
        assert!(t.start());
        assert!(t.may_commit());
        assert!(
            !t.abandon(),
            "the request must wait for the commit under way"
        );
        assert!(
            t.may_commit(),
            "a second statement of the same job still commits"
        );
    }

    #[test]
    fn once_abandoned_no_commit_goes_ahead() {
        let t = Ticket::new(later());
        assert!(t.start());
        assert!(t.abandon());
        assert!(!t.may_commit());
    }

    #[test]
    fn a_commit_after_the_deadline_is_refused_even_unabandoned() {
        let t = Ticket::new(Instant::now() + Duration::from_millis(1));
        assert!(t.start() || Instant::now() >= t.deadline());
        std::thread::sleep(Duration::from_millis(5));
        assert!(!t.may_commit());
        assert!(t.abandon());
    }

    #[tokio::test]
    async fn the_deadline_is_seen_inside_the_scope_only() {
        assert!(current().is_none());
        let d = later();
        assert_eq!(scope(d, async { current() }).await, Some(d));
    }
}

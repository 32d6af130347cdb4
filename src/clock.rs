//! The clock every time-dependent decision reads. Production uses the system clock; tests
//! set it (to replay the fixtures' signed requests at their own timestamp, or to stand on
//! a DST change).

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use jiff::Timestamp;

/// System time, or a manually set time.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock stopped at `at`, movable with [`Clock::set`].
    pub fn manual(at: Timestamp) -> Self {
        Self {
            manual: Some(Arc::new(AtomicI64::new(at.as_second()))),
        }
    }

    /// Moves a manual clock (no effect on the system clock).
    pub fn set(&self, at: Timestamp) {
        if let Some(m) = &self.manual {
            m.store(at.as_second(), Ordering::SeqCst);
        }
    }

    /// Wall-clock Unix milliseconds, whatever the clock: leases and retry timing are
    /// about real time passing, not business time.
    pub fn wall_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    }

    /// Now, to the second.
    pub fn now(&self) -> Timestamp {
        match &self.manual {
            Some(m) => {
                Timestamp::from_second(m.load(Ordering::SeqCst)).unwrap_or(Timestamp::UNIX_EPOCH)
            }
            None => Timestamp::now(),
        }
    }
}

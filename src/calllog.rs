//! Call starts, recorded off the request path: the voice URL appends each one to a
//! bounded in-memory queue and a task writes them in batches, one transaction per batch.
//! Appending wakes nobody except for the first start of a batch, so a call costs the
//! server no thread wake-up beyond its own request. The starts feed the stats and the
//! calls page: when the queue is full (SQLite far behind) a start is dropped rather than
//! slowing a caller down, and a warning counts the dropped ones, at most one a second (a
//! line per dropped call was 300,000 lines in an 8 s overload run). Shutdown flushes what
//! is queued.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::{sync::Notify, task::JoinHandle};

use crate::{
    db::store::Store,
    heartbeat::{Beat, IDLE_BEAT},
};

/// Most starts waiting to be written.
const QUEUE: usize = 16_384;
/// Most starts written in one transaction.
const BATCH: usize = 512;
/// Least time between two "not recorded" warnings.
const WARN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How long a batch waits for more starts after its first. Short on purpose: the writer's
/// work per batch is a CPU burst on a machine the server shares, and at 2,000 calls/s a
/// 50 ms window (about 100 rows a burst) put the voice URL's p99 at 2.4 ms where 10 ms
/// gives 1.7 ms (bench/run, paced phase). One transaction per 20 rows is still cheap.
const WINDOW: std::time::Duration = std::time::Duration::from_millis(10);

/// A call that reached a tenant's line.
#[derive(Clone)]
pub struct CallStart {
    /// The call.
    pub call_sid: String,
    /// The tenant whose number was dialled.
    pub tenant_id: i64,
    /// Caller, as sent.
    pub from: Option<String>,
    /// Dialled number, as sent.
    pub to: Option<String>,
    /// Unix seconds.
    pub at: i64,
    /// What the line said first (the greeting, or the lines of `closed.xml`).
    pub said: String,
    /// The operator documents the first answer was served from, if any.
    pub documents: Option<String>,
}

/// Redacted: the numbers are masked.
impl std::fmt::Debug for CallStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::domain::redact::Masked;
        f.debug_struct("CallStart")
            .field("call_sid", &self.call_sid)
            .field("tenant_id", &self.tenant_id)
            .field("from", &Masked(self.from.as_deref()))
            .field("to", &Masked(self.to.as_deref()))
            .field("at", &self.at)
            .finish()
    }
}

/// Starts dropped since the last warning about them.
#[derive(Default)]
struct Dropped {
    count: u64,
    warned_at: Option<std::time::Instant>,
}

impl Dropped {
    /// Counts one more at `now`; the count to warn about (and resets it), unless the last
    /// warning is less than [`WARN_EVERY`] old.
    fn note(&mut self, now: std::time::Instant) -> Option<u64> {
        self.count += 1;
        if self
            .warned_at
            .is_some_and(|at| now.saturating_duration_since(at) < WARN_EVERY)
        {
            return None;
        }
        self.warned_at = Some(now);
        Some(std::mem::take(&mut self.count))
    }
}

struct Shared {
    queue: Mutex<Vec<CallStart>>,
    dropped: Mutex<Dropped>,
    /// Signalled when a start lands in an empty queue.
    first: Notify,
    /// Held by whoever is writing a batch, so `flush` returns only after batches taken
    /// before it are in the database too.
    writing: tokio::sync::Mutex<()>,
    store: Store,
}

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct CallLog {
    shared: Arc<Shared>,
}

impl CallLog {
    /// Starts the writer task; it beats `beat` at least every [`crate::heartbeat::IDLE_BEAT`].
    pub fn spawn(store: Store, beat: Beat) -> (Self, JoinHandle<()>) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Vec::new()),
            dropped: Mutex::new(Dropped::default()),
            first: Notify::new(),
            writing: tokio::sync::Mutex::new(()),
            store,
        });
        let log = Self { shared };
        let writer = log.clone();
        let task = crate::supervise::spawn("call log", move || {
            writer.clone().write_batches(beat.clone())
        });
        (log, task)
    }

    /// Queues a call start; never waits.
    pub fn record(&self, start: CallStart) {
        let was_empty = {
            let mut queue = self
                .shared
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if queue.len() >= QUEUE {
                drop(queue);
                self.dropped();
                return;
            }
            queue.push(start);
            queue.len() == 1
        };
        if was_empty {
            self.shared.first.notify_one();
        }
    }

    /// Counts a start the full queue dropped, and warns with the count unless a warning
    /// went out less than [`WARN_EVERY`] ago.
    fn dropped(&self) {
        let warn = self
            .shared
            .dropped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .note(std::time::Instant::now());
        if let Some(count) = warn {
            tracing::warn!(
                dropped = count,
                "call starts not recorded (queue full): {count} since the last warning"
            );
        }
    }

    /// Starts queued and not yet taken by a batch (metrics).
    pub fn queued(&self) -> usize {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Waits until everything queued before this call is written.
    pub async fn flush(&self) {
        let _writing = self.shared.writing.lock().await;
        self.write_queued().await;
    }

    async fn write_batches(self, beat: Beat) {
        loop {
            beat.beat();
            // Idle, it still wakes to beat, so `/ready` can tell idle from wedged.
            if tokio::time::timeout(IDLE_BEAT, self.shared.first.notified())
                .await
                .is_err()
            {
                continue;
            }
            // Gather for a short window after the first start: one transaction for many
            // calls costs the writer far less than one each.
            tokio::time::sleep(WINDOW).await;
            let _writing = self.shared.writing.lock().await;
            self.write_queued().await;
        }
    }

    /// Takes what is queued and writes it, `BATCH` rows per transaction.
    async fn write_queued(&self) {
        let mut queued = std::mem::take(
            &mut *self
                .shared
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        while !queued.is_empty() {
            let batch: Vec<CallStart> = queued.drain(..queued.len().min(BATCH)).collect();
            if let Err(e) = self.shared.store.calls().record_starts(batch).await {
                tracing::error!(error = %e, "could not record call starts");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        db::{Db, tenants},
        domain::TenantSpec,
    };

    fn start(i: usize, tenant_id: i64) -> CallStart {
        CallStart {
            call_sid: format!("v3:call-{i}"),
            tenant_id,
            from: Some("+13125550100".into()),
            to: Some("+13125550123".into()),
            at: 1_800_000_000,
            said: "Hello.".into(),
            documents: None,
        }
    }

    fn demo_db() -> (tempfile::TempDir, Db, i64) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(include_str!("../data/demo-tenant.json")).unwrap();
        let spec = TenantSpec::from_json(&json).unwrap();
        let id = db
            .run_blocking(move |c| tenants::insert(c, &spec))
            .unwrap()
            .id;
        (dir, db, id)
    }

    fn beat() -> Beat {
        crate::heartbeat::Heartbeats::default().register("call log", IDLE_BEAT)
    }

    async fn recorded(db: &Db, tenant: i64) -> i64 {
        Store::Sqlite(db.clone())
            .calls()
            .stats(tenant, 0, i64::MAX)
            .await
            .unwrap()
            .total_calls
    }

    #[tokio::test]
    async fn starts_are_written_in_batches_and_flush_waits_for_them() {
        let (_dir, db, tenant) = demo_db();
        let (log, _task) = CallLog::spawn(Store::Sqlite(db.clone()), beat());
        // More than one transaction's worth, some recorded while a batch may be writing.
        for i in 0..(BATCH + 100) {
            log.record(start(i, tenant));
            if i % 200 == 0 {
                tokio::task::yield_now().await;
            }
        }
        log.flush().await;
        assert_eq!(recorded(&db, tenant).await, (BATCH + 100) as i64);
    }

    #[tokio::test]
    async fn flush_waits_for_a_batch_the_writer_task_already_took() {
        let (_dir, db, tenant) = demo_db();
        let (log, _task) = CallLog::spawn(Store::Sqlite(db.clone()), beat());
        // Hold the writer thread so the task's batch, once taken, cannot be written yet.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let blocker = tokio::spawn({
            let db = db.clone();
            async move {
                db.write(move |_| {
                    let _ = held.recv();
                    Ok(())
                })
                .await
            }
        });
        log.record(start(1, tenant));
        // Once the window has passed, the task takes the start and waits on the writer.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !log.shared.queue.lock().unwrap().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the task never took the batch"
            );
            tokio::time::sleep(WINDOW).await;
        }
        let flushing = tokio::spawn({
            let log = log.clone();
            async move { log.flush().await }
        });
        tokio::time::sleep(WINDOW * 5).await;
        assert!(
            !flushing.is_finished(),
            "flush returned before the batch was written"
        );
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        flushing.await.unwrap();
        assert_eq!(recorded(&db, tenant).await, 1);
    }

    #[tokio::test]
    async fn the_writer_task_writes_without_a_flush() {
        let (_dir, db, tenant) = demo_db();
        let (log, _task) = CallLog::spawn(Store::Sqlite(db.clone()), beat());
        log.record(start(1, tenant));
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while recorded(&db, tenant).await == 0 {
            assert!(tokio::time::Instant::now() < deadline, "never written");
            tokio::time::sleep(WINDOW).await;
        }
        assert_eq!(recorded(&db, tenant).await, 1);
    }

    #[test]
    fn dropped_starts_are_warned_about_at_most_once_a_second_with_their_count() {
        let t0 = std::time::Instant::now();
        let ms = std::time::Duration::from_millis;
        let mut d = Dropped::default();
        assert_eq!(d.note(t0), Some(1), "the first is warned about at once");
        assert_eq!(d.note(t0 + ms(10)), None);
        assert_eq!(d.note(t0 + ms(999)), None);
        assert_eq!(
            d.note(t0 + ms(1000)),
            Some(3),
            "a second later, with the count"
        );
        assert_eq!(d.note(t0 + ms(1500)), None);
        assert_eq!(d.note(t0 + ms(2600)), Some(2));
    }

    #[tokio::test]
    async fn a_full_queue_drops_starts_instead_of_waiting() {
        let (_dir, db, tenant) = demo_db();
        let (log, task) = CallLog::spawn(Store::Sqlite(db.clone()), beat());
        task.abort(); // nobody drains the queue
        for i in 0..(QUEUE + 10) {
            log.record(start(i, tenant));
        }
        assert_eq!(log.shared.queue.lock().unwrap().len(), QUEUE);
        log.flush().await;
        assert_eq!(recorded(&db, tenant).await, QUEUE as i64);
    }
}

//! The writer thread and its group commit. Write jobs queue for one thread that owns the
//! only writing connection. When several are queued it runs up to [`GROUP_MAX`] of them in
//! one transaction, each inside its own savepoint, and commits once: with
//! `synchronous = FULL` that is one fsync for the group instead of one per job.
//!
//! What a group keeps of [`super::deadline`]'s promises, and how:
//!
//! - **A job still queued at its deadline never runs.** Each job's ticket is started just
//!   before the job runs, as when jobs ran one by one.
//! - **A failing job undoes only itself.** Job `i` runs after `SAVEPOINT j`; when it
//!   returns an error or panics, `ROLLBACK TO j` undoes what it did. A job's own
//!   transaction ([`super::begin`]) is a nested savepoint inside it.
//! - **No job's effects commit unless approved before its request's deadline; a caller is
//!   answered only with what the database holds.** As soon as a job has run, its ticket is
//!   asked whether it may still commit (the same [`super::deadline::Ticket::may_commit`] a
//!   commit hook asks of a lone job). Refused, the job is rolled back to `j` and answered
//!   [`DbError::Deadline`]; approved, its caller waits for the group's COMMIT, as a lone
//!   job's caller waits for a COMMIT under way: at most the rest of the group (up to
//!   [`GROUP_MAX`] jobs, ~15 ms of bookings) past the approval. Error answers are approved
//!   the same way, and nobody is answered before the COMMIT returns, since an error
//!   ("the slot is taken") can rest on what an earlier job of the group wrote.
//! - **Each savepoint is released once its job is decided**, so at most one is open (two
//!   with the job's own): SQLite copies a page into the savepoint's sub-journal the first
//!   time each open savepoint sees it change, so 64 savepoints kept open to the COMMIT
//!   copied every page of every job and spilled megabytes a group to a temporary file (a
//!   quarter of the writer's time in a booking burst, bench/README.md 2026-12-02). With one
//!   open, the sub-journal holds one job's pages, kept in memory (`temp_store = MEMORY`)
//!   and emptied at each release.
//! - **Jobs run latest deadline first** (jobs without one before all), so the job whose
//!   deadline is nearest runs last, closest to the COMMIT its caller waits for.
//! - **One group never holds the writer long**: at most [`GROUP_MAX`] jobs, all taken from
//!   the queue before the group starts (a job queued meanwhile waits for the next group,
//!   so no job is ever passed over twice).
//! - **If the group cannot begin** because another process holds the lock, its jobs are
//!   answered with that (or [`DbError::Deadline`]) after the wait; for any other reason (a
//!   read-only file) each job runs alone, as before groups.
//! - **If SQLite ends the transaction itself** (an I/O error, a full disk can roll the
//!   whole transaction back), the jobs that had run in it are answered with an error
//!   (their writes are gone, none was approved), and the rest of the group starts a new
//!   transaction.
//!
//! Jobs with effects outside the database that must follow its commit (operators' tenant
//! changes move files under `texml/`) run alone ([`super::Db::write_alone`]): their own
//! transaction, with a commit hook that refuses a late COMMIT, exactly as every job ran
//! before groups.

use std::{
    panic::AssertUnwindSafe,
    sync::{Arc, atomic::Ordering, mpsc},
    time::{Duration, Instant},
};

use rusqlite::Connection;

use super::{
    BUSY_TIMEOUT, DbError,
    deadline::{self, Ticket},
};
use crate::metrics::WriterStats;

/// Most jobs one group commits. With bookings of ~0.2 ms each a full group holds the writer
/// ~15 ms (bench/README.md, 2026-12-01); more would hold it longer for little: the fsync
/// is already shared 64 ways.
pub const GROUP_MAX: usize = 64;

/// What the writer runs: the job, and how to answer it without running it.
pub(super) trait Work: Send {
    /// Runs the job; its answer is held until the group's fate is known.
    fn run(self: Box<Self>, conn: &mut Connection) -> Ran;
    /// Answers `e` without running the job.
    fn refuse(self: Box<Self>, e: DbError);
}

/// A job that has run: whether it succeeded, and its answer, to be sent once the group
/// has committed (`None`) or failed (`Some(error)` replaces the job's own result).
pub(super) struct Ran {
    pub ok: bool,
    pub answer: Box<dyn FnOnce(Option<DbError>) + Send>,
}

/// A write job as queued.
pub(super) struct Job {
    /// When it was queued (for the wait metric).
    pub queued: Instant,
    /// Its request's deadline, when it has one.
    pub ticket: Option<Ticket>,
    /// Runs in a transaction of its own, never in a group.
    pub alone: bool,
    pub work: Box<dyn Work>,
}

/// A [`Work`] from a closure and the channel its caller waits on.
pub(super) struct Pending<T, F> {
    pub f: F,
    pub done: tokio::sync::oneshot::Sender<Result<T, DbError>>,
}

impl<T, F> Work for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut Connection) -> Ran {
        let Pending { f, done } = *self;
        let result = f(conn);
        Ran {
            ok: result.is_ok(),
            answer: Box::new(move |instead| {
                let _ = done.send(match instead {
                    Some(e) => Err(e),
                    None => result,
                });
            }),
        }
    }

    fn refuse(self: Box<Self>, e: DbError) {
        let _ = self.done.send(Err(e));
    }
}

/// Starts the writer thread on `conn`; it runs until every sender is dropped.
pub(super) fn spawn(
    mut conn: Connection,
    stats: Arc<WriterStats>,
    queue: usize,
) -> std::io::Result<mpsc::SyncSender<Job>> {
    let (tx, rx) = mpsc::sync_channel::<Job>(queue);
    std::thread::Builder::new()
        .name("slotline-writer".into())
        .spawn(move || {
            let mut taken = Vec::with_capacity(GROUP_MAX);
            while let Ok(first) = rx.recv() {
                taken.push(first);
                while taken.len() < GROUP_MAX {
                    match rx.try_recv() {
                        Ok(job) => taken.push(job),
                        Err(_) => break,
                    }
                }
                stats.depth.fetch_sub(taken.len() as i64, Ordering::Relaxed);
                let mut group = Vec::with_capacity(taken.len());
                for job in taken.drain(..) {
                    stats.wait.observe(job.queued.elapsed());
                    if job.alone {
                        run_group(&mut conn, std::mem::take(&mut group), &stats);
                        run_alone(&mut conn, job);
                    } else {
                        group.push(job);
                    }
                }
                run_group(&mut conn, group, &stats);
            }
        })?;
    Ok(tx)
}

/// True when `ticket`'s job can no longer commit (its caller is told so).
fn late(ticket: Option<&Ticket>) -> bool {
    ticket.is_some_and(|t| t.is_abandoned() || deadline::remaining(t.deadline()).is_zero())
}

/// `e` again, for one of several jobs that share it (`rusqlite::Error` is not `Clone`).
fn shared(e: &rusqlite::Error) -> DbError {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(*code, msg.clone()))
        }
        other => DbError::Join(format!("the group's transaction failed: {other}")),
    }
}

/// A job that ran in a group, waiting for the group's fate.
struct Done {
    /// None when it panicked (its caller has been told already).
    ran: Option<Ran>,
    /// Refused at its deadline and rolled back: answered [`DbError::Deadline`].
    late: bool,
}

/// Runs `jobs` in one transaction, each in a savepoint released once it is decided, and
/// commits once (module doc).
fn run_group(conn: &mut Connection, mut jobs: Vec<Job>, stats: &WriterStats) {
    if jobs.is_empty() {
        return;
    }
    // Jobs without a deadline first, then the latest deadline first (module doc).
    jobs.sort_by_key(|j| {
        (
            j.ticket.is_some(),
            std::cmp::Reverse(j.ticket.as_ref().map(Ticket::deadline)),
        )
    });
    stats.groups.fetch_add(1, Ordering::Relaxed);
    stats
        .grouped
        .fetch_add(jobs.len() as u64, Ordering::Relaxed);
    let started = Instant::now();
    // SQLite waits for an outside lock at BEGIN as long as the most patient job would.
    let wait = jobs
        .iter()
        .map(|j| {
            j.ticket
                .as_ref()
                .map_or(BUSY_TIMEOUT, |t| deadline::remaining(t.deadline()))
        })
        .max()
        .unwrap_or(BUSY_TIMEOUT)
        .clamp(Duration::from_millis(1), BUSY_TIMEOUT);
    let mut jobs = jobs.into_iter();
    let mut done: Vec<Done> = Vec::new();
    let mut open = false;
    while let Some(job) = jobs.next() {
        if !open {
            let _ = conn.busy_timeout(wait);
            let begun = conn.execute_batch("BEGIN IMMEDIATE");
            let _ = conn.busy_timeout(BUSY_TIMEOUT);
            if let Err(e) = begun {
                tracing::error!(error = %e, "the writer could not begin a transaction");
                let busy = e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy);
                for job in std::iter::once(job).chain(jobs.by_ref()) {
                    if busy {
                        // Another process holds the lock: it was waited for as long as the
                        // most patient job would have.
                        let answer = if late(job.ticket.as_ref()) {
                            DbError::Deadline
                        } else {
                            shared(&e)
                        };
                        job.work.refuse(answer);
                    } else {
                        // A read-only file, an I/O error: each job meets it on its own, as
                        // before groups (one that needs no transaction, a PRAGMA, still runs).
                        run_alone(conn, job);
                    }
                }
                return;
            }
            open = true;
        }
        if let Some(t) = &job.ticket
            && !t.start()
        {
            job.work.refuse(DbError::Deadline);
            continue;
        }
        if let Err(e) = conn.execute_batch("SAVEPOINT j") {
            job.work.refuse(e.into());
            continue;
        }
        let ran = match std::panic::catch_unwind(AssertUnwindSafe(|| job.work.run(conn))) {
            Ok(ran) => Some(ran),
            Err(_) => {
                // Its caller's channel was dropped as it unwound: told already.
                tracing::error!("a database write panicked; its writes were rolled back");
                None
            }
        };
        let ok = ran.as_ref().is_some_and(|r| r.ok);
        // Decided now: a job that ran is asked whether it may still commit (module doc).
        let late = ran.is_some() && job.ticket.as_ref().is_some_and(|t| !t.may_commit());
        if !conn.is_autocommit()
            && (!ok || late)
            && let Err(e) = conn.execute_batch("ROLLBACK TO j")
        {
            // Cannot happen short of a broken connection; then nothing may commit.
            tracing::error!(error = %e, "could not roll a write back to its savepoint");
            let _ = conn.execute_batch("ROLLBACK");
        }
        if !conn.is_autocommit()
            && let Err(e) = conn.execute_batch("RELEASE j")
        {
            tracing::error!(error = %e, "could not release a write's savepoint");
        }
        done.push(Done { ran, late });
        if conn.is_autocommit() {
            // SQLite ended the transaction (or the job did): everything of the group so far
            // is gone, none of it committed. The rest starts a new transaction.
            lost(done.drain(..));
            open = false;
        }
    }
    if open {
        finish(conn, done, || {
            // Recorded before anyone is answered, so whoever hears back sees it.
            let held = started.elapsed();
            stats.hold.observe(held);
            stats
                .longest_hold_us
                .fetch_max(held.as_micros() as u64, Ordering::Relaxed);
        });
    }
}

/// Answers the jobs of a transaction that ended without a COMMIT: what they wrote is gone.
fn lost(done: impl Iterator<Item = Done>) {
    for d in done {
        let Some(ran) = d.ran else { continue };
        let instead = if d.late {
            DbError::Deadline
        } else {
            DbError::Join(
                "SQLite rolled back the transaction of this write; nothing was written".into(),
            )
        };
        // A job's own error stands: it wrote nothing that could be lost.
        (ran.answer)((ran.ok || d.late).then_some(instead));
    }
}

/// Commits the group, calls `held` (the group no longer holds the writer), answers: the
/// jobs refused at their deadline with [`DbError::Deadline`], the others with their own
/// answer once committed, or the commit's error.
fn finish(conn: &mut Connection, done: Vec<Done>, held: impl FnOnce()) {
    let committed = if conn.is_autocommit() {
        Err(DbError::Join(
            "the group's transaction was rolled back; nothing was written".into(),
        ))
    } else {
        conn.execute_batch("COMMIT")
            .map_err(|e| {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                tracing::error!(error = %e, "a group commit failed");
                e
            })
            .map_err(DbError::from)
    };
    held();
    for d in done {
        let Some(ran) = d.ran else { continue };
        let instead = match &committed {
            _ if d.late => Some(DbError::Deadline),
            Ok(()) => None,
            Err(DbError::Sqlite(e)) => Some(shared(e)),
            Err(e) => Some(DbError::Join(e.to_string())),
        };
        (ran.answer)(instead);
    }
}

/// Runs one job in its own transaction, as every job ran before groups: under its
/// request's deadline, a commit hook refuses a COMMIT after it.
fn run_alone(conn: &mut Connection, job: Job) {
    let Some(ticket) = job.ticket else {
        if let Ok(ran) = std::panic::catch_unwind(AssertUnwindSafe(|| job.work.run(conn))) {
            (ran.answer)(None);
        } else {
            tracing::error!("a database write panicked; its transaction was rolled back");
        }
        return;
    };
    if !ticket.start() {
        job.work.refuse(DbError::Deadline);
        return;
    }
    let hook = ticket.clone();
    if let Err(e) = conn.commit_hook(Some(move || !hook.may_commit())) {
        job.work.refuse(e.into());
        return;
    }
    let _ = conn.busy_timeout(deadline::remaining(ticket.deadline()).max(Duration::from_millis(1)));
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| job.work.run(conn)));
    let _ = conn.commit_hook(None::<fn() -> bool>);
    let _ = conn.busy_timeout(BUSY_TIMEOUT);
    match ran {
        // The hook refused the commit (or the lock wait ran out with the deadline).
        Ok(ran) if !ran.ok && ticket.is_abandoned() => (ran.answer)(Some(DbError::Deadline)),
        Ok(ran) => (ran.answer)(None),
        Err(_) => tracing::error!("a database write panicked; its transaction was rolled back"),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::mpsc as std_mpsc;

    use tokio::sync::oneshot;

    use super::*;
    use crate::db::{Db, begin};

    /// A job running `f`, under a deadline when given, and where its answer arrives.
    pub(in crate::db) fn job_answered<T: Send + 'static>(
        deadline: Option<Instant>,
        f: impl FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    ) -> (Job, oneshot::Receiver<Result<T, DbError>>) {
        let (done, answer) = oneshot::channel();
        let job = Job {
            queued: Instant::now(),
            ticket: deadline.map(Ticket::new),
            alone: false,
            work: Box::new(Pending { f, done }),
        };
        (job, answer)
    }

    /// A job whose answer nobody waits for.
    pub(in crate::db) fn job(
        deadline: Option<Instant>,
        f: impl FnOnce(&mut Connection) -> Result<(), DbError> + Send + 'static,
    ) -> Job {
        job_answered(deadline, f).0
    }

    /// Queues `f` now (not when a future is first polled), in this order.
    pub(in crate::db) fn queue<T: Send + 'static>(
        db: &Db,
        deadline: Option<Instant>,
        f: impl FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    ) -> oneshot::Receiver<Result<T, DbError>> {
        let (job, answer) = job_answered(deadline, f);
        db.enqueue(job).unwrap();
        answer
    }

    /// Holds the writer in a job until the returned sender sends (or is dropped); returns
    /// once that job runs, so whatever is queued next waits for the next group.
    pub(in crate::db) fn hold(db: &Db) -> std_mpsc::Sender<()> {
        let (release, wait) = std_mpsc::channel::<()>();
        let (started, running) = std_mpsc::channel::<()>();
        drop(queue(db, None, move |_| {
            let _ = started.send(());
            let _ = wait.recv();
            Ok(())
        }));
        running.recv().unwrap();
        release
    }

    fn insert(x: i64) -> impl FnOnce(&mut Connection) -> Result<(), DbError> + Send + 'static {
        move |c| {
            let tx = begin(c)?;
            tx.execute("INSERT INTO t VALUES (?1)", [x])?;
            tx.commit()?;
            Ok(())
        }
    }

    async fn setup() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        db.write(|c| Ok(c.execute_batch("CREATE TABLE t (x INTEGER)")?))
            .await
            .unwrap();
        (dir, db)
    }

    async fn rows(db: &Db) -> Vec<i64> {
        db.run(|c| {
            let mut st = c.prepare("SELECT x FROM t ORDER BY x")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .unwrap()
    }

    fn groups(db: &Db) -> u64 {
        db.stats.groups.load(Ordering::Relaxed)
    }

    #[tokio::test]
    async fn queued_writes_commit_together_and_a_failing_one_undoes_only_itself() {
        let (_dir, db) = setup().await;
        let release = hold(&db);
        let before = groups(&db);
        let first = queue(&db, None, insert(1));
        let failing = queue(&db, None, |c| {
            let tx = begin(c)?;
            tx.execute("INSERT INTO t VALUES (2)", [])?;
            tx.commit()?;
            // Written without a transaction of its own, then fails: undone all the same.
            c.execute("INSERT INTO t VALUES (22)", [])?;
            Err::<(), _>(DbError::Conflict("taken".into()))
        });
        let third = queue(&db, None, insert(3));
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        assert!(matches!(failing.await.unwrap(), Err(DbError::Conflict(_))));
        third.await.unwrap().unwrap();
        assert_eq!(rows(&db).await, vec![1, 3]);
        assert_eq!(groups(&db), before + 1, "one group, one commit");
    }

    #[tokio::test]
    async fn a_panicking_write_in_a_group_undoes_only_itself() {
        let (_dir, db) = setup().await;
        let release = hold(&db);
        let first = queue(&db, None, insert(1));
        let panics = queue(&db, None, |c| {
            insert(2)(c)?;
            panic!("a bug in a write");
            #[allow(unreachable_code)]
            Ok(())
        });
        let third = queue(&db, None, insert(3));
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        assert!(panics.await.is_err(), "its caller hears it failed");
        third.await.unwrap().unwrap();
        assert_eq!(rows(&db).await, vec![1, 3]);
        // The writer carries on.
        db.write(insert(4)).await.unwrap();
        assert_eq!(rows(&db).await, vec![1, 3, 4]);
    }

    #[tokio::test]
    async fn a_write_whose_deadline_passes_while_it_runs_is_rolled_back_alone_and_one_approved_before_waits_for_the_commit()
     {
        let (_dir, db) = setup().await;
        let release = hold(&db);
        let now = Instant::now();
        let roomy = queue(&db, Some(now + Duration::from_secs(30)), insert(1));
        let untimed = queue(&db, None, insert(2));
        // Runs and is approved before its deadline; the slow job after it keeps the group
        // from committing until after that deadline, and its caller waits for the commit.
        let approved = queue(&db, Some(now + Duration::from_millis(200)), insert(3));
        // Its deadline passes while it runs: refused, rolled back, the group commits without it.
        let slow = queue(&db, Some(now + Duration::from_millis(190)), |c| {
            insert(4)(c)?;
            std::thread::sleep(Duration::from_millis(300));
            Ok(())
        });
        let after = queue(&db, Some(now + Duration::from_millis(100)), insert(5));
        let gone = queue(&db, Some(now + Duration::from_millis(1)), insert(6));
        std::thread::sleep(Duration::from_millis(5));
        release.send(()).unwrap();
        roomy.await.unwrap().unwrap();
        untimed.await.unwrap().unwrap();
        approved.await.unwrap().unwrap();
        assert!(matches!(slow.await.unwrap(), Err(DbError::Deadline)));
        assert!(
            matches!(after.await.unwrap(), Err(DbError::Deadline)),
            "its deadline passed while the slow one ran: never run"
        );
        assert!(
            matches!(gone.await.unwrap(), Err(DbError::Deadline)),
            "queued past its deadline: never run"
        );
        assert_eq!(rows(&db).await, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn a_group_keeps_one_savepoint_open_at_a_time() {
        let (_dir, db) = setup().await;
        let release = hold(&db);
        // Each job finds its own savepoint `j` open and no other: releasing it leaves none
        // to release again (the writer's own RELEASE after the job then fails, logged).
        let mut answers = Vec::new();
        for x in 1..=3 {
            answers.push(queue(&db, None, move |c| {
                insert(x)(c)?;
                let own = c.execute_batch("RELEASE j").is_ok();
                let earlier = c.execute_batch("RELEASE j").is_ok();
                Ok((own, earlier))
            }));
        }
        release.send(()).unwrap();
        for a in answers {
            assert_eq!(
                a.await.unwrap().unwrap(),
                (true, false),
                "(its own, an earlier one)"
            );
        }
        assert_eq!(rows(&db).await, vec![1, 2, 3], "and the group commits");
    }

    #[tokio::test]
    async fn writes_run_latest_deadline_first_after_those_without_one() {
        let (_dir, db) = setup().await;
        let release = hold(&db);
        let now = Instant::now();
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut answers = Vec::new();
        for (tag, deadline) in [
            (1, Some(now + Duration::from_secs(10))),
            (2, None),
            (3, Some(now + Duration::from_secs(20))),
            (4, None),
        ] {
            let order = order.clone();
            answers.push(queue(&db, deadline, move |_| {
                order.lock().unwrap().push(tag);
                Ok(())
            }));
        }
        release.send(()).unwrap();
        for a in answers {
            a.await.unwrap().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![2, 4, 3, 1]);
    }

    #[tokio::test]
    async fn a_write_alone_runs_in_its_own_transaction() {
        let (_dir, db) = setup().await;
        let autocommit = db.write_alone(|c| Ok(c.is_autocommit())).await.unwrap();
        assert!(autocommit, "no group transaction around it");
        let grouped = db.write(|c| Ok(c.is_autocommit())).await.unwrap();
        assert!(
            !grouped,
            "a grouped write runs inside the group's transaction"
        );
    }
}

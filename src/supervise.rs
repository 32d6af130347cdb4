//! Background tasks that outlive a panic: each runs under a supervisor that logs the panic
//! and starts the task again after a backoff, so one bad input (a header value, a row)
//! cannot stop texting, call logging or checkpoints until the next restart. Aborting the
//! supervisor's handle stops the task too.

use std::{future::Future, time::Duration};

use tokio::task::JoinHandle;

/// The first restart waits this long; each panic in a row doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A task that ran this long before panicking starts again from the first backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Aborts the task it holds when dropped (the supervisor was aborted).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The message a panic was raised with (`panic!("…")`), or "(no message)".
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Runs `make()` as task `name`, again after every panic, until it returns.
pub fn spawn<F, Fut>(name: &'static str, mut make: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let started = std::time::Instant::now();
            let task = tokio::spawn(make());
            let _guard = AbortOnDrop(task.abort_handle());
            match task.await {
                Ok(()) => return,
                Err(e) if e.is_panic() => {
                    if started.elapsed() >= HEALTHY_RUN {
                        backoff = FIRST_BACKOFF;
                    }
                    let message = panic_message(&*e.into_panic());
                    tracing::error!(task = name, panic = %message, restart_in_ms = backoff.as_millis() as u64, "a background task panicked; starting it again");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(_) => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };

    #[tokio::test]
    async fn a_task_that_panics_is_started_again_until_it_finishes() {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        let handle = spawn("test", move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("bad input");
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("the supervisor ends when the task returns")
            .unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn aborting_the_supervisor_stops_the_task() {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        let handle = spawn("test", move || {
            let counter = counter.clone();
            async move {
                loop {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        handle.abort();
        let _ = handle.await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let seen = runs.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(runs.load(Ordering::SeqCst), seen, "the task still runs");
    }
}

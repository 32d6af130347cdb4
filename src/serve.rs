//! HTTP serving threads: one per core, each running its own single-threaded tokio runtime,
//! all accepting from one listening socket (the way nginx runs its workers). A request is
//! read, answered and written by one thread without waking another. On one multi-threaded
//! runtime, idle workers were woken to look for work on every request: about 2.4 futex
//! calls per request, and the park/unpark path was 28% of the server's CPU at 2,000
//! requests/s (perf, bench/run's paced load).

use std::{future::Future, io, net::TcpListener, thread, time::Duration};

use poem::{Server, listener::TcpAcceptor};
use tokio::sync::{mpsc, watch};

use crate::{routes, startup::AppState};

/// How long requests in flight may take to finish once shutdown is asked for.
const GRACE: Duration = Duration::from_secs(10);

/// How many serving threads to run: one per core this process may use.
pub fn thread_count() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// Serving threads, running. Dropping this stops them (after requests in flight).
pub struct Serving {
    stop: watch::Sender<bool>,
    done: mpsc::UnboundedReceiver<io::Result<()>>,
    threads: usize,
}

impl Serving {
    /// Starts `threads` serving threads on `listener` (a non-blocking listening socket;
    /// each thread accepts from its own duplicate of it).
    pub fn start(listener: &TcpListener, state: &AppState, threads: usize) -> io::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let (finished, done) = mpsc::unbounded_channel();
        let threads = threads.max(1);
        for i in 0..threads {
            let listener = listener.try_clone()?;
            let (state, stopped, finished) = (state.clone(), stopped.clone(), finished.clone());
            thread::Builder::new()
                .name(format!("slotline-http-{i}"))
                .spawn(move || {
                    let _ = finished.send(serve(listener, state, stopped));
                })?;
        }
        Ok(Self {
            stop,
            done,
            threads,
        })
    }

    /// Serves until `shutdown` resolves (or a serving thread fails), then stops every
    /// thread, letting requests in flight finish. Returns the first thread's error.
    pub async fn until(mut self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let early = tokio::select! {
            () = shutdown => None,
            r = self.done.recv() => Some(r.unwrap_or(Ok(()))),
        };
        let _ = self.stop.send(true);
        let mut finished = usize::from(early.is_some());
        let mut result = early.unwrap_or(Ok(()));
        while finished < self.threads {
            // None: every thread has gone (one may have panicked without reporting).
            let Some(r) = self.done.recv().await else {
                break;
            };
            finished += 1;
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

/// One serving thread: its own runtime, the whole app, until `stopped` turns true or its
/// sender is dropped.
fn serve(
    listener: TcpListener,
    state: AppState,
    mut stopped: watch::Receiver<bool>,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let acceptor = TcpAcceptor::from_tokio(tokio::net::TcpListener::from_std(listener)?)?;
        let stop = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(routes::app(state), stop, Some(GRACE))
            .await
    })
}

//! HTTP serving threads: one per core, each running its own single-threaded tokio runtime,
//! all accepting from duplicates of one listening socket. A new connection wakes every
//! idle thread and one of them accepts it (no `EPOLLEXCLUSIVE` or `SO_REUSEPORT`, so a
//! second instance on a port in use still fails to bind); from then on its requests are
//! read, answered and written by that thread without waking another. On one multi-threaded
//! runtime, idle workers were woken to look for work on every request: about 2.4 futex
//! calls per request, and the park/unpark path was 28% of the server's CPU at 2,000
//! requests/s (perf, bench/run's paced load).
//!
//! With `SLOTLINE_ADMIN_LISTEN` there are two sockets, and every thread accepts from both.
//! Each socket's connections are held to [`HttpLimits`] by [`guard`].

pub mod guard;

use std::{future::Future, io, net::TcpListener, thread, time::Duration};

use poem::Server;
use tokio::sync::{mpsc, watch};

use crate::{
    config::HttpLimits,
    routes::{self, Surface},
    startup::AppState,
};
use guard::{GuardedAcceptor, OpenConnections};

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
}

impl Serving {
    /// Starts `threads` serving threads on `sockets` (non-blocking listening sockets, each
    /// serving its surface of the app; each thread accepts from its own duplicates).
    pub fn start(
        sockets: &[(&TcpListener, Surface)],
        state: &AppState,
        threads: usize,
    ) -> io::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let (finished, done) = mpsc::unbounded_channel();
        let mut limits = state.settings.http.clone();
        let fitted = guard::fitting_cap(limits.max_connections, sockets.len());
        if fitted < limits.max_connections {
            tracing::warn!(
                configured = limits.max_connections,
                used = fitted,
                "SLOTLINE_MAX_CONNECTIONS does not fit the file-descriptor limit; using less (raise `ulimit -n` for more)"
            );
            limits.max_connections = fitted;
        }
        // One count per socket, shared by the threads accepting from it.
        let counts: Vec<OpenConnections> =
            sockets.iter().map(|_| OpenConnections::default()).collect();
        for i in 0..threads.max(1) {
            let mut mine = Vec::with_capacity(sockets.len());
            for ((listener, surface), open) in sockets.iter().zip(&counts) {
                mine.push((listener.try_clone()?, *surface, open.clone()));
            }
            let (state, stopped, finished) = (state.clone(), stopped.clone(), finished.clone());
            let limits = limits.clone();
            thread::Builder::new()
                .name(format!("slotline-http-{i}"))
                .spawn(move || {
                    let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        serve(mine, state, limits, stopped)
                    }))
                    .unwrap_or_else(|_| Err(io::Error::other("a serving thread panicked")));
                    let _ = finished.send(served);
                })?;
        }
        Ok(Self { stop, done })
    }

    /// Serves until `shutdown` resolves (or a serving thread fails), then stops every
    /// thread, letting requests in flight finish. Returns the first thread's error.
    pub async fn until(mut self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let mut result = tokio::select! {
            () = shutdown => Ok(()),
            // A thread that ends before shutdown was asked for is a failure, even if it
            // says Ok.
            r = self.done.recv() => Err(match r {
                Some(Err(e)) => e,
                _ => io::Error::other("a serving thread stopped before shutdown"),
            }),
        };
        let _ = self.stop.send(true);
        // Every thread reports once (panics included) and the channel closes after the last.
        while let Some(r) = self.done.recv().await {
            result = result.and(r);
        }
        result
    }
}

/// One serving thread: its own runtime, a server per socket, until `stopped` turns true or
/// its sender is dropped.
fn serve(
    sockets: Vec<(TcpListener, Surface, OpenConnections)>,
    state: AppState,
    limits: HttpLimits,
    stopped: watch::Receiver<bool>,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    runtime.block_on(async move {
        let mut servers = tokio::task::JoinSet::new();
        for (listener, surface, open) in sockets {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let acceptor = GuardedAcceptor::new(listener, limits.clone(), open)?;
            let mut stopped = stopped.clone();
            let stop = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            let app = routes::app(state.clone(), surface);
            servers.spawn(
                Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
                    app,
                    stop,
                    Some(GRACE),
                ),
            );
        }
        let mut result = Ok(());
        while let Some(served) = servers.join_next().await {
            let served = served.unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
            if served.is_err() && result.is_ok() {
                result = served;
                // One server failing stops the thread: the others are shut down too.
                servers.abort_all();
            }
        }
        result
    })
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, TcpStream};

    use super::*;
    use crate::{clock::Clock, config::Settings};

    /// State on a temp database, and a bound listener for it.
    fn setup() -> (tempfile::TempDir, AppState, TcpListener, SocketAddr) {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            listen: "127.0.0.1:0".into(),
            db_path: dir.path().join("t.db"),
            texml_dir: dir.path().join("texml"),
            ..Settings::default()
        };
        let state = AppState::new(settings, Clock::system()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        (dir, state, listener, addr)
    }

    async fn health_answers(addr: SocketAddr, requests: usize) -> usize {
        let client = reqwest::Client::new();
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..requests {
            let (client, url) = (client.clone(), format!("http://{addr}/health"));
            calls.spawn(async move { client.get(url).send().await.map(|r| r.status()) });
        }
        let mut ok = 0;
        while let Some(answer) = calls.join_next().await {
            if answer.unwrap().is_ok_and(|status| status.is_success()) {
                ok += 1;
            }
        }
        ok
    }

    /// Waits (up to 10 s) until nothing accepts connections on `addr` any more.
    async fn port_closes(addr: SocketAddr) -> bool {
        for _ in 0..200 {
            if TcpStream::connect(addr).is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    #[tokio::test]
    async fn serving_threads_share_one_socket_and_stop_when_asked() {
        let (_dir, state, listener, addr) = setup();
        let serving = Serving::start(&[(&listener, Surface::All)], &state, 3).unwrap();
        drop(listener);
        assert_eq!(health_answers(addr, 24).await, 24);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(serving.until(async move {
            let _ = stopped.await;
        }));
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(15), run)
            .await
            .expect("serving threads still running 15 s after shutdown")
            .unwrap()
            .unwrap();
        assert!(
            TcpStream::connect(addr).is_err(),
            "still accepting after shutdown"
        );
    }

    #[tokio::test]
    async fn dropping_the_handle_stops_the_threads() {
        let (_dir, state, listener, addr) = setup();
        let serving = Serving::start(&[(&listener, Surface::All)], &state, 2).unwrap();
        drop(listener);
        assert_eq!(health_answers(addr, 4).await, 4);
        drop(serving);
        assert!(
            port_closes(addr).await,
            "still accepting 10 s after the handle was dropped"
        );
    }
}

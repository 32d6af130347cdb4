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
//! Each socket's connections are held to [`HttpLimits`] by [`guard`], and served (HTTP/1.1,
//! through poem's route table) by [`conn`].

pub mod conn;
pub mod guard;

use std::{future::Future, io, net::TcpListener, sync::Arc, thread, time::Duration};

use poem::{Endpoint, listener::Acceptor};
use tokio::sync::{mpsc, watch};

use crate::{
    config::HttpLimits,
    routes::{self, Surface},
    startup::AppState,
};
use conn::Connections;
use guard::{GuardedAcceptor, OpenConnections};

/// How long requests in flight may take to finish once shutdown is asked for.
const GRACE: Duration = Duration::from_secs(10);

/// Most blocking threads the serving threads' runtimes keep between them (tokio's default
/// is 512 each). Their reads run there and wait for one of the read pool's connections, so
/// beyond the pool's size a thread only waits, and each costs its stack and an allocator
/// arena: under 64 booking connections the server grew from 8 to 47 threads and its memory
/// with them (bench/README.md, 2026-12-02). Each runtime gets its share, at least one.
const BLOCKING_THREADS: usize = crate::db::READ_CONNECTIONS as usize;

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
        let blocking = BLOCKING_THREADS.div_ceil(threads.max(1));
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
                        serve(mine, state, limits, blocking, stopped)
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
    blocking: usize,
    stopped: watch::Receiver<bool>,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(blocking)
        .build()?;

    runtime.block_on(async move {
        let mut servers = tokio::task::JoinSet::new();
        for (listener, surface, open) in sockets {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let acceptor = GuardedAcceptor::new(listener, limits.clone(), open)?;
            let app = Arc::new(routes::app(state.clone(), surface));
            servers.spawn(accept_until_stopped(acceptor, app, stopped.clone()));
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

/// Accepts connections from one socket and serves each on its own task until `stopped`
/// turns true (or its sender is dropped); then stops accepting, lets the requests in
/// flight finish for up to [`GRACE`], and returns (the runtime's end drops what is left).
async fn accept_until_stopped<E: Endpoint + 'static>(
    mut acceptor: GuardedAcceptor,
    app: Arc<E>,
    mut stopped: watch::Receiver<bool>,
) -> io::Result<()> {
    let open = Arc::new(Connections::default());
    loop {
        tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => break,
            accepted = acceptor.accept() => {
                let (io, local, remote, scheme) = accepted?;
                tokio::spawn(conn::serve(io, local, remote, scheme, app.clone(), open.clone()));
            }
        }
    }
    // This thread's duplicate of the socket closes; the others close theirs.
    drop(acceptor);
    open.close();
    if !open.drained(GRACE).await {
        tracing::warn!(
            open = open.len(),
            grace_secs = GRACE.as_secs(),
            "connections still open after the shutdown grace period; closing them"
        );
    }
    Ok(())
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

    /// Reads from `conn` until `answers` HTTP answers have arrived (each a status line and,
    /// here, a `content-length` body) or the server closes it; the raw text. A safety
    /// bound stops a broken server from hanging the tests; it is not a timing check.
    async fn read_answers(conn: &mut tokio::net::TcpStream, answers: usize) -> String {
        use tokio::io::AsyncReadExt;
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            let mut buf = [0u8; 4096];
            while complete_answers(&got) < answers {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        String::from_utf8_lossy(&got).into_owned()
    }

    /// How many whole answers `bytes` holds (headers, then `content-length` bytes).
    fn complete_answers(mut bytes: &[u8]) -> usize {
        let mut n = 0;
        while let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap_or(0));
            if bytes.len() < end + 4 + len {
                break;
            }
            bytes = &bytes[end + 4 + len..];
            n += 1;
        }
        n
    }

    /// Reads until the server closes `conn`; true if it did (within the safety bound).
    async fn closed_by_server(conn: &mut tokio::net::TcpStream) -> bool {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 4096];
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }

    const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n";

    #[tokio::test]
    async fn one_kept_alive_connection_is_answered_request_after_request() {
        use tokio::io::AsyncWriteExt;
        let (_dir, state, listener, addr) = setup();
        let _serving = Serving::start(&[(&listener, Surface::All)], &state, 1).unwrap();
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        for i in 1..=3 {
            conn.write_all(HEALTH).await.unwrap();
            let answer = read_answers(&mut conn, 1).await;
            assert!(answer.starts_with("HTTP/1.1 200"), "answer {i}: {answer:?}");
            assert!(
                !answer.to_ascii_lowercase().contains("connection: close"),
                "answer {i} closes the connection: {answer:?}"
            );
        }
    }

    #[tokio::test]
    async fn pipelined_requests_are_answered_in_order_on_one_connection() {
        use tokio::io::AsyncWriteExt;
        let (_dir, state, listener, addr) = setup();
        let _serving = Serving::start(&[(&listener, Surface::All)], &state, 1).unwrap();
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let three = [HEALTH, b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n", HEALTH].concat();
        conn.write_all(&three).await.unwrap();
        let answers = read_answers(&mut conn, 3).await;
        let statuses: Vec<&str> = answers
            .split("HTTP/1.1 ")
            .skip(1)
            .map(|a| &a[..3])
            .collect();
        assert_eq!(statuses, ["200", "404", "200"], "{answers:?}");
    }

    #[tokio::test]
    async fn an_http_1_0_request_is_answered_and_its_connection_closed() {
        use tokio::io::AsyncWriteExt;
        let (_dir, state, listener, addr) = setup();
        let _serving = Serving::start(&[(&listener, Surface::All)], &state, 1).unwrap();
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET /health HTTP/1.0\r\n\r\n")
            .await
            .unwrap();
        let answer = read_answers(&mut conn, 1).await;
        assert!(answer.starts_with("HTTP/1.0 200"), "{answer:?}");
        assert!(
            closed_by_server(&mut conn).await,
            "kept an HTTP/1.0 connection"
        );
    }

    #[tokio::test]
    async fn shutdown_answers_the_request_in_flight_then_closes_every_connection() {
        use tokio::io::AsyncWriteExt;
        let (_dir, state, listener, addr) = setup();
        let serving = Serving::start(&[(&listener, Surface::All)], &state, 1).unwrap();
        drop(listener);
        // An idle kept-alive connection, and one whose request is half sent (its body is
        // awaited inside the handler).
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        idle.write_all(HEALTH).await.unwrap();
        assert!(read_answers(&mut idle, 1).await.starts_with("HTTP/1.1 200"));
        let body = "CallSid=v3:shut&From=%2B13125550100&To=%2B13125550199";
        let head = format!(
            "POST /texml/voice HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut busy = tokio::net::TcpStream::connect(addr).await.unwrap();
        busy.write_all(head.as_bytes()).await.unwrap();
        busy.write_all(&body.as_bytes()[..10]).await.unwrap();
        // Let the server read the head before shutdown is asked.
        tokio::time::sleep(Duration::from_millis(200)).await;

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(serving.until(async move {
            let _ = stopped.await;
        }));
        stop.send(()).unwrap();
        assert!(
            closed_by_server(&mut idle).await,
            "an idle connection stayed open through shutdown"
        );
        busy.write_all(&body.as_bytes()[10..]).await.unwrap();
        let answer = read_answers(&mut busy, 1).await;
        assert!(
            answer.starts_with("HTTP/1.1 "),
            "no answer in flight: {answer:?}"
        );
        assert!(
            closed_by_server(&mut busy).await,
            "kept the connection after its answer"
        );
        tokio::time::timeout(Duration::from_secs(15), run)
            .await
            .expect("serving threads still running 15 s after shutdown")
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_connection_register_empties_as_connections_end() {
        let all = Arc::new(Connections::default());
        let a = all.enter_for_test();
        let b = all.enter_for_test();
        assert_eq!(all.len(), 2);
        all.close();
        drop(a);
        assert_eq!(all.len(), 1);
        drop(b);
        assert!(all.drained(Duration::from_secs(5)).await);
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

//! Limits on accepted connections, so a stranger cannot hold the server with idle or
//! trickling clients. hyper runs without a timer ([`super::conn`]), which switches its own
//! header-read timeout off; so this acceptor (what each serving thread accepts from)
//! enforces, per listener:
//! - a cap on open connections shared by every serving thread (over it, a new connection
//!   is closed at once rather than left to fill the kernel's queue);
//! - a deadline for each request's header block, from the connection's start or from the
//!   previous answer on a kept-alive connection; bytes trickled in do not extend it;
//! - under pressure (three quarters of the cap in use) that deadline is one second: a
//!   stranger who opens connections faster than they time out must then renew the whole
//!   cap every second to keep Telnyx out, not every ten;
//! - a pause after accept errors such as EMFILE, instead of retrying in a busy loop;
//! - an idle limit in any state: a connection on which nothing was read or written for
//!   [`IDLE_LIMIT`] is closed (whatever bytes a client sends that are not an HTTP/1
//!   header block, such as HTTP/2's binary frames, which hyper refuses anyway).
//!
//! Request bodies have their own deadline where they are read ([`crate::body`]).

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use poem::{
    http::uri::Scheme,
    listener::Acceptor,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::Sleep,
};

use crate::config::HttpLimits;

/// How long to wait before accepting again after an error such as EMFILE (out of file
/// descriptors): long enough not to spin, short enough to recover quickly.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long a connection may see no byte in either direction, whatever it is doing.
/// Handlers answer well within it (the database's own waits are 10 s at most).
pub const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// The header deadline while the listener is under pressure ([`PRESSURE_PERCENT`] of its
/// cap in use): a real client sends its headers at once.
pub const PRESSURE_HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// From this share of the connection cap on, the header deadline is
/// [`PRESSURE_HEADER_TIMEOUT`].
pub const PRESSURE_PERCENT: usize = 75;

/// How often a serving thread logs that it is refusing connections or failing to accept.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Descriptors kept back from the connection cap for SQLite, the Messaging API client,
/// documents and logs.
const RESERVED_FDS: u64 = 256;

/// The connection cap per listener that fits the process's file-descriptor limit: the
/// configured `max` unless `listeners × max` plus a reserve would exceed the soft limit
/// (then the most that fits, at least 16). Running out of descriptors would fail SQLite
/// and outgoing texts too, not just new connections. The limit is read from
/// `/proc/self/limits`; where that is missing, `max` is kept.
pub fn fitting_cap(max: usize, listeners: usize) -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| soft_fd_limit(&text));
    match soft {
        Some(soft) => cap_within(max, listeners, soft),
        None => max,
    }
}

/// The soft "Max open files" of a `/proc/self/limits` text (`None` when unlimited).
fn soft_fd_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn cap_within(max: usize, listeners: usize, soft: u64) -> usize {
    let room = soft.saturating_sub(RESERVED_FDS) / listeners.max(1) as u64;
    max.min(usize::try_from(room).unwrap_or(usize::MAX).max(16))
}

/// The number of open connections on one listener, shared by its serving threads.
#[derive(Clone, Debug, Default)]
pub struct OpenConnections(Arc<AtomicUsize>);

impl OpenConnections {
    /// How many are open now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Takes a place if fewer than `max` are open.
    fn try_take(&self, max: usize) -> Option<Place> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Place(self.0.clone()))
    }
}

/// One connection's place under the cap; given back when the connection is dropped.
#[derive(Debug)]
struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accepts from one listening socket under [`HttpLimits`].
pub struct GuardedAcceptor {
    listener: TcpListener,
    local: LocalAddr,
    limits: HttpLimits,
    open: OpenConnections,
    last_warning: Option<Instant>,
}

impl GuardedAcceptor {
    /// Wraps `listener`; `open` is shared with the other threads accepting from it.
    pub fn new(
        listener: TcpListener,
        limits: HttpLimits,
        open: OpenConnections,
    ) -> io::Result<Self> {
        let local = LocalAddr(listener.local_addr()?.into());
        Ok(Self {
            listener,
            local,
            limits,
            open,
            last_warning: None,
        })
    }

    /// Whether a warning is due (at most one per [`WARN_EVERY`] per thread, so a flood
    /// does not flood the log too).
    fn warning_due(&mut self) -> bool {
        let due = self.last_warning.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if due {
            self.last_warning = Some(Instant::now());
        }
        due
    }
}

/// Accept errors about one connection that is already gone; the next accept is fine.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

impl Acceptor for GuardedAcceptor {
    type Io = Guarded;

    fn local_addr(&self) -> Vec<LocalAddr> {
        vec![self.local.clone()]
    }

    // Cancel-safe (raced against shutdown): only `accept` and `sleep` are awaited.
    async fn accept(&mut self) -> io::Result<(Guarded, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            let (stream, peer): (TcpStream, SocketAddr) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    if self.warning_due() {
                        tracing::warn!(error = %e, "cannot accept connections; pausing before the next try");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let Some(place) = self.open.try_take(self.limits.max_connections) else {
                if self.warning_due() {
                    tracing::warn!(
                        max = self.limits.max_connections,
                        "connection limit reached; closing new connections (SLOTLINE_MAX_CONNECTIONS)"
                    );
                }
                drop(stream);
                // A flood of connections must not keep this thread from its requests.
                tokio::task::yield_now().await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let pressure = Pressure {
                open: self.open.clone(),
                from: (self.limits.max_connections * PRESSURE_PERCENT).div_ceil(100),
            };
            let io = Guarded::new(stream, place, self.limits.header_timeout, pressure);
            return Ok((
                io,
                self.local.clone(),
                RemoteAddr(peer.into()),
                Scheme::HTTP,
            ));
        }
    }
}

/// Finds the end of an HTTP/1 header block in bytes read piece by piece: an empty line
/// (`\n\n` or `\n\r\n`) after at least one byte that is not CR or LF. The blank lines a
/// client may send before a request line therefore do not count.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HeaderEnd {
    content: bool,
    /// 0: inside a line; 1: just after LF; 2: after LF CR.
    state: u8,
}

impl HeaderEnd {
    /// Feeds the next bytes; true once the block has ended (at or before the last byte).
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        let mut at = 0;
        while at < bytes.len() {
            if self.content && self.state == 0 {
                // Inside a line only a line feed changes anything: skip to the next one.
                match crate::scan::find(&bytes[at..], b'\n') {
                    Some(lf) => at += lf,
                    None => return false,
                }
            }
            let b = bytes[at];
            at += 1;
            match (b, self.state) {
                (b'\n', 1 | 2) if self.content => return true,
                (b'\n', _) => self.state = 1,
                (b'\r', 1) => self.state = 2,
                (b'\r', _) => self.state = 0,
                _ => {
                    self.content = true;
                    self.state = 0;
                }
            }
        }
        false
    }
}

/// When a listener is under pressure: `from` or more of its connections open.
#[derive(Debug, Clone)]
struct Pressure {
    open: OpenConnections,
    from: usize,
}

impl Pressure {
    fn now(&self) -> bool {
        self.open.get() >= self.from
    }
}

/// An accepted connection under its header deadline. While a header block is awaited, a
/// read that would wait past the deadline fails with `TimedOut`, and hyper closes the
/// connection. Writing an answer starts the wait for the next request's headers.
pub struct Guarded {
    stream: TcpStream,
    _place: Place,
    timeout: Duration,
    /// `Some` while a header block is awaited.
    waiting: Option<HeaderEnd>,
    deadline: Pin<Box<Sleep>>,
    /// Fires [`PRESSURE_HEADER_TIMEOUT`] into each header wait, and every such span after
    /// it, to close the connection if the listener is under pressure then.
    pressure_check: Pin<Box<Sleep>>,
    pressure: Pressure,
    /// The last byte read or written; `idle` fires at most [`IDLE_LIMIT`] after it.
    last_activity: tokio::time::Instant,
    idle: Pin<Box<Sleep>>,
}

impl Guarded {
    fn new(stream: TcpStream, place: Place, timeout: Duration, pressure: Pressure) -> Self {
        Self {
            stream,
            _place: place,
            timeout,
            waiting: Some(HeaderEnd::default()),
            deadline: Box::pin(tokio::time::sleep(timeout)),
            pressure_check: Box::pin(tokio::time::sleep(PRESSURE_HEADER_TIMEOUT)),
            pressure,
            last_activity: tokio::time::Instant::now(),
            idle: Box::pin(tokio::time::sleep(IDLE_LIMIT)),
        }
    }

    /// Whether the connection has been idle for [`IDLE_LIMIT`] (registering a wake-up for
    /// when it would be otherwise). The timer is moved lazily, not on every byte.
    fn idle_too_long(&mut self, cx: &mut Context<'_>) -> bool {
        while self.idle.as_mut().poll(cx).is_ready() {
            let until = self.last_activity + IDLE_LIMIT;
            if until <= tokio::time::Instant::now() {
                return true;
            }
            self.idle.as_mut().reset(until);
        }
        false
    }

    /// Whether a header wait has lasted [`PRESSURE_HEADER_TIMEOUT`] (or a multiple of it)
    /// while the listener is under pressure; otherwise re-arms the check for one span on.
    fn slow_under_pressure(&mut self, cx: &mut Context<'_>) -> bool {
        while self.pressure_check.as_mut().poll(cx).is_ready() {
            if self.pressure.now() {
                return true;
            }
            let next = self.pressure_check.deadline() + PRESSURE_HEADER_TIMEOUT;
            self.pressure_check.as_mut().reset(next);
        }
        false
    }

    /// Notes a write, and starts waiting for a header block (after an answer) unless
    /// already waiting.
    fn await_headers(&mut self) {
        self.last_activity = tokio::time::Instant::now();
        if self.waiting.is_none() {
            self.waiting = Some(HeaderEnd::default());
            let now = tokio::time::Instant::now();
            self.deadline.as_mut().reset(now + self.timeout);
            self.pressure_check
                .as_mut()
                .reset(now + PRESSURE_HEADER_TIMEOUT);
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.last_activity = tokio::time::Instant::now();
                }
                if let Some(scan) = &mut this.waiting
                    && scan.feed(&buf.filled()[before..])
                {
                    this.waiting = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                if this.waiting.is_some() && this.deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request headers not received in time",
                    )));
                }
                if this.waiting.is_some() && this.slow_under_pressure(cx) {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request headers too slow while the server is near its connection limit",
                    )));
                }
                if this.idle_too_long(cx) {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection idle too long",
                    )));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.await_headers();
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.await_headers();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REQUEST: &[u8] =
        b"POST /texml/voice HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab\n\n";

    #[test]
    fn the_cap_leaves_room_for_the_database_under_the_descriptor_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax cpu time              unlimited            unlimited            seconds\nMax open files            1024                 524288               files\n";
        assert_eq!(soft_fd_limit(limits), Some(1024));
        assert_eq!(cap_within(4096, 1, 1024), 768);
        assert_eq!(cap_within(4096, 2, 1024), 384);
        assert_eq!(cap_within(4096, 1, 65536), 4096);
        assert_eq!(cap_within(4096, 1, 100), 16);
    }

    #[test]
    fn the_header_block_ends_at_its_empty_line() {
        let end = REQUEST.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut scan = HeaderEnd::default();
        assert!(!scan.feed(&REQUEST[..end - 1]));
        assert!(scan.feed(&REQUEST[end - 1..end]));
    }

    #[test]
    fn bare_line_feeds_end_a_header_block_too() {
        assert!(HeaderEnd::default().feed(b"GET / HTTP/1.1\nHost: a\n\n"));
    }

    #[test]
    fn blank_lines_before_the_request_line_do_not_end_anything() {
        let mut scan = HeaderEnd::default();
        assert!(!scan.feed(b"\r\n\r\n\n\n\r\n"));
        assert!(!scan.feed(b"GET / HTTP/1.1\r\n"));
        assert!(scan.feed(b"\r\n"));
    }

    #[test]
    fn a_header_line_alone_is_not_the_end() {
        assert!(!HeaderEnd::default().feed(b"GET / HTTP/1.1\r\nHost: a\r\nX: \r\r\n"));
    }

    /// The header block's end found one byte at a time, by the rule itself: a line feed
    /// right after another (a CR between them allowed) once a byte other than CR or LF came.
    fn ends_byte_by_byte(bytes: &[u8]) -> bool {
        let mut content = false;
        let mut after_lf: Option<bool> = None; // Some(cr_seen) just after a LF
        for &b in bytes {
            match (b, after_lf) {
                (b'\n', Some(_)) if content => return true,
                (b'\n', _) => after_lf = Some(false),
                (b'\r', Some(false)) => after_lf = Some(true),
                (b'\r', _) => after_lf = None,
                _ => {
                    content = true;
                    after_lf = None;
                }
            }
        }
        false
    }

    proptest! {
        #[test]
        fn the_end_is_found_wherever_the_bytes_are_split(split in 0..REQUEST.len()) {
            let end = REQUEST.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let mut scan = HeaderEnd::default();
            let first = scan.feed(&REQUEST[..split]);
            prop_assert_eq!(first, split >= end);
            if !first {
                prop_assert!(scan.feed(&REQUEST[split..]));
            }
        }

        #[test]
        fn the_fast_scan_ends_where_a_byte_by_byte_scan_does(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'\r', b'\n', b' ']), 0..64),
            split in 0usize..64,
        ) {
            let split = split.min(bytes.len());
            let mut fast = HeaderEnd::default();
            let ended = fast.feed(&bytes[..split]) || fast.feed(&bytes[split..]);
            prop_assert_eq!(ended, ends_byte_by_byte(&bytes));
        }

        #[test]
        fn bytes_without_an_empty_line_never_end_a_block(
            lines in proptest::collection::vec("[ -~]{1,20}", 0..20)
        ) {
            let text: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
            prop_assert!(!HeaderEnd::default().feed(text.as_bytes()));
        }
    }
}

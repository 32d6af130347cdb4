//! Serving accepted connections: hyper's HTTP/1.1 server on each guarded connection,
//! calling the app (poem's route table) for every request, and a serving thread's
//! register of its open connections for graceful shutdown.
//!
//! poem's `Server` did this through hyper-util's HTTP/1-or-2 auto-detection (its read
//! buffer rewound in front of every read), a boxed connection split into halves behind a
//! lock, a boxed future per request, and two cancellation tokens polled at every
//! wake-up; none of it can be switched off there. Telnyx's webhooks are HTTP/1.1, so
//! only that is served. Here a connection checks one flag per wake-up, and registers its
//! waker with the thread's [`Connections`] once (again only if the task's waker changes).

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Waker},
    time::Duration,
};

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use poem::{
    Endpoint, Request,
    http::uri::Scheme,
    web::{LocalAddr, RemoteAddr},
};
use tokio::sync::Notify;

use super::guard::Guarded;

/// The connections one serving thread has open on one socket, and whether they are asked
/// to close.
#[derive(Default)]
pub struct Connections {
    closing: AtomicBool,
    /// Open connections by id, each with the waker of its task (once polled).
    open: Mutex<Register>,
    /// Notified when the last connection closes after [`Connections::close`].
    drained: Notify,
}

#[derive(Default)]
struct Register {
    next: u64,
    wakers: HashMap<u64, Option<Waker>>,
}

impl Connections {
    /// How many are open.
    pub fn len(&self) -> usize {
        self.lock().wakers.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Register> {
        // A panic while the lock is held cannot leave the map half-changed.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn enter(self: &Arc<Self>) -> Entry {
        let mut open = self.lock();
        let id = open.next;
        open.next += 1;
        open.wakers.insert(id, None);
        Entry {
            all: self.clone(),
            id,
            waker: None,
        }
    }

    /// Asks every connection to finish the request it is serving (if any) and close.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let wakers: Vec<Waker> = self.lock().wakers.values().flatten().cloned().collect();
        for waker in wakers {
            waker.wake();
        }
        if self.is_empty() {
            self.drained.notify_one();
        }
    }

    /// Waits until every connection has closed (after [`Connections::close`]) or `grace`
    /// has passed; true if they all closed.
    pub async fn drained(&self, grace: Duration) -> bool {
        tokio::time::timeout(grace, async {
            while !self.is_empty() {
                self.drained.notified().await;
            }
        })
        .await
        .is_ok()
    }
}

#[cfg(test)]
impl Connections {
    /// A place taken as a connection would take it; given back when dropped.
    pub(crate) fn enter_for_test(self: &Arc<Self>) -> impl Drop {
        self.enter()
    }
}

/// One connection's place in its [`Connections`]; removed when the connection ends
/// (panics included).
struct Entry {
    all: Arc<Connections>,
    id: u64,
    /// The waker last registered.
    waker: Option<Waker>,
}

impl Entry {
    /// Registers `waker` unless it is the one registered already.
    fn remember(&mut self, waker: &Waker) {
        if self.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            return;
        }
        self.waker = Some(waker.clone());
        if let Some(slot) = self.all.lock().wakers.get_mut(&self.id) {
            *slot = Some(waker.clone());
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let left = {
            let mut open = self.all.lock();
            open.wakers.remove(&self.id);
            open.wakers.len()
        };
        if left == 0 && self.all.closing.load(Ordering::SeqCst) {
            self.all.drained.notify_one();
        }
    }
}

/// Serves one connection with hyper's HTTP/1.1 server (keep-alive, pipelining), calling
/// `app` for each request, until the client closes it, it fails, or `all` is closed
/// (then the request in flight is answered first).
pub async fn serve<E>(
    io: Guarded,
    local: LocalAddr,
    remote: RemoteAddr,
    scheme: Scheme,
    app: Arc<E>,
    all: Arc<Connections>,
) where
    E: Endpoint + 'static,
{
    let mut entry = all.enter();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let app = app.clone();
        let req = Request::from((req, local.clone(), remote.clone(), scheme.clone()));
        async move {
            let resp = app
                .call(req)
                .await
                .map_or_else(|e| e.into_response(), poem::IntoResponse::into_response);
            Ok::<_, Infallible>(hyper::Response::from(resp))
        }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let mut closing = false;
    let served = std::future::poll_fn(|cx: &mut Context<'_>| {
        if !closing {
            entry.remember(cx.waker());
            if entry.all.closing.load(Ordering::SeqCst) {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
        conn.as_mut().poll(cx)
    })
    .await;
    if let Err(e) = served {
        // Clients that go away mid-request, header deadlines and the like: routine.
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

//! A fake TeXML Calls API on loopback: `POST /texml/Accounts/{sid}/Calls` and the
//! deprecated `POST /texml/calls/{app}` take the next scripted [`Dial`] (accepted when the
//! script is empty) and record the JSON body; `POST /texml/Accounts/{sid}/Calls/{call}`
//! records live-call updates (redirects, hang-ups). It also accepts texts at `/messages`,
//! since slotline sends both through one `TELNYX_API_BASE`. For the concurrency check it
//! counts, at each dial, the calls the test has not yet ended ([`FakeCalls::ended`]).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use poem::{
    EndpointExt, Request, Response, Route, Server, handler,
    http::StatusCode,
    listener::TcpAcceptor,
    post,
    web::{Data, Path},
};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// How the fake answers one dial.
#[derive(Debug, Clone)]
pub enum Dial {
    /// 200 `{"from","to","status":"queued"}` (the spec's `InitiateCallResult`).
    Accept,
    /// 429 / 90103 (dials per second), with `Retry-After: 0`.
    RateLimited,
    /// 404 / 10005 (the account-scoped endpoint refusing an account id).
    NotFound,
}

/// One dial the fake received.
#[derive(Debug, Clone)]
pub struct Dialled {
    /// When it arrived.
    pub at: Instant,
    /// The path it was posted to.
    pub path: String,
    /// The JSON body.
    pub body: Value,
    /// Calls not yet ended by the test when this one arrived (itself included).
    pub live_at_dial: usize,
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Dial>,
    dials: Vec<Dialled>,
    accepted: usize,
    ended: usize,
    updates: Vec<(String, String)>,
}

/// A running fake TeXML Calls API.
pub struct FakeCalls {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    shared: Arc<Mutex<Shared>>,
    stop: Option<oneshot::Sender<()>>,
}

impl FakeCalls {
    /// Starts on a free port, answering `script` in order, then accepting.
    pub async fn start(script: Vec<Dial>) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared {
            script: script.into(),
            ..Shared::default()
        }));
        let app = Route::new()
            .at("/texml/Accounts/:sid/Calls", post(dial))
            .at("/texml/calls/:app", post(dial))
            .at("/texml/Accounts/:sid/Calls/:call", post(update))
            .at("/messages", post(message))
            .data(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
        tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async move {
                        let _ = rx.await;
                    },
                    Some(Duration::from_millis(200)),
                )
                .await;
        });
        Self {
            base: format!("http://127.0.0.1:{port}"),
            shared,
            stop: Some(tx),
        }
    }

    /// Every dial so far.
    pub fn dials(&self) -> Vec<Dialled> {
        self.shared.lock().unwrap().dials.clone()
    }

    /// Every live-call update so far: (path, form body).
    pub fn updates(&self) -> Vec<(String, String)> {
        self.shared.lock().unwrap().updates.clone()
    }

    /// The test ended one accepted call (it is about to send its final status).
    pub fn ended(&self) {
        self.shared.lock().unwrap().ended += 1;
    }

    /// Waits until `n` dials arrived (or panics after ~10 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Dialled> {
        for _ in 0..1000 {
            let dials = self.dials();
            if dials.len() >= n {
                return dials;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {n} dials, got {}", self.dials().len());
    }
}

impl Drop for FakeCalls {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[handler]
async fn dial(req: &Request, body: Vec<u8>, shared: Data<&Arc<Mutex<Shared>>>) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut s = shared.lock().unwrap();
    let reply = s.script.pop_front().unwrap_or(Dial::Accept);
    let live_at_dial = s.accepted + 1 - s.ended.min(s.accepted + 1);
    s.dials.push(Dialled {
        at: Instant::now(),
        path: req.uri().path().to_string(),
        body: body.clone(),
        live_at_dial,
    });
    let (status, answer) = match reply {
        Dial::Accept => {
            s.accepted += 1;
            (
                StatusCode::OK,
                json!({"from": body["From"], "to": body["To"], "status": "queued"}),
            )
        }
        Dial::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"errors": [{"code": "90103", "title": "Dial rate limit exceeded", "detail": "Too many dials per second"}]}),
        ),
        Dial::NotFound => (
            StatusCode::NOT_FOUND,
            json!({"errors": [{"code": "10005", "title": "Resource not found", "detail": "The requested resource or URL could not be found."}]}),
        ),
    };
    Response::builder()
        .status(status)
        .header("retry-after", "0")
        .content_type("application/json")
        .body(answer.to_string())
}

#[handler]
async fn update(
    req: &Request,
    Path((_, _)): Path<(String, String)>,
    body: String,
    shared: Data<&Arc<Mutex<Shared>>>,
) -> Response {
    let mut s = shared.lock().unwrap();
    s.updates.push((req.uri().path().to_string(), body));
    Response::builder()
        .content_type("application/json")
        .body(json!({"sid": "v3:live", "status": "in-progress"}).to_string())
}

#[handler]
async fn message() -> Response {
    Response::builder()
        .content_type("application/json")
        .body(json!({"data": {"id": format!("msg-{}", rand_id())}}).to_string())
}

fn rand_id() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

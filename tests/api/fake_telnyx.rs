//! A fake Telnyx Messaging API inside the test binary: a poem server on 127.0.0.1 (port 0,
//! or a given port to come back "up" where it was "down"), scripted per request. Each
//! `POST /messages` takes the next scripted [`Reply`] (200 when the script is empty) and
//! is recorded with its arrival time, so tests can count sends and measure pacing. Fault
//! modes: a 200 whose connection breaks mid-answer, slow answers, 401s.

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
    web::{Data, Json},
};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::helpers::fixture;

/// How the fake answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with `messages-send-response.json`, a fresh message id and the request's text.
    Ok,
    /// 429 / 10011 with `x-ratelimit-reset: <seconds>`.
    RateLimited(u64),
    /// 500.
    ServerError,
    /// 503: Telnyx says "not now" (nothing taken).
    Unavailable,
    /// 400 / 40300: the recipient opted out.
    OptedOut,
    /// 400 / 40305: bad sender.
    BadSender,
    /// 400 / 40310: bad recipient.
    BadRecipient,
    /// Waits this long before answering 200 (longer than slotline's timeout).
    Hang(Duration),
    /// Takes the text (a fresh message id), answers 200 with the start of the body, then
    /// breaks the connection: the answer is lost after Telnyx accepted.
    OkThenReset,
    /// 401 / 10009: the API key is refused.
    Unauthorized,
    /// Waits until [`FakeMessaging::release`], then answers 200 (a slow Telnyx).
    HangUntilReleased,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// The JSON body.
    pub body: Value,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The message id answered (for `Reply::Ok`).
    pub answered_id: Option<String>,
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Reply>,
    received: Vec<Received>,
    next_id: u64,
    /// While true, every request is answered 401 (a revoked key), script or not.
    refuse_key: bool,
    release: Arc<tokio::sync::Notify>,
}

/// A running fake Messaging API.
pub struct FakeMessaging {
    /// `http://127.0.0.1:PORT` — what `TELNYX_API_BASE` is set to.
    pub base: String,
    /// The bound port.
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl FakeMessaging {
    /// Starts on a free port, answering `script` in order, then 200.
    pub async fn start(script: Vec<Reply>) -> Self {
        Self::start_on(0, script).await
    }

    /// Starts on `port` (0 for any).
    pub async fn start_on(port: u16, script: Vec<Reply>) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the fake Messaging API binds");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared {
            script: script.into(),
            ..Shared::default()
        }));
        let app = Route::new()
            .at("/messages", post(messages))
            .data(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
        let server = tokio::spawn(async move {
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
            port,
            shared,
            stop: Some(tx),
            server: Some(server),
        }
    }

    /// Stops answering (the port is free again afterwards: the API is "down").
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().unwrap().received.clone()
    }

    /// The requests Telnyx "accepted" (answered with a message id).
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.answered_id.is_some())
            .collect()
    }

    /// From now on answers every request 401 (`true`), or goes back to its script.
    pub fn refuse_key(&self, refuse: bool) {
        self.shared.lock().unwrap().refuse_key = refuse;
    }

    /// Lets the [`Reply::HangUntilReleased`] answer (whether it is waiting yet or not).
    pub fn release(&self) {
        self.shared.lock().unwrap().release.notify_one();
    }
}

fn error_body(fixture_name: &str) -> String {
    let mut v: Value = serde_json::from_slice(&fixture(fixture_name)).unwrap();
    v.as_object_mut().unwrap().remove("_note");
    v.to_string()
}

fn json_response(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body)
}

#[handler]
async fn messages(
    req: &Request,
    shared: Data<&Arc<Mutex<Shared>>>,
    Json(body): Json<Value>,
) -> Response {
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (reply, id, release) = {
        let mut s = shared.lock().unwrap();
        let reply = if s.refuse_key {
            Reply::Unauthorized
        } else {
            s.script.pop_front().unwrap_or(Reply::Ok)
        };
        s.next_id += 1;
        let id = format!("40385f64-5717-4562-b3fc-{:012}", s.next_id);
        let answered_id = matches!(
            reply,
            Reply::Ok | Reply::Hang(_) | Reply::OkThenReset | Reply::HangUntilReleased
        )
        .then(|| id.clone());
        s.received.push(Received {
            at: Instant::now(),
            body: body.clone(),
            authorization,
            answered_id,
        });
        (reply, id, s.release.clone())
    };
    match reply {
        Reply::Ok => ok(&body, &id),
        Reply::Hang(d) => {
            tokio::time::sleep(d).await;
            ok(&body, &id)
        }
        Reply::HangUntilReleased => {
            release.notified().await;
            ok(&body, &id)
        }
        Reply::OkThenReset => {
            let whole = ok(&body, &id).into_body().into_bytes().await.unwrap_or_default();
            let half = whole[..whole.len() / 2].to_vec();
            Response::builder()
                .status(StatusCode::OK)
                .content_type("application/json")
                .body(poem::Body::from_async_read(tokio::io::AsyncReadExt::chain(
                    std::io::Cursor::new(half),
                    ConnectionReset,
                )))
        }
        Reply::Unauthorized => json_response(
            StatusCode::UNAUTHORIZED,
            error_body("messages-error-401.json"),
        ),
        Reply::RateLimited(reset) => {
            let mut resp = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                error_body("messages-error-429-rate-limit.json"),
            );
            let h = resp.headers_mut();
            h.insert("x-ratelimit-limit", "10".parse().unwrap());
            h.insert("x-ratelimit-remaining", "0".parse().unwrap());
            h.insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
            resp
        }
        Reply::ServerError => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"errors":[{"code":"10007","title":"Unexpected error","detail":"An unexpected error occurred."}]}"#.into(),
        ),
        Reply::Unavailable => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"errors":[{"code":"10006","title":"Service unavailable","detail":"The service is temporarily unavailable."}]}"#.into(),
        ),
        Reply::OptedOut => json_response(
            StatusCode::BAD_REQUEST,
            error_body("messages-error-40300-stop.json"),
        ),
        Reply::BadSender => json_response(
            StatusCode::BAD_REQUEST,
            error_body("messages-error-40305-invalid-from.json"),
        ),
        Reply::BadRecipient => json_response(
            StatusCode::BAD_REQUEST,
            error_body("messages-error-40310-invalid-to.json"),
        ),
    }
}

/// The fixture's 200 body with this request's id, numbers and text.
fn ok(req: &Value, id: &str) -> Response {
    let mut v: Value = serde_json::from_slice(&fixture("messages-send-response.json")).unwrap();
    v.as_object_mut().unwrap().remove("_note");
    let data = &mut v["data"];
    data["id"] = id.into();
    data["text"] = req["text"].clone();
    data["from"]["phone_number"] = req["from"].clone();
    data["to"][0]["phone_number"] = req["to"].clone();
    json_response(StatusCode::OK, v.to_string())
}

/// A reader that fails as a reset connection does.
struct ConnectionReset;

impl tokio::io::AsyncRead for ConnectionReset {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Err(std::io::ErrorKind::ConnectionReset.into()))
    }
}

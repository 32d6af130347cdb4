//! A tenant's webhook receiver inside the test binary: a poem server on 127.0.0.1 (port 0,
//! or a given port to come back "up" where it was "down") that records every POST with its
//! Standard Webhooks headers and answers with a settable status.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{KeyInit, Mac};
use poem::{
    EndpointExt, Request, Response, Route, Server, handler, http::StatusCode,
    listener::TcpAcceptor, post, web::Data,
};
use serde_json::Value;
use tokio::sync::oneshot;

/// One delivery the receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
    /// The raw body.
    pub body: String,
}

impl Got {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// Whether the signature is `v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under
    /// `secret` (recomputed here from the specification, not with slotline's signer).
    pub fn signed_with(&self, secret: &str) -> bool {
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{}.{}", self.id, self.timestamp, self.body).as_bytes());
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        self.signature.split(' ').any(|s| s == expected)
    }
}

#[derive(Default)]
struct Shared {
    got: Vec<Got>,
    status: Option<u16>,
    delay: Option<Duration>,
    redirect: Option<String>,
}

/// A running receiver.
pub struct Receiver {
    /// The bound port.
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

#[handler]
async fn hook(req: &Request, body: Vec<u8>, shared: Data<&Arc<Mutex<Shared>>>) -> Response {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (status, delay, redirect) = {
        let mut s = shared.lock().unwrap();
        s.got.push(Got {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body: String::from_utf8(body).unwrap(),
        });
        (s.status.unwrap_or(204), s.delay, s.redirect.clone())
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    match redirect {
        Some(to) => Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header("location", to)
            .finish(),
        None => Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .finish(),
    }
}

impl Receiver {
    /// Starts on a free port.
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Starts on `port` (0: any).
    pub async fn start_on(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Route::new().at("/hook", post(hook)).data(shared.clone());
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
            port,
            shared,
            stop: Some(tx),
            server: Some(server),
        }
    }

    /// `http://127.0.0.1:PORT/hook`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Answers `status` from now on (204 by default).
    pub fn answer(&self, status: u16) {
        self.shared.lock().unwrap().status = Some(status);
    }

    /// Waits `delay` before answering, from now on.
    pub fn delay(&self, delay: Duration) {
        self.shared.lock().unwrap().delay = Some(delay);
    }

    /// Answers 307 to `to`, from now on.
    pub fn redirect_to(&self, to: &str) {
        self.shared.lock().unwrap().redirect = Some(to.to_string());
    }

    /// Everything received so far.
    pub fn got(&self) -> Vec<Got> {
        self.shared.lock().unwrap().got.clone()
    }

    /// Waits (up to 10 s) until at least `n` deliveries arrived; all of them.
    pub async fn wait_for(&self, n: usize) -> Vec<Got> {
        for _ in 0..500 {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "only {} of {n} deliveries arrived: {:?}",
            self.got().len(),
            self.got()
        );
    }

    /// Stops listening (the port then refuses connections).
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}
